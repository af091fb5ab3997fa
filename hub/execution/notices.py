"""Execution notices (xsd/hub/execution-1.0.xsd) as data, and their XML both ways.

A notice is an ordinary envelope payload; ``read_notice`` runs in the worker processes after
the schema has said yes, so it trusts the structure and only converts. The dataclasses are
plain and picklable: they travel back from the workers inside ``Processed``.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.abc import Stage

if TYPE_CHECKING:
    from lxml import etree

NOTICE_NS = "urn:interagency-hub:execution:1.0"
NOTICE_TYPE = "{" + NOTICE_NS + "}ExecutionNotice"
_X = "{" + NOTICE_NS + "}"

# the event element of a notice, by stage
ELEMENTS: dict[Stage, str] = {
    Stage.REGISTERED: "Registered",
    Stage.REGISTRATION_REFUSED: "RegistrationRefused",
    Stage.EXECUTOR_ASSIGNED: "ExecutorAssigned",
    Stage.DEADLINE_CHANGED: "DeadlineChanged",
    Stage.IN_PROGRESS: "InProgress",
    Stage.REPORT_PREPARED: "ReportPrepared",
    Stage.EXECUTED: "Executed",
    Stage.CONTROL_CLOSED: "ControlClosed",
    Stage.DUE_SOON: "DueSoon",
    Stage.OVERDUE: "Overdue",
}
_STAGES = {name: stage for stage, name in ELEMENTS.items()}


class RefusalReason(enum.StrEnum):
    """Why a document is not registered (the MEDO list)."""

    NOT_TO_BE_REGISTERED = "not_to_be_registered"
    WRONG_ADDRESSEE = "wrong_addressee"
    NO_SIGNATURE = "no_signature"
    ILLEGIBLE = "illegible"
    INCOMPLETE = "incomplete"
    DUPLICATE = "duplicate"
    OTHER = "other"


@dataclass(frozen=True)
class Actor:
    """Who acted: a person of the acting department (a name as written, a post)."""

    name: str
    post: str | None = None


@dataclass(frozen=True)
class Notice:
    """One execution notice. Only the fields of its ``stage`` are set."""

    document: str  # the document's MessageId
    stage: Stage
    department: str  # the acting department (the envelope's Sender)
    at: dt.datetime
    person: Actor | None = None
    # registered
    number: str | None = None
    date: dt.date | None = None
    journal: str | None = None
    # registration_refused
    reason: RefusalReason | None = None
    # executor_assigned, deadline_changed, in_progress, report_prepared
    assignment: str | None = None
    parent: str | None = None
    deadline: dt.date | None = None
    urgency: str | None = None
    executor: str | None = None
    co_executors: tuple[str, ...] = field(default_factory=tuple)
    old_deadline: dt.date | None = None
    # executed
    answer: str | None = None
    # free text: refusal text, resolution text, progress, report, change reason
    text: str | None = None
    # due_soon, overdue: days left (working) or days late
    days: int | None = None


def notice_element(notice: Notice) -> etree._Element:
    """The ExecutionNotice payload element for a notice."""
    from lxml import etree  # the data above is read by the store, which needs no XML

    root = etree.Element(_X + "ExecutionNotice", nsmap={"x": NOTICE_NS})
    etree.SubElement(root, _X + "Document").text = notice.document
    etree.SubElement(root, _X + "Department").text = notice.department
    if notice.person is not None:
        person = etree.SubElement(root, _X + "Person")
        etree.SubElement(person, _X + "Name").text = notice.person.name
        if notice.person.post:
            etree.SubElement(person, _X + "Post").text = notice.person.post
    etree.SubElement(root, _X + "At").text = notice.at.isoformat()
    event = etree.SubElement(root, _X + ELEMENTS[notice.stage])
    attributes: dict[str, str | None] = {}
    children: list[tuple[str, str]] = []
    stage = notice.stage
    if stage == Stage.REGISTERED:
        attributes = {
            "Number": notice.number,
            "Date": _iso(notice.date),
            "Journal": notice.journal,
        }
    elif stage == Stage.REGISTRATION_REFUSED:
        attributes = {"Reason": notice.reason.value if notice.reason else None}
    elif stage == Stage.EXECUTOR_ASSIGNED:
        attributes = {
            "Assignment": notice.assignment,
            "Parent": notice.parent,
            "Deadline": _iso(notice.deadline),
            "Urgency": notice.urgency,
        }
        children = [("Executor", notice.executor or "")]
        children += [("CoExecutor", name) for name in notice.co_executors]
    elif stage == Stage.DEADLINE_CHANGED:
        attributes = {
            "Assignment": notice.assignment,
            "Old": _iso(notice.old_deadline),
            "New": _iso(notice.deadline),
        }
        children = [("Reason", notice.text or "")]
    elif stage in (Stage.IN_PROGRESS, Stage.REPORT_PREPARED):
        attributes = {"Assignment": notice.assignment}
    elif stage == Stage.EXECUTED:
        attributes = {"Answer": notice.answer}
    elif stage in (Stage.DUE_SOON, Stage.OVERDUE):
        attributes = {"Deadline": _iso(notice.deadline), "Days": str(notice.days or 0)}
    for name, value in attributes.items():
        if value is not None:
            event.set(name, value)
    for name, value in children:
        etree.SubElement(event, _X + name).text = value
    text_allowed = stage in (
        Stage.REGISTRATION_REFUSED,
        Stage.EXECUTOR_ASSIGNED,
        Stage.IN_PROGRESS,
        Stage.REPORT_PREPARED,
        Stage.EXECUTED,
    )
    if text_allowed and notice.text:
        etree.SubElement(event, _X + "Text").text = notice.text
    return root


def read_notice(payload: etree._Element) -> Notice:
    """The notice a schema-valid ExecutionNotice payload carries."""
    from lxml import etree

    event = payload[-1]
    while not isinstance(event.tag, str):  # a trailing comment
        event = event.getprevious()  # type: ignore[assignment]
    stage = _STAGES[etree.QName(event).localname]
    person = payload.find(_X + "Person")
    get = event.get
    reason = get("Reason")
    return Notice(
        document=_text(payload, "Document") or "",
        stage=stage,
        department=_text(payload, "Department") or "",
        at=dt.datetime.fromisoformat(_text(payload, "At") or ""),
        person=Actor(_text(person, "Name") or "", _text(person, "Post"))
        if person is not None
        else None,
        number=get("Number"),
        date=_date(get("Date")),
        journal=get("Journal"),
        reason=RefusalReason(reason) if reason else None,
        assignment=get("Assignment"),
        parent=get("Parent"),
        deadline=_date(get("New") if stage == Stage.DEADLINE_CHANGED else get("Deadline")),
        urgency=get("Urgency"),
        executor=_text(event, "Executor"),
        co_executors=tuple((e.text or "").strip() for e in event.iterfind(_X + "CoExecutor")),
        old_deadline=_date(get("Old")),
        answer=get("Answer"),
        text=_text(event, "Reason" if stage == Stage.DEADLINE_CHANGED else "Text"),
        days=int(get("Days") or 0) if stage in (Stage.DUE_SOON, Stage.OVERDUE) else None,
    )


def _text(parent: etree._Element | None, name: str) -> str | None:
    if parent is None:
        return None
    value = parent.findtext(_X + name)
    return value.strip() if value is not None else None


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
