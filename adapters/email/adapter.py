"""The email adapter: envelopes out by SMTP, envelopes (and bounces, plain mail) in by IMAP.

Outbound, one delivery is one SMTP transaction: 4xx replies and connection trouble are
transient (the hub retries with backoff), 5xx replies permanent (dead letter, failure receipt).
A bounce that arrives later in the mailbox marks the message failed.

Inbound, every mail in the polled mailbox is handled exactly once, also across restarts and with
several hub processes polling: claim it (a conditional flag change, see ``imap.py``), fetch it,
act (``context.submit`` is durable), mark it handled (conditionally again), move it to the
processed or rejects folder. A crash before the mark leaves the claim; after ``claim_timeout``
another poll takes the mail over and does it again, which the pipeline absorbs (same
MessageId and content: a duplicate). docs/email.md and docs/decisions/0010-email-adapter.md
tell the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from pydantic import ValidationError

from adapters.email.compose import (
    ComposeError,
    document_mail,
    explanation_mail,
    references_of,
    refusal_mail,
    reply_address,
)
from adapters.email.imap import CLAIMED, DONE, IMAP_TROUBLE, REJECTED, Mailbox, MailInfo
from adapters.email.inbound import (
    Bounce,
    answered_id,
    envelope_facts,
    find_envelopes,
    header,
    is_automatic,
    parse_bounce,
    parse_headers,
    plain_envelope,
    read_mail,
    referenced_ids,
    sender_address,
)
from adapters.email.settings import EmailSettings, load_settings
from envelopes.errors import EnvelopeError
from envelopes.parsing import ParseLimits
from hub.abc import (
    Adapter,
    AdapterContext,
    InboundMessage,
    OutboundMessage,
    Outcome,
    State,
)

log = logging.getLogger("hub.email")

SOURCE = "email"
MAX_ATTEMPTS_PER_MAIL = 5  # a mail that keeps failing is set aside in the rejects folder


class HubUnavailable(Exception):
    """The hub could not take a mail's envelope (its transport is down): try again later."""


class SmtpFailure(Exception):
    """An SMTP transaction failed; ``transient`` says whether trying again may help."""

    def __init__(self, detail: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(detail)
        self.transient = transient
        self.code = code


@dataclass
class Verdict:
    """What became of one mail: where it goes, and what the timeline should say about it."""

    keyword: str  # DONE or REJECTED
    summary: str
    submitted: list[str] = field(default_factory=list)


_NOT_THE_MAILS_FAULT: tuple[type[BaseException], ...] = (
    *IMAP_TROUBLE,
    HubUnavailable,
    SmtpFailure,
)


def classify_code(code: int) -> bool:
    """Whether an SMTP reply code is worth another try (4xx) or final (5xx)."""
    return not 500 <= code < 600


class EmailAdapter(Adapter):
    name = "email"
    inline = False

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._context: AdapterContext | None = None
        self._mailbox = Mailbox(settings)
        self._poller: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._claims_seen: dict[tuple[int, int, int], float] = {}
        self._failures: dict[tuple[int, int], int] = {}
        self._marked: dict[tuple[int, int], int] = {}  # handled by us, not yet moved: modseq
        self._plain = settings.plain_senders()
        self._own = {
            a.lower()
            for a in (settings.from_address, settings.reply_address, settings.envelope_sender)
        }
        self._limits = ParseLimits()
        self._smtp_ok = True
        self._imap_ok = True

    # ------------------------------------------------------------------------ lifecycle
    async def start(self, context: AdapterContext) -> None:
        self._context = context
        if self.settings.imap_host:
            self._poller = asyncio.create_task(self._poll_loop(), name=f"email-poll-{self.name}")

    async def aclose(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await poller
        await self._mailbox.close()

    async def ping(self) -> bool:
        return self._smtp_ok and (self._imap_ok or not self.settings.imap_host)

    @property
    def context(self) -> AdapterContext:
        if self._context is None:
            raise RuntimeError("email adapter is not started")
        return self._context

    # ------------------------------------------------------------------------- outbound
    async def deliver(self, message: OutboundMessage) -> Outcome:
        if self._context is None:
            return Outcome.transient("email adapter is not started")
        address = message.destination.address
        try:
            thread = await self._thread_of(message.correlation_id)
        except Exception as exc:  # the store is the hub's: try again later
            return Outcome.transient(f"email:{address}: cannot look up the thread: {exc!r}")
        try:
            fetched = await self._fetch_references(message.body)
            mail = document_mail(
                message,
                self.settings,
                self._context.hub_id,
                plain_replies=address.lower() in self._plain,
                in_reply_to=thread,
                fetched=fetched,
            )
        except ComposeError as exc:
            return Outcome.permanent(f"email:{address}: {exc}")
        except (OSError, NotImplementedError) as exc:  # the blob store: try again later
            return Outcome.transient(f"email:{address}: attachment by reference: {exc!r}")
        reference = str(mail["Message-ID"])
        try:
            reply = await self.send(mail, [str(mail["To"])])
        except SmtpFailure as exc:
            if exc.transient:
                return Outcome.transient(f"email:{address}: {exc}")
            return Outcome.permanent(f"email:{address}: {exc}")
        try:
            await self._context.remember(reference, message.message_id, f"out {address}")
        except Exception:  # the mail is out: a lost lookup entry must not send it again
            log.warning("email %s: could not remember %s", self.name, reference, exc_info=True)
        return Outcome.delivered(f"accepted by {self.settings.smtp_host}: {reply}", reference)

    async def _fetch_references(self, body: bytes) -> dict[str, bytes]:
        """The content of the envelope's attachments by reference, from the hub's blobs —
        only when the mail may carry them all (``max_attachments_bytes``: else composing
        refuses it, and nothing is read)."""
        references = references_of(body)
        total = sum(r.ref.size for r in references)
        if not references or total > self.settings.max_attachments_bytes:
            return {}
        assert self._context is not None
        fetched = {}
        for reference in references:
            chunks = [c async for c in self._context.read_blob(reference.digest_hex)]
            fetched[reference.ref.id] = b"".join(chunks)
        return fetched

    async def _thread_of(self, correlation_id: str | None) -> str | None:
        """The Message-ID of the mail that brought (or carried) the message answered here."""
        if not correlation_id or self._context is None:
            return None
        known = await self._context.recall_by_message(correlation_id)
        return known[-1][0] if known else None

    async def send(self, mail: EmailMessage, recipients: list[str]) -> str:
        """One SMTP transaction; raises SmtpFailure classified as transient or permanent."""
        s = self.settings
        user = s.smtp_user or None
        try:
            _, reply = await aiosmtplib.send(
                mail,
                sender=s.envelope_sender,
                recipients=recipients,
                hostname=s.smtp_host,
                port=s.port("smtp"),
                username=user,
                password=s.password("smtp") if user else None,
                use_tls=s.smtp_tls == "tls",
                start_tls=s.smtp_tls == "starttls",
                tls_context=s.tls_context("smtp") if s.smtp_tls != "none" else None,
                timeout=s.smtp_timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused is not None else 550
            text = refused.message if refused is not None else str(exc)
            self._smtp_ok = True
            raise SmtpFailure(
                f"recipient refused: {code} {text}", transient=classify_code(code), code=code
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            # our credentials are wrong: an operator fixes them, the queue waits (no dead letter)
            self._smtp_ok = False
            raise SmtpFailure(
                f"SMTP authentication failed ({exc.code} {exc.message}): check smtp_user and "
                "smtp_password",
                transient=True,
                code=exc.code,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            self._smtp_ok = True  # the relay answers; it just says no (for now)
            raise SmtpFailure(
                f"{exc.code} {exc.message}", transient=classify_code(exc.code), code=exc.code
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self._smtp_ok = False
            raise SmtpFailure(
                f"{s.smtp_host}:{s.port('smtp')}: {type(exc).__name__}: {exc}", transient=True
            ) from None
        self._smtp_ok = True
        return " ".join(str(reply).split())

    # -------------------------------------------------------------------------- inbound
    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll_once()
                self._imap_ok = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._imap_ok:
                    log.warning(
                        "email %s: polling %s failed: %s", self.name, self.settings.imap_host, exc
                    )
                self._imap_ok = False
                await self._mailbox.close()
            await asyncio.sleep(self.settings.poll_interval)

    async def poll_once(self) -> int:
        """Look at the mailbox once; returns how many mails were handled (claimed and done)."""
        async with self._lock:
            if not self._mailbox.connected:
                await self._mailbox.connect()
            else:
                await self._mailbox.noop()
            uids = await self._mailbox.search()
            infos = await self._mailbox.info(uids[: self.settings.poll_batch])
            current = {(self._mailbox.uidvalidity, i.uid, i.modseq) for i in infos}
            for key in list(self._claims_seen):
                if key not in current:
                    del self._claims_seen[key]
            handled = 0
            for info in infos:
                if await self._handle(info):
                    handled += 1
            return handled

    async def _claim(self, info: MailInfo) -> int | None:
        """Take the mail for this poller; None if another poller has it (or just took it)."""
        mailbox = self._mailbox
        modseq = info.modseq
        if CLAIMED in info.flags:
            key = (mailbox.uidvalidity, info.uid, info.modseq)
            first = self._claims_seen.setdefault(key, time.monotonic())
            if time.monotonic() - first < self.settings.claim_timeout:
                return None  # someone works on it; unchanged for claim_timeout means it died
            log.warning(
                "email %s: UID %s was claimed %.0fs ago and not finished: taking it over",
                self.name,
                info.uid,
                time.monotonic() - first,
            )
            released = await mailbox.store(info.uid, info.modseq, "-", [CLAIMED])
            if released is None:
                return None
            modseq = released
        return await mailbox.store(info.uid, modseq, "+", [CLAIMED])

    async def _release(self, uid: int, modseq: int) -> None:
        with contextlib.suppress(Exception):
            await self._mailbox.store(uid, modseq, "-", [CLAIMED])

    async def _handle(self, info: MailInfo) -> bool:
        key = (self._mailbox.uidvalidity, info.uid)
        if self._marked.get(key) == info.modseq:
            modseq: int | None = info.modseq  # ours, handled; only the move failed last time
        else:
            modseq = await self._claim(info)
        if modseq is None:
            return False
        if DONE in info.flags or REJECTED in info.flags:
            await self._move(info.uid, REJECTED if REJECTED in info.flags else DONE)
            self._marked.pop(key, None)
            return True
        try:
            verdict = await self._process(info)
        except _NOT_THE_MAILS_FAULT:
            # not this mail's fault: give it back and end this poll; the loop tries again later
            await self._release(info.uid, modseq)
            raise
        except Exception as exc:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures < MAX_ATTEMPTS_PER_MAIL:
                log.warning(
                    "email %s: UID %s: %s (attempt %d, will retry)",
                    self.name,
                    info.uid,
                    exc,
                    failures,
                )
                await self._release(info.uid, modseq)
                return False
            log.exception("email %s: UID %s keeps failing; setting it aside", self.name, info.uid)
            verdict = Verdict(REJECTED, f"set aside after {failures} failed attempts: {exc}")
        self._failures.pop(key, None)
        await self._finalize(info.uid, modseq, verdict)
        return True

    async def _finalize(self, uid: int, modseq: int, verdict: Verdict) -> None:
        """Mark the mail handled (only if our claim still holds), then move it away."""
        marked = await self._mailbox.store(uid, modseq, "+", ["\\Seen", verdict.keyword])
        if marked is None:
            log.warning("email %s: UID %s was taken over by another poller", self.name, uid)
            return
        log.info("email %s: UID %s %s", self.name, uid, verdict.summary)
        key = (self._mailbox.uidvalidity, uid)
        self._marked[key] = marked
        await self._move(uid, verdict.keyword)
        self._marked.pop(key, None)

    async def _move(self, uid: int, keyword: str) -> None:
        s = self.settings
        await self._mailbox.move(
            uid, s.rejects_folder if keyword == REJECTED else s.processed_folder
        )

    async def _process(self, info: MailInfo) -> Verdict:
        if info.size > self.settings.max_mail_bytes:
            raw, _ = await self._mailbox.fetch(info.uid, headers_only=True)
            mail = parse_headers(raw)
            reason = (
                f"the mail is {info.size} bytes; this address accepts at most "
                f"{self.settings.max_mail_bytes} bytes"
            )
            return await self._reject(mail, raw, [reason])
        raw, received = await self._mailbox.fetch(info.uid)
        mail, unreadable = read_mail(raw)
        if unreadable is not None:
            return await self._reject(mail, raw, [unreadable])
        bounce = parse_bounce(mail, raw, self.settings.domain)
        if bounce is not None:
            ids = await self._bounced(bounce)
            if not ids:  # not about our mail (e.g. an answer of ours that bounced): no reply
                return Verdict(REJECTED, f"bounce about no hub message: {bounce.reason}")
            return Verdict(DONE, f"bounce for {', '.join(ids)}: {bounce.reason}")
        found = find_envelopes(mail, self._limits)
        if found.envelopes:
            submitted = [await self._submit_envelope(mail, body) for body in found.envelopes]
            return Verdict(DONE, f"submitted {', '.join(submitted)}", submitted)
        agency = self._plain.get(sender_address(mail))
        if agency is not None and not is_automatic(mail, self._own):
            return await self._plain_mail(mail, raw, agency, received, found.problems)
        reasons = found.problems or [
            "it carries no hub envelope (an XML attachment whose root element is Envelope)"
        ]
        return await self._reject(mail, raw, reasons)

    async def _submit_envelope(self, mail: EmailMessage, body: bytes) -> str:
        message_id, sender, correlation = envelope_facts(body)
        headers = {
            "message-id": message_id,
            "sender": sender,
            "mail-message-id": header(mail, "Message-ID")[:500],
            "mail-from": sender_address(mail),
        }
        answers = await self._answers(mail)
        if answers and not correlation and message_id:
            headers["correlation-hint"] = answers
        submitted = await self._submit(InboundMessage(body, SOURCE, headers))
        await self._remember_mail(mail, message_id)
        if answers and not correlation and message_id:
            await self.context.record(
                answers,
                State.NOTE,
                f"mail reply carrying envelope {message_id} from {sender or '?'} (In-Reply-To); "
                "its envelope names no CorrelationId",
            )
        return submitted or message_id or "an unreadable envelope"

    async def _answers(self, mail: EmailMessage) -> str | None:
        """The hub message a mail answers: by our Message-IDs, else by ones we remembered."""
        ours = answered_id(mail, self.settings.domain)
        if ours:
            return ours
        for reference in referenced_ids(mail):
            known = await self.context.recall(reference)
            if known is not None:
                return known[0]
        return None

    async def _remember_mail(self, mail: EmailMessage, message_id: str) -> None:
        """Map the mail's Message-ID to the hub message it became (to thread the answer)."""
        reference = header(mail, "Message-ID")
        if message_id and reference and len(reference) <= 500:
            await self.context.remember(reference, message_id, "in")

    async def _submit(self, message: InboundMessage) -> str:
        try:
            return await self.context.submit(message)
        except Exception as exc:
            raise HubUnavailable(f"the hub did not take the envelope: {exc!r}") from exc

    async def _plain_mail(
        self,
        mail: EmailMessage,
        raw: bytes,
        agency: str,
        received: dt.datetime,
        problems: list[str],
    ) -> Verdict:
        if problems:
            return await self._reject(mail, raw, problems)
        recipient = self.settings.inbound_recipient
        if not recipient:
            return await self._reject(
                mail,
                raw,
                ["the hub has no recipient configured for plain mail (inbound_recipient)"],
            )
        answers = await self._answers(mail)
        message_id, unsigned = plain_envelope(
            mail,
            raw,
            agency=agency,
            recipient=recipient,
            answers=answers,
            received=received,
            attach_original=self.settings.plain_attach_original,
        )
        signed = self.context.sign_envelope(unsigned)
        headers = {
            "message-id": message_id,
            "sender": agency,
            "mail-message-id": header(mail, "Message-ID")[:500],
            "mail-from": sender_address(mail),
        }
        await self._submit(InboundMessage(signed, SOURCE, headers))
        await self._remember_mail(mail, message_id)
        return Verdict(DONE, f"plain mail from {agency} submitted as {message_id}", [message_id])

    async def _bounced(self, bounce: Bounce) -> list[str]:
        """Tell the hub: a failure marks the message failed and tells its sender."""
        ids = list(bounce.hub_ids)
        if not ids and bounce.original_id:
            known = await self.context.recall(bounce.original_id)
            ids = [known[0]] if known is not None else []
        for message_id in ids:
            where = f"{self.name}:{bounce.recipient or '?'}"
            if bounce.failed:
                await self.context.notify_sender(
                    message_id, State.FAILED, [("bounced", f"{where}: {bounce.reason}")]
                )
            else:
                await self.context.record(
                    message_id,
                    State.NOTE,
                    f"{where}: mail delivery {bounce.action}: {bounce.reason}",
                )
        return ids

    async def refused(
        self,
        message_id: str,
        state: str,
        reasons: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> None:
        """A document from a mail that the hub refused: answer the mail's sender, threaded under
        it, with the hub's signed receipt (unless ``explain_rejects`` is off)."""
        to = headers.get("mail-from", "")
        if not self.settings.explain_rejects or not to:
            return
        receipt = None
        sender = headers.get("sender", "")
        if sender:
            try:
                receipt = self.context.signed_receipt(sender, message_id, state, reasons)
            except (ValidationError, ValueError, EnvelopeError) as exc:  # e.g. a bad Sender
                log.info("email %s: no receipt for %s: %s", self.name, message_id, exc)
            else:
                await self.context.receipt_sent(sender, message_id, state, receipt)
        answer = refusal_mail(
            to,
            headers.get("mail-message-id") or None,
            message_id,
            state,
            reasons,
            self.settings,
            self.context.hub_id,
            receipt=receipt,
        )
        await self.send(answer, [to])
        await self.context.record(message_id, State.NOTE, f"email: the refusal was mailed to {to}")

    async def _reject(self, mail: EmailMessage, raw: bytes, reasons: list[str]) -> Verdict:
        """Refuse the mail: answer its sender (unless that would loop) and set it aside."""
        summary = "rejected: " + "; ".join(reasons)
        to = reply_address(mail)
        if not self.settings.explain_rejects or to is None or is_automatic(mail, self._own):
            return Verdict(REJECTED, summary + " (no answer sent)")
        answer = explanation_mail(mail, raw, to, reasons, self.settings, self.context.hub_id)
        try:
            await self.send(answer, [to])
        except SmtpFailure as exc:
            if exc.transient:
                raise  # leave the mail for the next poll: the answer is part of handling it
            return Verdict(REJECTED, summary + f" (answer to {to} refused: {exc})")
        return Verdict(REJECTED, summary + f" (answered {to})")


def create(settings: Mapping[str, Any]) -> EmailAdapter:
    return EmailAdapter(load_settings(dict(settings)))
