"""Helpers for the routing tests: rule folders, headers, deployments with signed envelopes."""

from __future__ import annotations

import datetime as dt
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Header, Kind
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.config import HubConfig, load_config
from hub.routing import RuleSet, load_rules, version_summary
from hub.scaffold import init_deployment, shipped
from hub.store import Store

MEMO_NS = "urn:interagency-hub:payload:memo:1.0"
MEMO_TYPE = "{" + MEMO_NS + "}Memo"
NOTICE_TYPE = "{urn:interagency-hub:payload:notification:1.0}StatusNotification"
DEPARTMENTS = ["dept.finance", "dept.culture", "dept.land"]
# one rule file, RULE % name: a rule that delivers to the recipient's inbox
RULE = "rules: [{name: %s, deliver: [{adapter: internal, address: '{recipient}'}]}]\n"


def memo() -> etree._Element:
    return parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes())


def header(
    sender: str = "dept.finance",
    recipient: str = "dept.culture",
    message_type: str = MEMO_TYPE,
    kind: str = "request",
    **extra: Any,
) -> Header:
    values: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "sender": sender,
        "recipient": recipient,
        "message_type": message_type,
        "kind": kind,
        "created": dt.datetime.now(dt.UTC),
    }
    values.update(extra)
    return Header.model_validate(values)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    return folder


def load(folder: Path, **files: str) -> RuleSet:
    """Write the files (name_yaml=... becomes name.yaml) and load the folder."""
    for name, text in files.items():
        write(folder, name.replace("_yaml", ".yaml"), text)
    return load_rules(folder)


async def record_rules_version(store: Store, rules: RuleSet, old: RuleSet | None, at: str) -> None:
    """Record a version as the hub does: at start (old None) or by a reload."""
    summary = version_summary(rules, old)
    await store.record_rules_version(rules.version, summary, at_start=old is None, at=at)


@dataclass
class Deployment:
    directory: Path
    config_path: Path
    config: HubConfig

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    @property
    def rules(self) -> Path:
        return self.config.path(self.config.paths.routing_rules)

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
        sign_as: str | None = None,
    ) -> tuple[str, bytes]:
        payload = payload if payload is not None else memo()
        head, root = new_envelope(sender, recipient, payload, kind=kind)
        self.signer(sign_as or sender).sign(root)
        return str(head.message_id), to_bytes(root)


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    path = init_deployment(
        tmp_path / "hub", DEPARTMENTS, metrics_address="127.0.0.1:0", api_address="127.0.0.1:0"
    )
    config = load_config(path)
    config.workers = 0
    return Deployment(tmp_path / "hub", path, config)
