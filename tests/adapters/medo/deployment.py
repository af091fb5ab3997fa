"""A hub deployment with the MEDO adapter (for the end-to-end and crash tests)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Attachment, DocumentCard, DocumentKind, Kind, Person
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.config import HubConfig, load_config
from hub.scaffold import init_deployment, shipped, write_config

from .conftest import CHANCELLERY, HUB_UID, PEER, PEER_UID, MedoPki

DEPARTMENTS = ["dept.finance", CHANCELLERY]

RULES = f"""\
rules:
  - name: federal-bodies-over-medo
    priority: 100
    match:
      recipient: "{PEER}"
    deliver:
      - adapter: medo
        address: "{PEER_UID}"
"""

PARTICIPANTS = f"""\
participants:
  {PEER}:
    name: Министерство финансов (тест)
    kind: agency
    medo_uid: "{PEER_UID}"
groups:
  departments:
    members: ["dept.*"]
  agencies:
    members: ["agency.*"]
"""


def medo_section(pki: MedoPki, extra: str = "") -> str:
    return f"""
[adapters.medo]
type = "medo"
uid = "{HUB_UID}"
incoming = "medo/in"
outgoing = "medo/out"
quarantine = "medo/quarantine"
inbound_recipient = "{CHANCELLERY}"
key = "{pki.hub_key}"
cert = "{pki.hub_cert}"
trust = ["{pki.ca}"]
poll_interval = 0.05
settle_seconds = 0
{extra}
"""


def make_medo_deployment(directory: Path, pki: MedoPki, broker_url: str = "") -> Path:
    """hub.toml of a deployment whose agency.minfin is reached by MEDO; returns its path."""
    init_deployment(
        directory, DEPARTMENTS, broker_url, metrics_address="127.0.0.1:0", api_address="127.0.0.1:0"
    )
    path = write_config(
        directory,
        DEPARTMENTS,
        broker_url,
        metrics_address="127.0.0.1:0",
        api_address="127.0.0.1:0",
        extra=medo_section(pki),
    )
    text = path.read_text("utf-8")
    import re

    path.write_text(re.sub(r"(?m)^workers = \d+$", "workers = 0", text), "utf-8")
    (directory / "routing_rules" / "participants.yaml").write_text(PARTICIPANTS, "utf-8")
    (directory / "routing_rules" / "medo.yaml").write_text(RULES, "utf-8")
    return path


def config_of(path: Path) -> HubConfig:
    config = load_config(path)
    config.workers = 0
    config.retry.base_delay = 0.2
    config.retry.jitter = 0
    return config


def letter(directory: Path, number: str = "01-12/345") -> tuple[str, bytes]:
    """dept.finance's signed letter to the ministry, with its card and a PDF."""
    memo = parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes())
    card = DocumentCard(
        kind=DocumentKind.LETTER,
        title="О направлении сведений о бюджете",
        number=number,
        date=dt.date(2026, 12, 6),
        signatory=Person(name="Иванов Иван Иванович", post="Глава администрации"),
        addressees=["Министерство финансов"],
        pages=1,
    )
    pdf = Attachment.from_bytes("a1", "Письмо в министерство.pdf", "application/pdf", b"%PDF-1.4\n")
    header, root = new_envelope(
        "dept.finance",
        PEER,
        memo,
        kind=Kind.REQUEST,
        attachments=[pdf],
        message_id=uuid.uuid4(),
        created=dt.datetime.now(dt.UTC),
        card=card,
    )
    pki = directory / "pki"
    Signer.from_files(str(pki / "dept.finance.key.pem"), str(pki / "dept.finance.pem")).sign(root)
    return str(header.message_id), to_bytes(root)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
