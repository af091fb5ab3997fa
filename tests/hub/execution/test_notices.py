"""Execution notices: every event written, valid against its schema, and read back the same."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from envelopes.errors import PayloadValidationError
from envelopes.schemas import SchemaRegistry
from hub.abc import Stage
from hub.execution.notices import (
    NOTICE_TYPE,
    Actor,
    Notice,
    RefusalReason,
    notice_element,
    read_notice,
)
from hub.schemas import hub_schema_dir

AT = dt.datetime(2026, 12, 7, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=3)))
BASE = {
    "document": "0b0e8e6e-1c4e-4f3b-9a57-1f0e2d3c4b5a",
    "department": "dept.culture",
    "at": AT,
    "person": Actor("Иванова А.А.", "начальник отдела"),
}
A1 = "11111111-1111-4111-8111-111111111111"
NOTICES = [
    Notice(
        stage=Stage.REGISTERED, number="01-12/345", date=dt.date(2026, 12, 7), journal="вх", **BASE
    ),  # type: ignore[arg-type]
    Notice(
        stage=Stage.REGISTRATION_REFUSED,
        reason=RefusalReason.INCOMPLETE,
        text="нет приложения 2",
        **BASE,
    ),  # type: ignore[arg-type]
    Notice(
        stage=Stage.EXECUTOR_ASSIGNED,
        assignment=A1,
        parent="22222222-2222-4222-8222-222222222222",
        deadline=dt.date(2026, 12, 15),
        urgency="operative",
        executor="Сидоров С.С.",
        co_executors=("Кузнецова К.К.", "Орлов О.О."),
        text="Подготовить смету",
        **BASE,  # type: ignore[arg-type]
    ),
    Notice(
        stage=Stage.DEADLINE_CHANGED,
        assignment=A1,
        old_deadline=dt.date(2026, 12, 15),
        deadline=dt.date(2026, 12, 22),
        text="смета не согласована",
        **BASE,  # type: ignore[arg-type]
    ),
    Notice(stage=Stage.IN_PROGRESS, text="запрошены сметы подрядчиков", **BASE),  # type: ignore[arg-type]
    Notice(stage=Stage.REPORT_PREPARED, assignment=A1, text="доклад готов", **BASE),  # type: ignore[arg-type]
    Notice(stage=Stage.EXECUTED, answer="33333333-3333-4333-8333-333333333333", **BASE),  # type: ignore[arg-type]
    Notice(stage=Stage.CONTROL_CLOSED, **BASE),  # type: ignore[arg-type]
    Notice(
        stage=Stage.DUE_SOON, deadline=dt.date(2026, 12, 15), days=2, **{**BASE, "person": None}
    ),  # type: ignore[arg-type]
    Notice(stage=Stage.OVERDUE, deadline=dt.date(2026, 12, 15), days=3, **{**BASE, "person": None}),  # type: ignore[arg-type]
]


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(hub_schema_dir())


@pytest.mark.parametrize("notice", NOTICES, ids=[n.stage.value for n in NOTICES])
def test_written_valid_and_read_back(registry: SchemaRegistry, notice: Notice) -> None:
    element = etree.fromstring(etree.tostring(notice_element(notice)))
    assert element.tag == NOTICE_TYPE
    registry.validate_payload(element)
    assert read_notice(element) == notice


def test_the_schema_holds_an_event_to_its_facts(registry: SchemaRegistry) -> None:
    element = notice_element(NOTICES[0])
    registered = element[-1]
    del registered.attrib["Number"]
    with pytest.raises(PayloadValidationError, match="Number"):
        registry.validate_payload(element)
    refused = notice_element(NOTICES[1])
    refused[-1].set("Reason", "did_not_like_it")
    with pytest.raises(PayloadValidationError):
        registry.validate_payload(refused)
