"""Inbound: mail in a real Dovecot mailbox, polled by the adapter (no hub: a recording context)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from adapters.email import EmailAdapter, create
from adapters.email.compose import mail_message_id
from adapters.email.imap import CLAIMED
from adapters.email.inbound import parse_bounce, parse_mail, plain_envelope
from envelopes.pki import new_participant
from hub.abc import State
from hub.testing import FakeAdapterContext

from .conftest import Dovecot, ImapHelper, SmtpServer, TlsFiles
from .helpers import (
    AGENCY,
    AGENCY_ADDRESS,
    DEPARTMENT,
    DOMAIN,
    delivery_report,
    email_settings,
    envelope,
    mail,
    notice,
    signer,
)

ORIGINAL = "3f6c2a9e-8d41-4b7e-9c15-2e7a0d4b61f8"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("email-pki")
    for participant in (AGENCY, "hub.main"):
        new_participant(participant, folder)
    return folder


def adapter_for(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper, **overrides: object
) -> EmailAdapter:
    return create(email_settings(smtp, dovecot, imap.user, **overrides))


async def poll(adapter: EmailAdapter, context: FakeAdapterContext) -> int:
    adapter._context = context  # started without the polling task: the test drives it
    try:
        return await adapter.poll_once()
    finally:
        await adapter.aclose()


async def test_a_mail_with_an_envelope_is_submitted_once_and_moved(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper, keys: Path
) -> None:
    reply_id, body = envelope(keys, AGENCY, DEPARTMENT, notice(ORIGINAL))
    await imap.append(mail(xml=body, in_reply_to=mail_message_id(ORIGINAL, DOMAIN)))
    context = FakeAdapterContext()
    assert await poll(adapter_for(smtp, dovecot, imap), context) == 1
    (submitted,) = context.submitted
    assert submitted.body == body and submitted.source == "email"
    assert submitted.headers["message-id"] == reply_id
    assert submitted.headers["sender"] == AGENCY
    # no CorrelationId in the envelope: In-Reply-To names the original, as a hint and a note
    assert submitted.headers["correlation-hint"] == ORIGINAL
    assert [(e[0], e[1]) for e in context.events] == [(ORIGINAL, "note")]
    assert await imap.count("INBOX") == 0
    (moved,) = await imap.messages("processed")
    assert moved["Message-ID"]
    assert await poll(adapter_for(smtp, dovecot, imap), context) == 0
    assert len(context.submitted) == 1
    assert smtp.recorder.received == []


async def test_garbage_is_set_aside_and_explained_once(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper
) -> None:
    await imap.append(mail(sender="citizen@example.org", subject="Help", text="Where is it?"))
    await imap.append(
        mail(sender="clerk@example.org", subject="XML", xml=b"<order><n>1</n></order>")
    )
    await imap.append(
        mail(
            sender="robot@example.org",
            subject="Out of office",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    context = FakeAdapterContext()
    adapter = adapter_for(smtp, dovecot, imap, rejects_folder="Hub rejects")
    assert await poll(adapter, context) == 3
    assert context.submitted == []
    await imap.wait_count("Hub rejects", 3)
    assert await imap.count("INBOX") == 0
    answers = {r.rcpt_tos[0]: r.message for r in smtp.recorder.received}
    assert set(answers) == {"citizen@example.org", "clerk@example.org"}  # never a robot
    help_answer = answers["citizen@example.org"]
    assert help_answer["Subject"] == "Not accepted: Help"
    assert help_answer["Auto-Submitted"] == "auto-replied"
    assert help_answer["In-Reply-To"]
    text = help_answer.get_content()
    assert "no hub envelope" in text and "urn:interagency-hub:envelope:1.0" in text
    assert (
        "not a hub envelope: its root element is 'order'"
        in answers["clerk@example.org"].get_content()
    )


async def test_two_pollers_handle_every_mail_exactly_once(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper, keys: Path
) -> None:
    bodies = {}
    for _ in range(12):
        message_id, body = envelope(keys, AGENCY, DEPARTMENT, notice(ORIGINAL))
        bodies[message_id] = body
        await imap.append(mail(xml=body))
    context = FakeAdapterContext()
    first, second = adapter_for(smtp, dovecot, imap), adapter_for(smtp, dovecot, imap)
    first._context = second._context = context

    async def drain(adapter: EmailAdapter) -> int:
        handled = 0
        for _ in range(40):
            handled += await adapter.poll_once()
            if await imap.count("INBOX") == 0:
                break
        return handled

    try:
        counts = await asyncio.gather(drain(first), drain(second))
    finally:
        await first.aclose()
        await second.aclose()
    assert sum(counts) == 12
    ids = [m.headers["message-id"] for m in context.submitted]
    assert sorted(ids) == sorted(bodies)  # each once: claims are conditional stores
    assert await imap.count("processed") == 12  # and no MOVE made a second copy
    assert await imap.count("INBOX") == 0


async def test_a_claim_left_by_a_dead_poller_is_taken_over(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper, keys: Path
) -> None:
    _, body = envelope(keys, AGENCY, DEPARTMENT, notice(ORIGINAL))
    await imap.append(mail(xml=body))
    context = FakeAdapterContext()

    class Dies(EmailAdapter):
        async def _finalize(self, uid: int, modseq: int, verdict: object) -> None:
            raise asyncio.CancelledError  # the process ends between submit and mark

    dying = Dies(adapter_for(smtp, dovecot, imap).settings)
    dying._context = context
    with pytest.raises(asyncio.CancelledError):
        await dying.poll_once()
    await dying.aclose()
    assert len(context.submitted) == 1
    (left,) = await imap.messages("INBOX")
    heir = adapter_for(smtp, dovecot, imap, claim_timeout=0.3)
    heir._context = context
    try:
        assert await heir.poll_once() == 0  # claimed by someone: wait for claim_timeout
        await asyncio.sleep(0.4)
        assert await heir.poll_once() == 1
    finally:
        await heir.aclose()
    assert [m.body for m in context.submitted] == [body, body]  # the pipeline dedupes it
    assert await imap.count("processed") == 1 and await imap.count("INBOX") == 0
    assert left["Message-ID"]


async def test_a_failed_submit_leaves_the_mail_for_the_next_poll(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper, keys: Path
) -> None:
    _, body = envelope(keys, AGENCY, DEPARTMENT, notice(ORIGINAL))
    await imap.append(mail(xml=body))
    context = FakeAdapterContext(fail_submits=1)
    adapter = adapter_for(smtp, dovecot, imap)
    adapter._context = context
    try:
        with pytest.raises(Exception, match="did not take"):
            await adapter.poll_once()
        assert await imap.count("INBOX") == 1
        assert await adapter.poll_once() == 1  # claim was given back: no waiting
    finally:
        await adapter.aclose()
    assert len(context.submitted) == 1 and await imap.count("processed") == 1


async def test_plain_mail_from_a_registered_agency_is_wrapped(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper, keys: Path
) -> None:
    await imap.append(
        mail(
            text="Получено, исполним до 27.03.",
            in_reply_to=mail_message_id(ORIGINAL, DOMAIN),
            files=[("table.csv", "text/csv", b"a;b\n1;2\n")],
        )
    )
    context = FakeAdapterContext(signer(keys, "hub.main"))
    adapter = adapter_for(
        smtp,
        dovecot,
        imap,
        accept_plain_from={AGENCY: [AGENCY_ADDRESS, "other@agency.example"]},
        inbound_recipient=DEPARTMENT,
    )
    assert await poll(adapter, context) == 1
    (submitted,) = context.submitted
    text = submitted.body.decode()
    assert "Получено, исполним до 27.03." in text
    assert f"<hub:CorrelationId>{ORIGINAL}</hub:CorrelationId>" in text
    assert "<hub:Sender>agency.fns</hub:Sender>" in text
    assert 'FileName="table.csv"' in text and 'FileName="original.eml"' in text
    assert "SenderSignature" in text


async def test_imap_over_starttls_and_tls(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper, tls_files: TlsFiles, keys: Path
) -> None:
    _, body = envelope(keys, AGENCY, DEPARTMENT, notice(ORIGINAL))
    for _ in range(2):
        await imap.append(mail(xml=body))
    context = FakeAdapterContext()
    secure = {"imap_ca_file": str(tls_files.cert), "poll_batch": 1}
    starttls = adapter_for(smtp, dovecot, imap, imap_tls="starttls", **secure)
    assert await poll(starttls, context) == 1
    implicit = adapter_for(
        smtp, dovecot, imap, imap_tls="tls", imap_port=dovecot.tls_port, **secure
    )
    assert await poll(implicit, context) == 1
    assert len(context.submitted) == 2
    untrusted = adapter_for(smtp, dovecot, imap, imap_tls="tls", imap_port=dovecot.tls_port)
    untrusted._context = context
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.poll_once()
    await untrusted.aclose()


def test_bounces_are_recognised() -> None:
    ours = mail_message_id(ORIGINAL, DOMAIN)
    raw = delivery_report(ours, AGENCY_ADDRESS)
    bounce = parse_bounce(parse_mail(raw), raw, DOMAIN)
    assert bounce is not None and bounce.failed and bounce.hub_ids == [ORIGINAL]
    assert bounce.status == "5.1.1" and bounce.recipient == AGENCY_ADDRESS
    assert "User unknown" in bounce.reason and "mx.city.example" in bounce.reason
    delayed = delivery_report(ours, AGENCY_ADDRESS, action="delayed")
    later = parse_bounce(parse_mail(delayed), delayed, DOMAIN)
    assert later is not None and not later.failed
    elsewhere = mail_message_id(ORIGINAL, "elsewhere.example")
    foreign = delivery_report(elsewhere, AGENCY_ADDRESS)
    other = parse_bounce(parse_mail(foreign), foreign, DOMAIN)  # the adapter looks it up
    assert other is not None and other.hub_ids == [] and other.original_id == elsewhere
    plain = mail(sender="citizen@example.org").as_bytes()
    assert parse_bounce(parse_mail(plain), plain, DOMAIN) is None


def test_the_same_plain_mail_always_makes_the_same_envelope() -> None:
    raw = mail(text="Текст", in_reply_to=mail_message_id(ORIGINAL, DOMAIN)).as_bytes()
    made = [
        plain_envelope(
            parse_mail(raw),
            raw,
            agency=AGENCY,
            recipient=DEPARTMENT,
            answers=ORIGINAL,
            received=dt.datetime.now(dt.UTC),
            attach_original=True,
        )
        for _ in range(2)
    ]
    assert made[0] == made[1]
    assert CLAIMED.startswith("$")
    assert State.NOTE == "note"
