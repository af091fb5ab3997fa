"""End to end: an embedded hub with the email adapter, aiosmtpd and Dovecot on 127.0.0.1.

department → hub → mail (captured by aiosmtpd) → the agency's answer in the mailbox → hub →
department inbox, correlated; bounces; SMTP failures; a restart between submit and mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from adapters.email import EmailAdapter
from adapters.email.settings import load_settings
from adapters.internal import InternalAdapter
from envelopes.codec import q
from envelopes.model import Kind
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore
from envelopes.signatures import verify_sender
from hub.abc import Adapter
from hub.config import HubConfig
from hub.ops import inbox as ops_inbox
from hub.ops import trace as ops_trace
from hub.pipeline.hub import Hub
from hub.pipeline.receipts import read_receipt
from hub.queues import INBOUND_QUEUE

from .conftest import Dovecot, ImapHelper, Received, SmtpServer, wait_until
from .helpers import (
    AGENCY,
    AGENCY_ADDRESS,
    DEPARTMENT,
    delivery_report,
    email_settings,
    envelope,
    example,
    mail,
    make_deployment,
    notice,
)


@contextlib.asynccontextmanager
async def running(
    config: HubConfig, adapters: dict[str, Adapter] | None = None
) -> AsyncIterator[Hub]:
    hub = Hub(config, adapters=adapters)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def send_memo(hub: Hub, pki: Path) -> str:
    """dept.finance sends a memo to agency.fns (routed to fns@agency.example by mail)."""
    message_id, body = envelope(pki, DEPARTMENT, AGENCY, example("memo.xml"))
    await hub.transport.publish(
        INBOUND_QUEUE, body, {"source": "test", "message-id": message_id, "sender": DEPARTMENT}
    )
    return message_id


async def trace(config: HubConfig, message_id: str) -> dict[str, Any]:
    data = await ops_trace.trace(config, message_id)
    assert data is not None, f"no message {message_id}"
    return data


async def state_is(config: HubConfig, message_id: str, *states: str) -> bool:
    data = await ops_trace.trace(config, message_id)
    return data is not None and data["state"] in states


def events(data: dict[str, Any], state: str) -> list[str]:
    return [e["detail"] for e in data["events"] if e["state"] == state]


async def inbox(config: HubConfig, tmp_path: Path) -> list[ops_inbox.InboxItem]:
    folder = tmp_path / "inbox" / uuid.uuid4().hex
    return await ops_inbox.inbox(config, DEPARTMENT, folder, None, 0.3)


async def mailed(smtp: SmtpServer, message_id: str) -> Received:
    await smtp.recorder.wait(1)
    (got,) = [r for r in smtp.recorder.received if r.message["X-Hub-Message-Id"] == message_id]
    return got


async def test_round_trip_with_a_signed_answer(
    tmp_path: Path, smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper
) -> None:
    config = make_deployment(tmp_path / "hub", email_settings(smtp, dovecot, imap.user))
    pki = tmp_path / "hub" / "pki"
    async with running(config) as hub:
        request_id = await send_memo(hub, pki)
        sent = await mailed(smtp, request_id)
        assert sent.rcpt_tos == [AGENCY_ADDRESS]
        await wait_until(lambda: state_is(config, request_id, "delivered"), what="delivered")
        assert any(
            sent.message["Message-ID"] in d
            for d in events(await trace(config, request_id), "delivered")
        )
        # the agency answers with a signed envelope, replying to the hub's mail
        answer_id, answer = envelope(
            pki,
            AGENCY,
            DEPARTMENT,
            notice(request_id),
            kind=Kind.RESPONSE,
            correlation_id=request_id,
        )
        await imap.append(mail(xml=answer, in_reply_to=sent.message["Message-ID"]))
        await wait_until(lambda: state_is(config, request_id, "answered"), what="answered")
        data = await trace(config, request_id)
        assert data["answers"] == [answer_id]
        taken = await inbox(config, tmp_path)
        answers = [t for t in taken if t.kind == "response"]
        assert [(t.message_id, t.sender) for t in answers] == [(answer_id, AGENCY)]
        assert parse_xml(answers[0].path.read_bytes()).find(q("HubSignature")) is not None
        await imap.wait_count("processed", 1)
        assert await imap.count("INBOX") == 0


async def test_round_trip_with_a_plain_answer(
    tmp_path: Path, smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper
) -> None:
    settings = email_settings(
        smtp,
        dovecot,
        imap.user,
        accept_plain_from={AGENCY: AGENCY_ADDRESS},
        inbound_recipient=DEPARTMENT,
    )
    config = make_deployment(tmp_path / "hub", settings)
    async with running(config) as hub:
        request_id = await send_memo(hub, tmp_path / "hub" / "pki")
        sent = await mailed(smtp, request_id)
        text = sent.message.get_body(("plain",))
        assert text is not None and "plain text" in text.get_content()
        # a clerk just hits "reply" and writes two lines, attaching a scan
        await imap.append(
            mail(
                subject="Re: " + str(sent.message["Subject"]),
                text="Принято к исполнению.\nОтвет направим до 27.03.2026.",
                in_reply_to=sent.message["Message-ID"],
                files=[("scan.pdf", "application/pdf", b"%PDF-1.4 scan")],
            )
        )
        await wait_until(lambda: state_is(config, request_id, "answered"), what="answered")
        (answer_id,) = (await trace(config, request_id))["answers"]
        answer = await trace(config, answer_id)
        assert answer["sender"] == AGENCY and answer["correlation_id"] == request_id
        assert answer["message_type"] == "{urn:interagency-hub:payload:plain-mail:1.0}PlainMail"
        assert events(answer, "accepted") == [
            f"unsigned by {AGENCY}: wrapped and signed by {config.id}"
        ]
        taken = await inbox(config, tmp_path)
        (item,) = [t for t in taken if t.message_id == answer_id]
        document = item.path.read_text(encoding="utf-8")
        assert "Ответ направим до 27.03.2026." in document
        assert 'FileName="scan.pdf"' in document


async def test_a_bounce_marks_the_message_failed_and_tells_the_sender(
    tmp_path: Path, smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper
) -> None:
    config = make_deployment(tmp_path / "hub", email_settings(smtp, dovecot, imap.user))
    async with running(config) as hub:
        request_id = await send_memo(hub, tmp_path / "hub" / "pki")
        sent = await mailed(smtp, request_id)
        await wait_until(lambda: state_is(config, request_id, "delivered"), what="delivered")
        await imap.append(delivery_report(sent.message["Message-ID"], AGENCY_ADDRESS))

        async def failed() -> list[str]:
            return events(await trace(config, request_id), "failed")

        (reason,) = await wait_until(failed, what="the bounce on the timeline")
        assert "User unknown" in reason and "5.1.1" in reason and AGENCY_ADDRESS in reason
        receipts = [t for t in await inbox(config, tmp_path) if t.kind == "receipt"]
        failure = [r for r in receipts if b"<r:State>failed</r:State>" in r.path.read_bytes()]
        assert len(failure) == 1 and b"User unknown" in failure[0].path.read_bytes()
        await imap.wait_count("processed", 1)
        assert smtp.recorder.to("MAILER-DAEMON@mx.city.example") == []  # never answered


async def test_smtp_4xx_is_retried_and_5xx_dead_lettered(tmp_path: Path, smtp: SmtpServer) -> None:
    config = make_deployment(tmp_path / "hub", email_settings(smtp, None, None))
    smtp.recorder.refuse = {AGENCY_ADDRESS: "451 4.3.0 Try again later"}
    async with running(config) as hub:
        pki = tmp_path / "hub" / "pki"
        first = await send_memo(hub, pki)
        await wait_until(
            lambda: state_is(config, first, "retry_scheduled"), what="a scheduled retry"
        )
        smtp.recorder.refuse = {}
        await wait_until(lambda: state_is(config, first, "delivered"), what="delivered")
        data = await trace(config, first)
        assert any("451 4.3.0" in d for d in events(data, "retry_scheduled"))
        smtp.recorder.refuse = {AGENCY_ADDRESS: "550 5.7.1 Relaying denied"}
        second = await send_memo(hub, pki)
        await wait_until(lambda: state_is(config, second, "dead_lettered"), what="dead letter")
        assert any("550 5.7.1" in d for d in events(await trace(config, second), "failed"))


class StopsBeforeMarking(EmailAdapter):
    """Submits, then hangs where it would mark the mail: the process dies right there."""

    async def _finalize(self, uid: int, modseq: int, verdict: Any) -> None:
        self.reached.set()
        await asyncio.Event().wait()

    reached = asyncio.Event()


async def test_a_restart_between_submit_and_mark_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper
) -> None:
    settings = email_settings(
        smtp,
        dovecot,
        imap.user,
        accept_plain_from={AGENCY: AGENCY_ADDRESS},
        inbound_recipient=DEPARTMENT,
        claim_timeout=0.5,
    )
    config = make_deployment(tmp_path / "hub", settings)
    await imap.append(mail(subject="Сведения", text="Направляем сведения."))
    raw = {k: v for k, v in config.adapters["email"].items() if k != "type"}
    stalling = StopsBeforeMarking(load_settings(raw))
    StopsBeforeMarking.reached = asyncio.Event()
    async with running(config, {"internal": InternalAdapter(), "email": stalling}) as hub:
        await asyncio.wait_for(StopsBeforeMarking.reached.wait(), 10)

        async def stored() -> list[str]:
            rows = await hub.store.recent_messages(10)
            return [r.message_id for r in rows if r.sender == AGENCY and r.state == "delivered"]

        (document_id,) = await wait_until(stored, what="the wrapped mail in the inbox")
    assert await imap.count("INBOX") == 1  # claimed, submitted, never marked
    async with running(config):
        await imap.wait_count("processed", 1)
        assert await imap.count("INBOX") == 0

        async def noted() -> list[str]:
            return events(await trace(config, document_id), "note")

        assert "resubmitted: same content, ignored" in await wait_until(noted, what="the note")
    taken = await inbox(config, tmp_path)
    assert [t.message_id for t in taken if t.sender == AGENCY] == [document_id]
    assert smtp.recorder.received == []


async def test_a_document_the_hub_refuses_is_answered_by_mail_with_a_signed_receipt(
    tmp_path: Path, smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper
) -> None:
    config = make_deployment(tmp_path / "hub", email_settings(smtp, dovecot, imap.user))
    pki = tmp_path / "hub" / "pki"
    async with running(config):
        # signed by the agency, but the memo lacks its Subject: the payload schema refuses it
        message_id, body = envelope(pki, AGENCY, DEPARTMENT, example("memo-invalid.xml"))
        incoming = mail(xml=body, subject="Memo without a subject")
        await imap.append(incoming)
        await wait_until(lambda: state_is(config, message_id, "rejected"), what="rejected")
        await wait_until(
            lambda: _refusal_mailed(smtp, message_id), what="the refusal mailed to the agency"
        )
        (answer,) = [
            r for r in smtp.recorder.received if r.message["X-Hub-Refused-Id"] == message_id
        ]
        assert answer.rcpt_tos == [AGENCY_ADDRESS]
        assert answer.message["In-Reply-To"] == incoming["Message-ID"]
        text = answer.message.get_body(("plain",))
        assert text is not None and "payload_invalid" in text.get_content()
        (attachment,) = list(answer.message.iter_attachments())
        receipt = parse_xml(attachment.get_content())
        trust = TrustStore.from_pem_files(config.path(p) for p in config.pki.trust)
        verified = verify_sender(receipt, trust)
        assert verified.signer_id == config.id
        assert verified.envelope.header.recipient == AGENCY
        facts = read_receipt(verified.envelope.payload)
        assert (facts["message_id"], facts["state"]) == (message_id, "rejected")
        note = f"email: the refusal was mailed to {AGENCY_ADDRESS}"

        async def noted() -> bool:  # recorded just after the SMTP transaction ends
            return note in events(await trace(config, message_id), "note")

        await wait_until(noted, what="the note on the timeline")


async def _refusal_mailed(smtp: SmtpServer, message_id: str) -> bool:
    return any(r.message["X-Hub-Refused-Id"] == message_id for r in smtp.recorder.received)
