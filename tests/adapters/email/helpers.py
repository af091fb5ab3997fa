"""Deployments, envelopes and mails for the email adapter's tests."""

from __future__ import annotations

import datetime as dt
import uuid
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from lxml import etree

from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Attachment, Kind
from envelopes.parsing import parse_xml
from envelopes.pki import new_participant
from envelopes.signatures import Signer
from hub.config import HubConfig, load_config
from hub.scaffold import init_deployment, shipped, write_config

from .conftest import PASSWORD, Dovecot, SmtpServer

HUB_ADDRESS = "hub@city.example"
AGENCY = "agency.fns"
AGENCY_ADDRESS = "fns@agency.example"
DEPARTMENT = "dept.finance"
DOMAIN = "city.example"
RULE = f"""rules:
  - name: agencies-by-email
    priority: 10
    match:
      recipient: "agency.*"
    deliver:
      - adapter: email
        address: "{AGENCY_ADDRESS}"
access:
  rights:
    - name: departments-write-to-agencies
      senders: "dept.*"
      recipients: "agency.*"
"""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def email_settings(
    smtp: SmtpServer | None, dovecot: Dovecot | None, user: str | None, **overrides: Any
) -> dict[str, Any]:
    """Settings for an adapter talking to the test servers (plaintext, fast polling)."""
    settings: dict[str, Any] = {
        "from_address": HUB_ADDRESS,
        "smtp_host": smtp.host if smtp else "127.0.0.1",
        "smtp_port": smtp.port if smtp else 1,
        "smtp_tls": "none",
        "smtp_timeout": 5.0,
        "poll_interval": 0.1,
        "claim_timeout": 30.0,
    }
    if dovecot is not None and user is not None:
        settings |= {
            "imap_host": dovecot.host,
            "imap_port": dovecot.port,
            "imap_tls": "none",
            "imap_user": user,
            "imap_password": PASSWORD,
            "imap_timeout": 5.0,
        }
    settings.update(overrides)
    return settings


def make_deployment(directory: Path, settings: dict[str, Any]) -> HubConfig:
    """A hub deployment with dept.finance, agency.fns (trusted) and the email route."""
    init_deployment(
        directory, [DEPARTMENT], metrics_address="127.0.0.1:0", api_address="127.0.0.1:0"
    )
    new_participant(AGENCY, directory / "pki")
    lines = ["[adapters.email]", 'type = "email"']
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    path = write_config(
        directory,
        [DEPARTMENT],
        metrics_address="127.0.0.1:0",
        api_address="127.0.0.1:0",
        extra="\n".join(lines) + "\n",
    )
    (directory / "routing_rules" / "agencies.yaml").write_text(RULE, encoding="utf-8")
    config = load_config(path)
    config.workers = 0
    config.retry.base_delay = 0.2
    config.retry.jitter = 0
    return config


def signer(pki: Path, participant: str) -> Signer:
    return Signer.from_files(str(pki / f"{participant}.key.pem"), str(pki / f"{participant}.pem"))


def example(name: str) -> etree._Element:
    return parse_xml((shipped("xsd") / "examples" / name).read_bytes())


def envelope(
    pki: Path,
    sender: str,
    recipient: str,
    payload: etree._Element,
    *,
    kind: Kind = Kind.REQUEST,
    correlation_id: str | None = None,
    attachments: list[Attachment] | None = None,
) -> tuple[str, bytes]:
    header, root = new_envelope(
        sender,
        recipient,
        payload,
        kind=kind,
        attachments=attachments,
        correlation_id=uuid.UUID(correlation_id) if correlation_id else None,
    )
    signer(pki, sender).sign(root)
    return str(header.message_id), to_bytes(root)


def notice(answering: str) -> etree._Element:
    """A StatusNotification about hub message ``answering``."""
    root = example("status-notification.xml")
    ns = "{urn:interagency-hub:payload:notification:1.0}"
    node = root.find(f"{ns}DocumentReference/{ns}MessageId")
    assert node is not None
    node.text = answering
    return root


def mail(
    *,
    sender: str = AGENCY_ADDRESS,
    to: str = HUB_ADDRESS,
    subject: str = "Re: document",
    text: str = "Hello.",
    in_reply_to: str | None = None,
    xml: bytes | None = None,
    xml_name: str = "answer.xml",
    files: list[tuple[str, str, bytes]] | None = None,
    headers: dict[str, str] | None = None,
    date: dt.datetime | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date or dt.datetime(2026, 3, 17, 10, 0, tzinfo=dt.UTC))
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.partition('@')[2] or 'x.example'}>"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if xml is not None:
        message.add_attachment(xml, maintype="application", subtype="xml", filename=xml_name)
    for name, media_type, data in files or []:
        maintype, subtype = media_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def delivery_report(original_message_id: str, recipient: str, *, action: str = "failed") -> bytes:
    """A delivery status notification (RFC 3464) as a Postfix would send it."""
    boundary = "dsn-" + uuid.uuid4().hex
    status = "5.1.1" if action == "failed" else "4.4.1"
    diagnostic = (
        "smtp; 550 5.1.1 <fns@agency.example>: Recipient address rejected: User unknown"
        if action == "failed"
        else "smtp; 421 4.4.1 connection timed out"
    )
    text = f"""From: MAILER-DAEMON@mx.city.example (Mail Delivery System)
To: {HUB_ADDRESS}
Subject: Undelivered Mail Returned to Sender
Date: Tue, 17 Mar 2026 10:05:00 +0300
Message-ID: <{uuid.uuid4().hex}@mx.city.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.city.example.
I'm sorry to have to inform you that your message could not be delivered.

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.city.example
Arrival-Date: Tue, 17 Mar 2026 10:04:58 +0300

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: {diagnostic}

--{boundary}
Content-Type: text/rfc822-headers

From: Interagency exchange hub <{HUB_ADDRESS}>
To: {recipient}
Subject: Request Memo from dept.finance
Message-ID: {original_message_id}

--{boundary}--
"""
    return text.replace("\n", "\r\n").encode()
