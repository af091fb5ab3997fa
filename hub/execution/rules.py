"""Which execution notice may follow which: the records-management rules, as a pure function.

``apply(document, notice, …)`` returns the document's next state and the line for its timeline,
or raises ``NoticeRefused`` naming the rule. Every store runs it inside the transaction that
records the notice, so two notices about one document never both pass a check that only one
may pass. Registration numbers (journals, uniqueness) are the store's part; everything else is
here:

- a notice comes from the document's recipient, about a document it received, to the
  document's sender;
- registered or registration refused, once, first;
- a resolution (executor assigned) needs a registered document; its deadline is a working day,
  not before registration; a part of a resolution (``parent``) ends no later than its parent;
- only the department and person who set a deadline may change it, with a reason;
- progress and report notes need an assignment; executed needs a report or an answer;
- control is closed only after execution — an interim progress note never closes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Protocol

from hub.abc import Stage
from hub.execution.notices import Notice

# what a department may report; due_soon and overdue come from the hub alone
REPORTED = frozenset(
    {
        Stage.REGISTERED,
        Stage.REGISTRATION_REFUSED,
        Stage.EXECUTOR_ASSIGNED,
        Stage.DEADLINE_CHANGED,
        Stage.IN_PROGRESS,
        Stage.REPORT_PREPARED,
        Stage.EXECUTED,
        Stage.CONTROL_CLOSED,
    }
)


class NoticeRefused(Exception):
    """A notice that contradicts the document's state: ``code`` and a reason that names it."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class Calendar(Protocol):
    """What the rules need of the production calendar."""

    def is_working_day(self, day: dt.date) -> bool: ...

    def non_working_reason(self, day: dt.date) -> str | None: ...


@dataclass(frozen=True)
class Assignment:
    """A resolution, or a part of one: who executes, by when, and who set the term."""

    id: str
    parent: str | None
    executor: str
    co_executors: tuple[str, ...]
    deadline: dt.date
    set_by_department: str
    set_by_person: str | None
    urgency: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the store knows of a message named as a document's answer."""

    message_id: str
    kind: str | None
    sender: str | None
    correlation_id: str | None


@dataclass(frozen=True)
class Document:
    """A document's execution state at its recipient."""

    message_id: str
    sender: str
    recipient: str
    delivered: bool = False
    stage: Stage | None = None  # the last stage reached (None: not registered yet)
    number: str | None = None
    registered_on: dt.date | None = None
    journal: str | None = None
    refusal: str | None = None
    assignments: tuple[Assignment, ...] = field(default_factory=tuple)
    executed_on: dt.date | None = None
    executed_on_time: bool | None = None
    answer: str | None = None
    report: str | None = None
    closed_on: dt.date | None = None

    @property
    def main(self) -> Assignment | None:
        """The resolution (the first assignment without a parent): its deadline controls."""
        return next((a for a in self.assignments if a.parent is None), None)

    @property
    def deadline(self) -> dt.date | None:
        main = self.main
        return main.deadline if main is not None else None

    @property
    def executor(self) -> str | None:
        main = self.main
        return main.executor if main is not None else None

    @property
    def on_control(self) -> bool:
        """A deadline is set, and the document is neither executed nor taken off control."""
        return self.deadline is not None and self.executed_on is None and self.closed_on is None

    def assignment(self, assignment_id: str | None) -> Assignment | None:
        if assignment_id is None:
            return self.main
        return next((a for a in self.assignments if a.id == assignment_id), None)


def apply(
    document: Document | None,
    notice: Notice,
    *,
    sender: str,
    recipient: str,
    correlation_id: str | None,
    calendar: Calendar,
    today: dt.date,
    answer: Answer | None = None,
) -> tuple[Document, str]:
    """The document after ``notice`` and the timeline line; NoticeRefused if it may not follow.

    ``sender``, ``recipient`` and ``correlation_id`` are the notice envelope's header; ``today``
    is the date in the administration's time zone; ``answer`` is what the store found for
    ``notice.answer``, if the notice names one.
    """
    if notice.document != correlation_id:
        raise NoticeRefused(
            "notice_mismatch",
            f"ExecutionNotice/Document {notice.document} is not the envelope's CorrelationId "
            f"({correlation_id or 'none'})",
        )
    if notice.department != sender:
        raise NoticeRefused(
            "notice_mismatch",
            f"ExecutionNotice/Department {notice.department} is not the envelope's Sender "
            f"({sender})",
        )
    if notice.stage not in REPORTED:
        raise NoticeRefused("notice_not_allowed", f"only the hub reports {notice.stage.value}")
    if document is None:
        raise NoticeRefused("unknown_document", f"no document {notice.document} on record")
    if document.recipient != sender:
        raise NoticeRefused(
            "not_the_recipient",
            f"{sender} did not receive document {document.message_id} "
            f"(its recipient is {document.recipient})",
        )
    if recipient != document.sender:
        raise NoticeRefused(
            "notice_mismatch",
            f"a notice about {document.message_id} goes to its sender {document.sender}, "
            f"not to {recipient}",
        )
    if not document.delivered:
        raise NoticeRefused(
            "not_delivered", f"document {document.message_id} has not been delivered"
        )
    if document.closed_on is not None:
        raise NoticeRefused(
            "control_closed",
            f"document {document.message_id} was taken off control on {_d(document.closed_on)}",
        )
    handler = _HANDLERS[notice.stage]
    return handler(document, notice, calendar, today, answer)


# ------------------------------------------------------------------------------ per stage
def _registered(
    doc: Document, n: Notice, calendar: Calendar, today: dt.date, answer: Answer | None
) -> tuple[Document, str]:
    _not_yet_registered(doc)
    assert n.number is not None and n.date is not None and n.journal is not None
    after = replace(
        doc, stage=Stage.REGISTERED, number=n.number, registered_on=n.date, journal=n.journal
    )
    return after, f"№ {n.number} of {_d(n.date)} in journal {n.journal}{_by(n)}"


def _refused(
    doc: Document, n: Notice, calendar: Calendar, today: dt.date, answer: Answer | None
) -> tuple[Document, str]:
    _not_yet_registered(doc)
    reason = n.reason.value if n.reason else "other"
    after = replace(doc, stage=Stage.REGISTRATION_REFUSED, refusal=reason)
    text = f": {n.text}" if n.text else ""
    return after, f"reason {reason}{text}{_by(n)}"


def _assigned(
    doc: Document, n: Notice, calendar: Calendar, today: dt.date, answer: Answer | None
) -> tuple[Document, str]:
    _registered_and_open(doc)
    assert n.assignment is not None and n.deadline is not None and n.executor is not None
    if any(a.id == n.assignment for a in doc.assignments):
        raise NoticeRefused("duplicate_assignment", f"assignment {n.assignment} exists already")
    if n.parent is None and doc.main is not None:
        raise NoticeRefused(
            "already_assigned",
            f"document {doc.message_id} has its resolution already (executor "
            f"{doc.main.executor}); split it with a parent, or change its deadline",
        )
    parent = None
    if n.parent is not None:
        parent = next((a for a in doc.assignments if a.id == n.parent), None)
        if parent is None:
            raise NoticeRefused(
                "unknown_assignment", f"no assignment {n.parent} for {doc.message_id}"
            )
    _check_deadline(doc, n.deadline, calendar, "ExecutorAssigned/@Deadline")
    if parent is not None and n.deadline > parent.deadline:
        raise NoticeRefused(
            "deadline_after_parent",
            f"ExecutorAssigned/@Deadline {_d(n.deadline)} is after the deadline of the "
            f"assignment it is part of ({_d(parent.deadline)})",
        )
    assignment = Assignment(
        id=n.assignment,
        parent=n.parent,
        executor=n.executor,
        co_executors=n.co_executors,
        deadline=n.deadline,
        set_by_department=n.department,
        set_by_person=n.person.name if n.person else None,
        urgency=n.urgency,
        text=n.text,
    )
    after = replace(doc, stage=Stage.EXECUTOR_ASSIGNED, assignments=(*doc.assignments, assignment))
    co = f", co-executors {', '.join(n.co_executors)}" if n.co_executors else ""
    part = f" (part of {n.parent})" if n.parent else ""
    return after, f"executor {n.executor}{co}, deadline {_d(n.deadline)}{part}{_by(n)}"


def _deadline_changed(
    doc: Document, n: Notice, calendar: Calendar, today: dt.date, answer: Answer | None
) -> tuple[Document, str]:
    _registered_and_open(doc)
    target = doc.assignment(n.assignment)
    if target is None:
        raise NoticeRefused(
            "unknown_assignment", f"no assignment {n.assignment} for {doc.message_id}"
        )
    who = n.person.name if n.person else None
    if (n.department, who) != (target.set_by_department, target.set_by_person):
        setter = target.set_by_person or "(no person named)"
        raise NoticeRefused(
            "not_the_deadline_setter",
            f"only {setter} of {target.set_by_department}, who set the deadline of assignment "
            f"{target.id}, may change it (not {who or '(no person named)'} of {n.department})",
        )
    assert n.deadline is not None
    if n.old_deadline != target.deadline:
        raise NoticeRefused(
            "notice_mismatch",
            f"DeadlineChanged/@Old {_d(n.old_deadline)} is not the deadline in force "
            f"({_d(target.deadline)})",
        )
    _check_deadline(doc, n.deadline, calendar, "DeadlineChanged/@New")
    parent = next((a for a in doc.assignments if a.id == target.parent), None)
    if parent is not None and n.deadline > parent.deadline:
        raise NoticeRefused(
            "deadline_after_parent",
            f"DeadlineChanged/@New {_d(n.deadline)} is after the deadline of the assignment "
            f"it is part of ({_d(parent.deadline)})",
        )
    changed = replace(target, deadline=n.deadline)
    assignments = tuple(changed if a.id == target.id else a for a in doc.assignments)
    after = replace(doc, stage=Stage.DEADLINE_CHANGED, assignments=assignments)
    return after, (
        f"deadline {_d(target.deadline)} → {_d(n.deadline)} (assignment {target.executor}): "
        f"{n.text}{_by(n)}"
    )


def _progress(
    doc: Document, n: Notice, calendar: Calendar, today: dt.date, answer: Answer | None
) -> tuple[Document, str]:
    _assigned_and_open(doc, n)
    stage = n.stage
    report = n.text if stage == Stage.REPORT_PREPARED else doc.report
    after = replace(doc, stage=stage, report=report)
    return after, f"{n.text}{_by(n)}"


def _executed(
    doc: Document, n: Notice, calendar: Calendar, today: dt.date, answer: Answer | None
) -> tuple[Document, str]:
    _assigned_and_open(doc, n)
    if n.answer is None and not n.text and doc.report is None:
        raise NoticeRefused(
            "no_report",
            "executed needs the execution report or the answer sent (an interim progress "
            "note does not count)",
        )
    if n.answer is not None:
        _check_answer(doc, n.answer, answer)
    executed_on = n.at.date() if n.at.date() <= today else today
    deadline = doc.deadline
    on_time = deadline is None or executed_on <= deadline
    after = replace(
        doc,
        stage=Stage.EXECUTED,
        executed_on=executed_on,
        executed_on_time=on_time,
        answer=n.answer or doc.answer,
        report=n.text or doc.report,
    )
    how = "on time" if on_time else f"late (deadline {_d(deadline)})"
    answered = f", answer {n.answer}" if n.answer else ""
    text = f": {n.text}" if n.text else ""
    return after, f"{how}{answered}{text}{_by(n)}"


def _closed(
    doc: Document, n: Notice, calendar: Calendar, today: dt.date, answer: Answer | None
) -> tuple[Document, str]:
    if doc.executed_on is None:
        raise NoticeRefused(
            "not_executed",
            f"document {doc.message_id} is not executed: control is closed only after the "
            "execution report or the answer",
        )
    after = replace(doc, stage=Stage.CONTROL_CLOSED, closed_on=n.at.date())
    return after, f"taken off control{_by(n)}"


_HANDLERS = {
    Stage.REGISTERED: _registered,
    Stage.REGISTRATION_REFUSED: _refused,
    Stage.EXECUTOR_ASSIGNED: _assigned,
    Stage.DEADLINE_CHANGED: _deadline_changed,
    Stage.IN_PROGRESS: _progress,
    Stage.REPORT_PREPARED: _progress,
    Stage.EXECUTED: _executed,
    Stage.CONTROL_CLOSED: _closed,
}


# ------------------------------------------------------------------------------ checks
def _not_yet_registered(doc: Document) -> None:
    if doc.stage == Stage.REGISTRATION_REFUSED:
        raise NoticeRefused(
            "registration_refused",
            f"document {doc.message_id} was refused registration ({doc.refusal})",
        )
    if doc.stage is not None:
        raise NoticeRefused(
            "already_registered",
            f"document {doc.message_id} is registered already (№ {doc.number} of "
            f"{_d(doc.registered_on)})",
        )


def _registered_and_open(doc: Document) -> None:
    if doc.stage is None:
        raise NoticeRefused("not_registered", f"document {doc.message_id} is not registered")
    if doc.stage == Stage.REGISTRATION_REFUSED:
        raise NoticeRefused(
            "registration_refused",
            f"document {doc.message_id} was refused registration ({doc.refusal})",
        )
    if doc.executed_on is not None:
        raise NoticeRefused(
            "already_executed",
            f"document {doc.message_id} was executed on {_d(doc.executed_on)}",
        )


def _assigned_and_open(doc: Document, n: Notice) -> None:
    _registered_and_open(doc)
    if doc.main is None:
        raise NoticeRefused(
            "not_assigned", f"document {doc.message_id} has no executor assigned yet"
        )
    if n.assignment is not None and doc.assignment(n.assignment) is None:
        raise NoticeRefused(
            "unknown_assignment", f"no assignment {n.assignment} for {doc.message_id}"
        )


def _check_deadline(doc: Document, deadline: dt.date, calendar: Calendar, where: str) -> None:
    if doc.registered_on is not None and deadline < doc.registered_on:
        raise NoticeRefused(
            "deadline_before_registration",
            f"{where} {_d(deadline)} is before the registration date {_d(doc.registered_on)}",
        )
    if not calendar.is_working_day(deadline):
        why = calendar.non_working_reason(deadline) or "a non-working day"
        raise NoticeRefused(
            "deadline_not_working_day",
            f"{where} {_d(deadline)} is a non-working day ({why}); a term ends on a working "
            "day (the previous one)",
        )


def _check_answer(doc: Document, answer_id: str, answer: Answer | None) -> None:
    if answer is None:
        raise NoticeRefused("answer_not_found", f"no message {answer_id} on record")
    if answer.correlation_id != doc.message_id or answer.sender != doc.recipient:
        raise NoticeRefused(
            "answer_not_found",
            f"message {answer_id} is not an answer of {doc.recipient} to {doc.message_id}",
        )
    if answer.kind not in ("response", "error"):
        raise NoticeRefused(
            "answer_not_found", f"message {answer_id} is a {answer.kind}, not a response"
        )


def _by(n: Notice) -> str:
    who = f" ({n.person.name})" if n.person else ""
    return f"; by {n.department}{who}"


def _d(day: dt.date | None) -> str:
    return day.isoformat() if day is not None else "none"
