"""The records-management rules, one notice at a time (pure: no hub, no store)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import pytest

from hub.abc import Stage
from hub.execution.notices import Actor, Notice, RefusalReason
from hub.execution.rules import Answer, Document, NoticeRefused, apply

DOC = "0b0e8e6e-1c4e-4f3b-9a57-1f0e2d3c4b5a"
SENDER, RECIPIENT = "dept.finance", "dept.culture"
TODAY = dt.date(2026, 12, 7)  # a Monday
AT = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
IVANOVA = Actor("Иванова А.А.", "начальник отдела")
PETROV = Actor("Петров П.П.")
A1 = "11111111-1111-4111-8111-111111111111"


class Weekdays:
    """A calendar whose only non-working days are weekends and 31.12."""

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and (day.month, day.day) != (12, 31)

    def non_working_reason(self, day: dt.date) -> str | None:
        if self.is_working_day(day):
            return None
        return "Sunday" if day.weekday() == 6 else "Saturday" if day.weekday() == 5 else "holiday"


def notice(stage: Stage, **fields: object) -> Notice:
    values: dict[str, object] = {
        "document": DOC,
        "stage": stage,
        "department": RECIPIENT,
        "at": AT,
        "person": IVANOVA,
    }
    values.update(fields)
    return Notice(**values)  # type: ignore[arg-type]


def run(document: Document | None, n: Notice, **header: object) -> tuple[Document, str]:
    values: dict[str, object] = {
        "sender": n.department,
        "recipient": SENDER,
        "correlation_id": n.document,
        "calendar": Weekdays(),
        "today": TODAY,
    }
    values.update(header)
    return apply(document, n, **values)  # type: ignore[arg-type]


def refused(document: Document | None, n: Notice, **header: object) -> str:
    with pytest.raises(NoticeRefused) as caught:
        run(document, n, **header)
    return caught.value.code


DELIVERED = Document(DOC, SENDER, RECIPIENT, delivered=True)
REGISTER = notice(
    Stage.REGISTERED, number="01-12/345", date=dt.date(2026, 12, 1), journal="incoming"
)


def registered() -> Document:
    return run(DELIVERED, REGISTER)[0]


def assigned(deadline: dt.date = dt.date(2026, 12, 15)) -> Document:
    n = notice(
        Stage.EXECUTOR_ASSIGNED,
        assignment=A1,
        deadline=deadline,
        executor="Сидоров С.С.",
        co_executors=("Кузнецова К.К.",),
        urgency="normal",
    )
    return run(registered(), n)[0]


# ------------------------------------------------------------------------------ who and what
def test_the_whole_way_on_time() -> None:
    doc, line = run(DELIVERED, REGISTER)
    assert doc.stage == Stage.REGISTERED and doc.number == "01-12/345"
    assert line == "№ 01-12/345 of 2026-12-01 in journal incoming; by dept.culture (Иванова А.А.)"
    doc = assigned()
    assert doc.on_control and doc.deadline == dt.date(2026, 12, 15)
    assert doc.executor == "Сидоров С.С."
    doc, _ = run(doc, notice(Stage.IN_PROGRESS, text="смета запрошена"))
    assert doc.stage == Stage.IN_PROGRESS and doc.on_control
    doc, _ = run(doc, notice(Stage.REPORT_PREPARED, text="отчёт готов"))
    doc, line = run(doc, notice(Stage.EXECUTED, text="работы выполнены"))
    assert doc.executed_on == dt.date(2026, 12, 7) and doc.executed_on_time is True
    assert not doc.on_control and line.startswith("on time")
    doc, _ = run(doc, notice(Stage.CONTROL_CLOSED))
    assert doc.stage == Stage.CONTROL_CLOSED and doc.closed_on == dt.date(2026, 12, 7)


def test_late_execution_is_named_late() -> None:
    doc = assigned(dt.date(2026, 12, 4))  # a Friday before today
    doc, line = run(doc, notice(Stage.EXECUTED, text="сделано"))
    assert doc.executed_on_time is False and line.startswith("late (deadline 2026-12-04)")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"correlation_id": "22222222-2222-4222-8222-222222222222"}, "notice_mismatch"),
        ({"sender": "dept.land"}, "notice_mismatch"),
        ({"recipient": "dept.land"}, "notice_mismatch"),
    ],
)
def test_the_envelope_must_agree_with_the_notice(header: dict[str, object], code: str) -> None:
    assert refused(DELIVERED, REGISTER, **header) == code


def test_only_the_recipient_of_a_delivered_document_reports() -> None:
    other = replace(REGISTER, department="dept.land")
    assert refused(DELIVERED, other) == "not_the_recipient"
    assert refused(None, REGISTER) == "unknown_document"
    assert refused(replace(DELIVERED, delivered=False), REGISTER) == "not_delivered"
    assert refused(DELIVERED, notice(Stage.OVERDUE, deadline=TODAY, days=1)) == (
        "notice_not_allowed"
    )


# ------------------------------------------------------------------------------ registration
def test_registered_or_refused_once() -> None:
    doc = registered()
    assert refused(doc, REGISTER) == "already_registered"
    assert refused(doc, notice(Stage.REGISTRATION_REFUSED, reason=RefusalReason.DUPLICATE)) == (
        "already_registered"
    )
    no, line = run(
        DELIVERED,
        notice(Stage.REGISTRATION_REFUSED, reason=RefusalReason.WRONG_ADDRESSEE, text="не нам"),
    )
    assert no.stage == Stage.REGISTRATION_REFUSED and "wrong_addressee: не нам" in line
    assert refused(no, REGISTER) == "registration_refused"
    assert refused(
        no, notice(Stage.EXECUTOR_ASSIGNED, assignment=A1, deadline=TODAY, executor="X")
    ) == ("registration_refused")


# ------------------------------------------------------------------------------ assignments
def test_a_resolution_needs_a_registered_document_and_a_working_deadline() -> None:
    assign = notice(
        Stage.EXECUTOR_ASSIGNED, assignment=A1, deadline=dt.date(2026, 12, 15), executor="X"
    )
    assert refused(DELIVERED, assign) == "not_registered"
    sunday = replace(assign, deadline=dt.date(2026, 12, 13))
    with pytest.raises(NoticeRefused, match=r"2026-12-13 is a non-working day \(Sunday\)"):
        run(registered(), sunday)
    before = replace(assign, deadline=dt.date(2026, 11, 30))
    assert refused(registered(), before) == "deadline_before_registration"


def test_one_resolution_split_into_parts_that_end_no_later() -> None:
    doc = assigned()
    again = notice(
        Stage.EXECUTOR_ASSIGNED, assignment=str(uuid.uuid4()), deadline=TODAY, executor="Y"
    )
    assert refused(doc, again) == "already_assigned"
    part = replace(again, parent=A1, deadline=dt.date(2026, 12, 11))
    doc2, line = run(doc, part)
    assert len(doc2.assignments) == 2 and "(part of " in line
    assert doc2.deadline == dt.date(2026, 12, 15)  # the resolution's deadline still controls
    too_late = replace(
        again, assignment=str(uuid.uuid4()), parent=A1, deadline=dt.date(2026, 12, 16)
    )
    assert refused(doc, too_late) == "deadline_after_parent"
    orphan = replace(again, parent=str(uuid.uuid4()))
    assert refused(doc, orphan) == "unknown_assignment"
    assert refused(doc2, part) == "duplicate_assignment"


def test_only_who_set_a_deadline_may_change_it() -> None:
    doc = assigned()
    change = notice(
        Stage.DEADLINE_CHANGED,
        assignment=A1,
        old_deadline=dt.date(2026, 12, 15),
        deadline=dt.date(2026, 12, 22),
        text="смета не согласована",
    )
    moved, line = run(doc, change)
    assert moved.deadline == dt.date(2026, 12, 22)
    assert "2026-12-15 → 2026-12-22" in line and "смета не согласована" in line
    assert refused(doc, replace(change, person=PETROV)) == "not_the_deadline_setter"
    assert refused(doc, replace(change, old_deadline=dt.date(2026, 12, 14))) == "notice_mismatch"
    assert refused(doc, replace(change, deadline=dt.date(2026, 12, 31))) == (
        "deadline_not_working_day"
    )
    assert refused(doc, replace(change, assignment=str(uuid.uuid4()))) == "unknown_assignment"


# ------------------------------------------------------------------------------ execution
def test_progress_needs_an_executor_and_never_closes_control() -> None:
    assert refused(registered(), notice(Stage.IN_PROGRESS, text="в работе")) == "not_assigned"
    doc, _ = run(assigned(), notice(Stage.IN_PROGRESS, text="в работе"))
    assert refused(doc, notice(Stage.CONTROL_CLOSED)) == "not_executed"


def test_executed_needs_a_report_or_the_answer() -> None:
    doc = assigned()
    assert refused(doc, notice(Stage.EXECUTED)) == "no_report"
    answer_id = "33333333-3333-4333-8333-333333333333"
    good = Answer(answer_id, "response", RECIPIENT, DOC)
    executed = notice(Stage.EXECUTED, answer=answer_id)
    done, line = run(doc, executed, answer=good)
    assert done.answer == answer_id and f"answer {answer_id}" in line
    assert refused(doc, executed, answer=None) == "answer_not_found"
    assert refused(doc, executed, answer=replace(good, sender="dept.land")) == ("answer_not_found")
    assert refused(doc, executed, answer=replace(good, kind="request")) == "answer_not_found"
    prepared, _ = run(doc, notice(Stage.REPORT_PREPARED, text="доклад"))
    assert run(prepared, notice(Stage.EXECUTED))[0].report == "доклад"  # the prepared report
    assert refused(done, notice(Stage.EXECUTED, text="ещё раз")) == "already_executed"


def test_nothing_after_control_is_closed() -> None:
    doc, _ = run(assigned(), notice(Stage.EXECUTED, text="сделано"))
    doc, _ = run(doc, notice(Stage.CONTROL_CLOSED))
    assert refused(doc, notice(Stage.IN_PROGRESS, text="ещё")) == "control_closed"
