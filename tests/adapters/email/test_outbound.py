"""Outbound: an envelope becomes a mail; SMTP replies become outcomes (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from adapters.email import EmailAdapter, create
from adapters.email.settings import load_settings
from envelopes.codec import build_envelope, clark_name, to_bytes
from envelopes.model import Attachment, Header, Kind
from envelopes.pki import new_participant
from hub.abc import Destination, OutboundMessage, OutcomeKind
from hub.errors import AdapterConfigError
from hub.plugins import create_adapter
from hub.testing import FakeAdapterContext

from .conftest import SmtpServer, TlsFiles, free_port
from .helpers import AGENCY_ADDRESS, DEPARTMENT, email_settings, example, signer


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("email-pki")
    new_participant(DEPARTMENT, folder)
    return folder


def outbound(keys: Path, address: str = AGENCY_ADDRESS) -> OutboundMessage:
    """A signed memo with two attachments, as the hub hands it to the adapter."""
    message_id = str(uuid.uuid4())
    payload = example("memo.xml")
    attachments = [
        Attachment.from_bytes("att-1", "debts.xlsx", "application/vnd.ms-excel", b"PK" * 300),
        Attachment.from_bytes("att-2", "../../etc/scan.pdf", "application/pdf", b"%PDF-1.4"),
    ]
    header = Header(
        message_id=uuid.UUID(message_id),
        sender=DEPARTMENT,
        recipient="agency.fns",
        message_type=clark_name(payload),
        kind=Kind.REQUEST,
        created=dt.datetime.now(dt.UTC),
    )
    root = build_envelope(header, payload, attachments)
    signer(keys, DEPARTMENT).sign(root)
    return OutboundMessage(
        message_id=message_id,
        sender=DEPARTMENT,
        recipient="agency.fns",
        message_type=clark_name(payload),
        kind="request",
        correlation_id=None,
        body=to_bytes(root),
        destination=Destination("email", address),
    )


async def started(settings: dict[str, object]) -> EmailAdapter:
    adapter = create(settings)
    await adapter.start(FakeAdapterContext())
    return adapter


async def test_an_envelope_becomes_a_mail_with_its_attachments(
    smtp: SmtpServer, keys: Path
) -> None:
    adapter = await started(email_settings(smtp, None, None))
    message = outbound(keys)
    outcome = await adapter.deliver(message)
    assert outcome.kind == OutcomeKind.DELIVERED, outcome
    assert outcome.reference == f"<hub-{message.message_id}@city.example>"
    (got,) = await smtp.recorder.wait(1)
    mail = got.message
    assert got.rcpt_tos == [AGENCY_ADDRESS]
    assert got.mail_from == "hub@city.example"
    assert mail["Message-ID"] == outcome.reference
    assert mail["X-Hub-Message-Id"] == message.message_id
    assert mail["X-Hub-Sender"] == DEPARTMENT
    assert message.message_id in mail["Subject"]
    assert "О задолженности по арендной плате" in mail["Subject"]
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "dept.finance" in text and "CorrelationId" in text and message.message_id in text
    files = {part.get_filename(): part for part in mail.iter_attachments()}
    assert list(files) == [f"{message.message_id}.xml", "debts.xlsx", "scan.pdf"]
    xml = files[f"{message.message_id}.xml"]
    assert xml.get_content_type() == "application/xml"
    assert xml.get_payload(decode=True) == message.body
    assert files["debts.xlsx"].get_payload(decode=True) == b"PK" * 300
    assert files["scan.pdf"].get_content_type() == "application/pdf"
    await adapter.aclose()


async def test_smtp_replies_are_classified(smtp: SmtpServer, keys: Path) -> None:
    smtp.recorder.refuse = {
        "full@agency.example": "452 4.2.2 Mailbox full",
        "nobody@agency.example": "550 5.1.1 No such user",
    }
    adapter = await started(email_settings(smtp, None, None))
    full = await adapter.deliver(outbound(keys, "full@agency.example"))
    assert full.kind == OutcomeKind.TRANSIENT and "452" in full.detail
    unknown = await adapter.deliver(outbound(keys, "nobody@agency.example"))
    assert unknown.kind == OutcomeKind.PERMANENT and "550 5.1.1" in unknown.detail
    not_an_address = await adapter.deliver(outbound(keys, "not an address"))
    assert not_an_address.kind == OutcomeKind.PERMANENT
    closed = await started(email_settings(None, None, None, smtp_port=free_port()))
    refused = await closed.deliver(outbound(keys))
    assert refused.kind == OutcomeKind.TRANSIENT, refused
    assert not await closed.ping()
    assert smtp.recorder.received == []


async def test_starttls_and_authentication(
    smtp_starttls: SmtpServer, tls_files: TlsFiles, keys: Path
) -> None:
    secure = email_settings(
        smtp_starttls,
        None,
        None,
        smtp_tls="starttls",
        smtp_ca_file=str(tls_files.cert),
        smtp_user="hub",
        smtp_password="hub-password",
    )
    adapter = await started(secure)
    outcome = await adapter.deliver(outbound(keys))
    assert outcome.kind == OutcomeKind.DELIVERED, outcome
    assert len(await smtp_starttls.recorder.wait(1)) == 1
    # wrong credentials are our configuration's fault: retried, never dead-lettered
    wrong = await started(secure | {"smtp_password": "guess"})
    failed = await wrong.deliver(outbound(keys))
    assert failed.kind == OutcomeKind.TRANSIENT and "authentication" in failed.detail
    # a certificate nobody vouches for is refused (verification cannot be switched off)
    untrusted = await started(secure | {"smtp_ca_file": ""})
    assert (await untrusted.deliver(outbound(keys))).kind == OutcomeKind.TRANSIENT


def test_configuration_errors_name_the_key() -> None:
    with pytest.raises(AdapterConfigError, match="from_address"):
        create_adapter("email", {"type": "email", "from_address": "Hub <hub@x>"})
    with pytest.raises(AdapterConfigError, match="imap_user"):
        create_adapter("email", {"type": "email", "from_address": "a@x", "imap_host": "h"})
    with pytest.raises(AdapterConfigError, match="accept_plain_from"):
        create_adapter(
            "email", {"type": "email", "from_address": "a@x", "accept_plain_from": {"FNS": "a@b"}}
        )
    with pytest.raises(AdapterConfigError, match="smtp_tlz"):
        create_adapter("email", {"type": "email", "from_address": "a@x", "smtp_tlz": "none"})
    with pytest.raises(AdapterConfigError, match="rejects_folder"):
        create_adapter(
            "email", {"type": "email", "from_address": "a@x", "rejects_folder": "Отказы"}
        )
    settings = load_settings({"from_address": "hub@City.Example", "smtp_tls": "tls"})
    assert settings.port("smtp") == 465 and settings.port("imap") == 993
    assert settings.domain == "city.example"
    adapter = create_adapter("mail2", {"type": "email", "from_address": "a@x"})
    assert adapter.name == "mail2" and not adapter.inline


def _by_reference(keys: Path, content: bytes) -> OutboundMessage:
    """A signed memo whose one attachment is by reference (a blob of the hub's)."""
    import hashlib

    from envelopes.model import AttachmentRef, ContentReference

    message = outbound(keys)
    payload = example("memo.xml")
    ref = AttachmentRef(
        id="att-1", file_name="plan.pdf", media_type="application/pdf", size=len(content),
        sha256=hashlib.sha256(content).digest(),
    )  # fmt: skip
    header = Header(
        message_id=uuid.UUID(message.message_id), sender=DEPARTMENT, recipient="agency.fns",
        message_type=clark_name(payload), kind=Kind.REQUEST, created=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    root = build_envelope(header, payload, references=[ContentReference.for_ref(ref)])
    signer(keys, DEPARTMENT).sign(root)
    return OutboundMessage(
        message_id=message.message_id, sender=DEPARTMENT, recipient="agency.fns",
        message_type=clark_name(payload), kind="request", correlation_id=None,
        body=to_bytes(root), destination=Destination("email", AGENCY_ADDRESS),
    )  # fmt: skip


async def test_attachments_by_reference_become_mime_parts(smtp: SmtpServer, keys: Path) -> None:
    import hashlib

    content = bytes(range(256)) * 4000  # ~1 MB
    context = FakeAdapterContext()
    context.blobs[hashlib.sha256(content).hexdigest()] = content
    adapter = create(email_settings(smtp, None, None))
    await adapter.start(context)
    outcome = await adapter.deliver(_by_reference(keys, content))
    assert outcome.kind == OutcomeKind.DELIVERED, outcome
    (got,) = await smtp.recorder.wait(1)
    files = {part.get_filename(): part for part in got.message.iter_attachments()}
    assert files["plan.pdf"].get_payload(decode=True) == content
    await adapter.aclose()


async def test_a_mail_over_the_attachment_limit_is_refused_clearly(
    smtp: SmtpServer, keys: Path
) -> None:
    import hashlib

    content = b"x" * 5000
    context = FakeAdapterContext()
    context.blobs[hashlib.sha256(content).hexdigest()] = content
    adapter = create({**email_settings(smtp, None, None), "max_attachments_bytes": 4096})
    await adapter.start(context)
    outcome = await adapter.deliver(_by_reference(keys, content))
    assert outcome.kind == OutcomeKind.PERMANENT, outcome
    assert "5000 bytes in all" in outcome.detail and "max_attachments_bytes" in outcome.detail
    assert smtp.recorder.received == []
    await adapter.aclose()
