"""Everything the document page shows, gathered from the store and the envelope itself: the
card, the timeline in plain words, the request → response chain, the attachments with their
digests checked, and the signatures — the sender's, verified again against the trust store as
of the moment the hub received it, and the hub's countersignature of every delivered copy."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from envelopes.errors import EnvelopeError
from envelopes.model import Attachment, DocumentCard
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore, load_certificate, participant_ids
from envelopes.signatures import Verified, verify_sender
from hub.api.state import ApiState
from hub.execution.notices import NOTICE_TYPE, Notice, read_notice
from hub.ops.trace import execution_of
from hub.records import EXECUTION_STAGES, DocumentRecord, MessageRow
from hub.ui.words import NOTICE_ID, Entry, Words


@dataclass(frozen=True)
class Signature:
    """A signature as the page shows it."""

    role: str  # sender | hub
    signer: str
    subject: str
    issuer: str
    serial: str
    not_after: str
    valid: bool
    problem: str = ""


@dataclass(frozen=True)
class AttachmentView:
    index: int
    file_name: str
    media_type: str
    size: int
    sha256: str
    digest_ok: bool


@dataclass
class DocumentView:
    row: MessageRow
    record: DocumentRecord | None
    execution: dict[str, Any] | None
    entries: list[Entry]
    card: DocumentCard | None
    request: MessageRow | None  # what this message answers
    responses: list[MessageRow] = field(default_factory=list)
    notices: int = 0
    attachments: list[AttachmentView] = field(default_factory=list)
    signatures: list[Signature] = field(default_factory=list)
    overdue_days: int | None = None


@dataclass(frozen=True)
class Opened:
    """An envelope read back: what verified, or why not."""

    verified: Verified | None
    problem: str
    attachments: list[Attachment]


def trust_of(state: ApiState) -> TrustStore:
    cached = getattr(state, "_ui_trust", None)
    if cached is None:
        config = state.config
        cached = TrustStore.from_pem_files([config.path(p) for p in config.pki.trust])
        state._ui_trust = cached  # type: ignore[attr-defined]
    return cached


def open_envelope(body: bytes, trust: TrustStore, at: dt.datetime, hub_id: str) -> Opened:
    """Verify the sender's signature as of ``at`` (CPU work: run it in a thread)."""
    try:
        root = parse_xml(body)
    except EnvelopeError as exc:
        return Opened(None, "; ".join(exc.problems), [])
    try:
        verified = verify_sender(root, trust, at, wrapper=hub_id)
    except EnvelopeError as exc:
        return Opened(None, "; ".join(exc.problems), [])
    return Opened(verified, "", list(verified.envelope.attachments))


def describe(
    role: str, signer: str, cert: x509.Certificate, valid: bool, problem: str
) -> Signature:
    return Signature(
        role=role,
        signer=signer,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        not_after=cert.not_valid_after_utc.isoformat(),
        valid=valid,
        problem=problem,
    )


async def document_view(
    state: ApiState, row: MessageRow, words: Words, today: dt.date
) -> DocumentView:
    """The page of one message (a document, or any message: the card part is then empty)."""
    store = state.store
    record = await store.document(row.message_id)
    events = await store.timeline(row.message_id)
    related_ids = await store.answers(row.message_id)
    related = [r for r in [await store.get_message(i) for i in related_ids] if r is not None]
    notices: dict[str, Notice] = {}
    for message in related:
        if message.message_type == NOTICE_TYPE and message.envelope:
            notice = await asyncio.to_thread(_read_notice, message.envelope)
            if notice is not None:
                notices[message.message_id] = notice
    entries: list[Entry] = []
    for event in events:
        if event.state in EXECUTION_STAGES:
            found = NOTICE_ID.search(event.detail)
            notice = notices.get(found.group(1)) if found else None
            entries.append(words.execution(event.state, event.at, event.detail, notice))
        else:
            entries.append(words.transport(event.state, event.at, event.detail))
    request = await store.get_message(row.correlation_id) if row.correlation_id else None
    received = dt.datetime.fromisoformat(row.received_at)
    opened = (
        await asyncio.to_thread(
            open_envelope, row.envelope, trust_of(state), received, state.config.id
        )
        if row.envelope
        else Opened(None, "the envelope is not kept", [])
    )
    view = DocumentView(
        row=row,
        record=record,
        execution=execution_of(record, today),
        entries=entries,
        card=record.card if record is not None else None,
        request=request,
        responses=[m for m in related if m.kind == "response"],
        notices=len(notices),
    )
    execution = view.execution or {}
    if execution.get("overdue") and execution.get("deadline"):
        view.overdue_days = (today - dt.date.fromisoformat(execution["deadline"])).days
    view.attachments = [
        AttachmentView(
            index=i,
            file_name=a.ref.file_name,
            media_type=a.ref.media_type,
            size=a.ref.size,
            sha256=a.ref.sha256.hex(),
            digest_ok=hashlib.sha256(a.content).digest() == a.ref.sha256,
        )
        for i, a in enumerate(opened.attachments)
    ]
    if opened.verified is not None:
        v = opened.verified
        view.signatures.append(describe("sender", v.signer_id, v.certificate, True, ""))
    else:
        view.signatures.append(
            Signature("sender", row.sender or "?", "", "", "", "", False, opened.problem)
        )
    if row.state not in ("rejected", "expired"):
        hub_cert = load_certificate(state.config.path(state.config.pki.cert))
        ids = participant_ids(hub_cert)
        view.signatures.append(
            describe("hub", ids[0] if ids else state.config.id, hub_cert, True, "")
        )
    return view


async def attachment(state: ApiState, row: MessageRow, index: int) -> Attachment | None:
    """One attachment of a message, if its sender's signature and its digest hold."""
    if not row.envelope:
        return None
    received = dt.datetime.fromisoformat(row.received_at)
    opened = await asyncio.to_thread(
        open_envelope, row.envelope, trust_of(state), received, state.config.id
    )
    if opened.verified is None or not 0 <= index < len(opened.attachments):
        return None
    chosen = opened.attachments[index]
    if hashlib.sha256(chosen.content).digest() != chosen.ref.sha256:
        return None
    return chosen


def _read_notice(body: bytes) -> Notice | None:
    try:
        root = parse_xml(body)
    except EnvelopeError:
        return None
    from envelopes.codec import envelope_from_tree

    try:
        return read_notice(envelope_from_tree(root).payload)
    except Exception:  # a notice the hub refused may not be readable: the line says so anyway
        return None
