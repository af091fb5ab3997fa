"""A running hub for tests: a deployment from ``hub init``, on either transport."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from adapters.internal import InternalAdapter
from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Attachment, ContentReference, DocumentCard, Kind
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore
from envelopes.signatures import Signer
from hub.abc import Adapter
from hub.config import HubConfig, load_config
from hub.pipeline.hub import Hub
from hub.queues import INBOUND_QUEUE
from hub.scaffold import init_deployment, shipped
from hub.store import Store
from hub.testing import ScriptedAdapter
from monitoring import instrument

DEPARTMENTS = ["dept.finance", "dept.culture", "dept.land"]
MEMO = shipped("xsd") / "examples" / "memo.xml"
NOTICE = shipped("xsd") / "examples" / "status-notification.xml"


@dataclass
class Deployment:
    directory: Path
    config_path: Path
    config: HubConfig

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    def trust(self) -> TrustStore:
        return TrustStore.from_pem_files([self.pki / "ca.pem"])

    def signer(self, participant: str) -> Signer:
        return Signer.from_files(
            str(self.pki / f"{participant}.key.pem"), str(self.pki / f"{participant}.pem")
        )

    def envelope(
        self,
        sender: str = "dept.finance",
        recipient: str = "dept.culture",
        payload: etree._Element | None = None,
        *,
        kind: Kind = Kind.REQUEST,
        correlation_id: str | None = None,
        message_id: uuid.UUID | None = None,
        sign_as: str | None = None,
        attachments: list[Attachment] | None = None,
        expires_in: float | None = None,
        card: DocumentCard | None = None,
        references: list[ContentReference] | None = None,
    ) -> tuple[str, bytes]:
        """A signed envelope: (message id, bytes); ``references``: attachments by reference."""
        payload = payload if payload is not None else parse_xml(MEMO.read_bytes())
        now = dt.datetime.now(dt.UTC)
        header, root = new_envelope(
            sender,
            recipient,
            payload,
            kind=kind,
            attachments=attachments,
            message_id=message_id,
            created=now,
            correlation_id=uuid.UUID(correlation_id) if correlation_id else None,
            expires_at=now + dt.timedelta(seconds=expires_in) if expires_in is not None else None,
            card=card,
            references=references,
        )
        self.signer(sign_as or sender).sign(root)
        return str(header.message_id), to_bytes(root)


def make_deployment(directory: Path, broker_url: str = "", workers: int = 0) -> Deployment:
    path = init_deployment(
        directory, DEPARTMENTS, broker_url, metrics_address="127.0.0.1:0", api_address="127.0.0.1:0"
    )
    import re

    text = re.sub(r"(?m)^workers = \d+$", f"workers = {workers}", path.read_text())
    path.write_text(text)
    return Deployment(directory, path, load_config(path))


@contextlib.asynccontextmanager
async def running_hub(
    deployment: Deployment, adapters: dict[str, Adapter] | None = None
) -> AsyncIterator[Hub]:
    if adapters is not None:
        adapters = {"internal": InternalAdapter(), **adapters}
        for name, adapter in adapters.items():
            adapter.name = name
    hub = Hub(deployment.config, adapters=adapters)
    instrument(hub)  # as `hub serve` does: metrics hear the hub
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def submit(hub: Hub, body: bytes, submission: str | None = None) -> None:
    headers = {"source": "test"}
    if submission:
        headers["submission-id"] = submission
    await hub.transport.publish(INBOUND_QUEUE, body, headers)


async def wait_for_state(
    store: Store, message_id: str, states: set[str], timeout: float = 20
) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    state = None
    while asyncio.get_running_loop().time() < deadline:
        row = await store.get_message(message_id)
        state = row.state if row else None
        if state in states:
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"{message_id} stayed {state!r}, expected one of {sorted(states)}")


# ------------------------------------------------------------------ a broker vhost per test
def new_vhost() -> str | None:
    """A fresh RabbitMQ vhost (so tests never see each other's queues), if rabbitmqctl works."""
    if shutil.which("rabbitmqctl") is None:
        return None
    name = f"hubtest-{uuid.uuid4().hex[:10]}"
    try:
        subprocess.run(
            ["rabbitmqctl", "add_vhost", name], check=True, capture_output=True, timeout=30
        )
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return name


def drop_vhost(name: str) -> None:
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True, timeout=30)


def new_broker_user(
    name: str, vhost: str, password: str, permissions: tuple[str, str, str]
) -> bool:
    """A broker user with (configure, write, read) permissions on ``vhost``; False if
    rabbitmqctl cannot make it (``drop_broker_user`` removes it)."""
    commands = [
        ["rabbitmqctl", "add_user", name, password],
        ["rabbitmqctl", "set_permissions", "-p", vhost, name, *permissions],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True, timeout=30)
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def drop_broker_user(name: str) -> None:
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(["rabbitmqctl", "delete_user", name], capture_output=True, timeout=30)


FlakyAdapter = ScriptedAdapter  # a destination the test controls (hub.testing)


def route_agencies_to(deployment: Deployment, adapter: str, address: str) -> None:
    """A rule file sending everything for agency.* to ``adapter``:``address``."""
    (deployment.directory / "routing_rules" / "remote.yaml").write_text(
        "rules:\n"
        "  - name: agencies-remote\n"
        "    priority: 10\n"
        "    match:\n"
        '      recipient: "agency.*"\n'
        "    deliver:\n"
        f"      - adapter: {adapter}\n"
        f"        address: {address}\n"
    )


def tune_retries(deployment: Deployment, **values: float) -> None:
    """Short retry and breaker settings for tests (seconds, not minutes)."""
    retry = deployment.config.retry
    retry.base_delay = values.get("base_delay", 0.2)
    retry.max_delay = values.get("max_delay", 1.0)
    retry.max_attempts = int(values.get("max_attempts", 4))
    retry.inline_attempts = int(values.get("inline_attempts", 1))
    deployment.config.breaker.failure_threshold = int(values.get("threshold", 3))
    deployment.config.breaker.probe_interval = values.get("probe_interval", 1.0)


async def document_on_control(
    store: Store,
    deadline: dt.date,
    executor: str = "Иванова А.А.",
    sender: str = "dept.finance",
    recipient: str = "dept.culture",
    executed: dt.datetime | None = None,
) -> str:
    """A delivered document, registered and assigned (and executed at ``executed``), put in
    the store through its notices as the rules see them (no hub needed)."""
    from hub.abc import Stage, State
    from hub.execution.notices import Notice
    from hub.records import Processed

    doc = str(uuid.uuid4())
    request = Processed(
        message_id=doc, state=State.ACCEPTED, envelope=b"<e/>", sender=sender,
        recipient=recipient, kind="request", digest=doc,
    )  # fmt: skip
    await store.record_ingest([request], [None], [None])
    await store.record(doc, State.DELIVERED, "internal")
    at = dt.datetime.now(dt.UTC)
    notices = [
        Notice(doc, Stage.REGISTERED, recipient, at, number=doc[:8],
               date=deadline - dt.timedelta(days=30), journal="incoming"),
        Notice(doc, Stage.EXECUTOR_ASSIGNED, recipient, at, assignment=str(uuid.uuid4()),
               deadline=deadline, executor=executor),
    ]  # fmt: skip
    if executed is not None:
        notices.append(Notice(doc, Stage.EXECUTED, recipient, executed, text="исполнено"))
    for notice in notices:
        processed = Processed(
            message_id=str(uuid.uuid4()), state=State.ACCEPTED, envelope=b"<n/>",
            sender=recipient, recipient=sender, kind="notice", correlation_id=doc,
            digest=str(uuid.uuid4()), notice=notice,
        )  # fmt: skip
        (outcome,) = await store.record_ingest([processed], [None], [None])
        assert outcome.refusal is None, outcome.refusal
    return doc
