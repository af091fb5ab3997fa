"""What a department does with a document it received: register it (or refuse to), assign it,
report progress, extend a deadline, execute it, close control — each as a signed notice.

A notice is built here from what the store knows of the document (its sender, its registration
date, the deadline in force), signed with the department's key, and submitted like any envelope:
the hub checks it against the document's state and tells the sender. Defaults the rules demand
are worked out before signing, so that what the sender receives is complete: a registration
number from the journal (allocated for the document, never twice), a deadline from the urgency
(30, 10 or 3 days, moved back to a working day).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from lxml import etree

from envelopes.codec import new_envelope, to_bytes
from envelopes.model import Kind, Urgency
from envelopes.signatures import Signer
from hub.abc import Stage, Transport
from hub.execution.notices import Actor, Notice, RefusalReason, notice_element
from hub.execution.policy import ExecutionPolicy
from hub.execution.rules import NoticeRefused
from hub.ops.submit import SendResult, send_bodies
from hub.records import DocumentRecord
from hub.store import Store


@dataclass
class NoticeRequest:
    """What a department asks for; ``build_notice`` completes it from the document's record."""

    stage: Stage
    person: str | None = None
    post: str | None = None
    number: str | None = None
    date: dt.date | None = None  # of a registration under the department's own number
    journal: str | None = None
    reason: RefusalReason | None = None
    text: str | None = None
    executor: str | None = None
    co_executors: list[str] = field(default_factory=list)
    deadline: dt.date | None = None
    urgency: Urgency | None = None
    parent: str | None = None
    assignment: str | None = None
    answer: str | None = None


@dataclass
class Prepared:
    """A notice ready to sign, to whom it goes, and what was worked out for it."""

    notice: Notice
    recipient: str
    notes: list[str] = field(default_factory=list)


async def build_notice(
    store: Store,
    policy: ExecutionPolicy,
    department: str,
    document_id: str,
    request: NoticeRequest,
) -> Prepared:
    """The notice ``department`` sends about ``document_id``; NoticeRefused when the document
    is unknown or a default cannot be worked out (the hub would refuse the notice anyway)."""
    record = await store.document(document_id)
    if record is None:
        raise NoticeRefused("unknown_document", f"no document {document_id} on record")
    doc = record.state
    notes: list[str] = []
    person = Actor(request.person, request.post) if request.person else None
    values: dict[str, object] = {}
    stage = request.stage
    if stage == Stage.REGISTERED:
        if request.number:
            journal = policy.journal(department, request.journal)
            values = {
                "number": request.number,
                "date": request.date or policy.today(),
                "journal": journal.name,
            }
        else:  # the journal's next number, handed out for this document alone
            registration = await store.allocate_registration_number(
                document_id, department, request.journal
            )
            values = {
                "number": registration.number,
                "date": registration.registered_on,
                "journal": registration.journal,
            }
            notes.append(f"№ {registration.number} from journal {registration.journal}")
    elif stage == Stage.REGISTRATION_REFUSED:
        values = {"reason": request.reason or RefusalReason.OTHER, "text": request.text}
    elif stage == Stage.EXECUTOR_ASSIGNED:
        deadline, note = _deadline(policy, record, request)
        notes += note
        values = {
            "assignment": str(uuid.uuid4()),
            "parent": request.parent,
            "deadline": deadline,
            "urgency": (request.urgency or _urgency(record)).value,
            "executor": request.executor,
            "co_executors": tuple(request.co_executors),
            "text": request.text,
        }
    elif stage == Stage.DEADLINE_CHANGED:
        target = doc.assignment(request.assignment)
        if target is None:
            raise NoticeRefused(
                "unknown_assignment",
                f"document {document_id} has no assignment {request.assignment or '(resolution)'}",
            )
        assert request.deadline is not None
        deadline = _working(policy, request.deadline, notes)
        values = {
            "assignment": target.id,
            "old_deadline": target.deadline,
            "deadline": deadline,
            "text": request.text,
        }
    elif stage in (Stage.IN_PROGRESS, Stage.REPORT_PREPARED):
        values = {"assignment": request.assignment, "text": request.text}
    elif stage == Stage.EXECUTED:
        values = {"answer": request.answer, "text": request.text}
    notice = Notice(
        document=document_id,
        stage=stage,
        department=department,
        at=policy.now(),
        person=person,
        **values,  # type: ignore[arg-type]
    )
    return Prepared(notice, doc.sender, notes)


def _urgency(record: DocumentRecord) -> Urgency:
    return record.card.urgency if record.card is not None else Urgency.NORMAL


def _deadline(
    policy: ExecutionPolicy, record: DocumentRecord, request: NoticeRequest
) -> tuple[dt.date, list[str]]:
    notes: list[str] = []
    if request.deadline is not None:
        return _working(policy, request.deadline, notes), notes
    start = record.state.registered_on or policy.today()
    urgency = request.urgency or _urgency(record)
    deadline = policy.default_deadline(start, urgency)
    notes.append(
        f"deadline {deadline.strftime('%d.%m.%Y')}: {urgency.value} from the registration date "
        f"{start.strftime('%d.%m.%Y')}"
    )
    return deadline, notes


def _working(policy: ExecutionPolicy, day: dt.date, notes: list[str]) -> dt.date:
    """A term that ends on a non-working day ends on the previous working day."""
    if policy.calendar.is_working_day(day):
        return day
    moved = policy.calendar.previous_working_day(day)
    why = policy.calendar.non_working_reason(day) or "a non-working day"
    notes.append(
        f"{day.strftime('%d.%m.%Y')} is a non-working day ({why}): the deadline is "
        f"{moved.strftime('%d.%m.%Y')}, the working day before"
    )
    return moved


def notice_envelope(signer: Signer, prepared: Prepared) -> tuple[str, bytes]:
    """The signed notice envelope: (its MessageId, its bytes)."""
    return signed_notice(
        signer, prepared.recipient, notice_element(prepared.notice), prepared.notice.document
    )


def signed_notice(
    signer: Signer, recipient: str, notice: etree._Element, document_id: str
) -> tuple[str, bytes]:
    """A notice (built here or drafted by the API) in an envelope the department signs."""
    header, root = new_envelope(
        signer.participant_id or "",
        recipient,
        notice,
        kind=Kind.NOTICE,
        correlation_id=uuid.UUID(document_id),
    )
    signer.sign(root)
    return str(header.message_id), to_bytes(root)


async def send_notice(
    store: Store,
    transport: Transport,
    policy: ExecutionPolicy,
    signer: Signer,
    document_id: str,
    request: NoticeRequest,
    wait: float,
) -> tuple[SendResult, list[str]]:
    """Build, sign and submit a notice; the hub's decision on it and the notes made."""
    department = signer.participant_id
    try:
        prepared = await build_notice(store, policy, department, document_id, request)
    except NoticeRefused as refused:
        return SendResult("-", "rejected", f"{refused.code}: {refused.reason}"), []
    _, body = notice_envelope(signer, prepared)
    (result,) = await send_bodies(store, transport, [body], wait)
    if result.state == "rejected":  # with the rule's code, as the timeline has it
        row = await store.get_message(result.message_id)
        if row is not None and row.reason:
            result.reason = row.reason
    return result, prepared.notes
