"""What the store decides about execution itself: an agency's answer is its execution."""

from __future__ import annotations

import uuid

from hub.abc import State
from hub.execution.policy import ExecutionPolicy
from hub.execution.settings import ExecutionConfig
from hub.records import Outgoing, Processed
from tests.support.stores import StoreSpot

POLICY = ExecutionPolicy.from_config(ExecutionConfig(), ["dept.finance", "dept.land"])


def accepted(sender: str, recipient: str, kind: str, correlation: str | None = None) -> Processed:
    message_id = str(uuid.uuid4())
    return Processed(
        message_id=message_id, state=State.ACCEPTED, envelope=b"<e/>", sender=sender,
        recipient=recipient, kind=kind, correlation_id=correlation, digest=message_id,
        outgoing=[Outgoing("smev", "ROSREESTR", b"<e/>")],
    )  # fmt: skip


async def test_an_agencys_answer_executes_the_request_a_departments_does_not(
    store_spot: StoreSpot,
) -> None:
    store = await store_spot.open(POLICY)
    try:
        to_agency = accepted("dept.land", "agency.rosreestr", "request")
        to_department = accepted("dept.land", "dept.finance", "request")
        await store.record_ingest([to_agency, to_department], [None, None], [None, None])
        answers = [
            accepted("agency.rosreestr", "dept.land", "response", to_agency.message_id),
            accepted("dept.finance", "dept.land", "response", to_department.message_id),
        ]
        await store.record_ingest(answers, [None, None], [None, None])
        agency = await store.document(to_agency.message_id)
        department = await store.document(to_department.message_id)
        events = await store.timeline(to_agency.message_id)
    finally:
        await store.close()
    assert agency is not None and agency.state.executed_on is not None
    assert agency.state.stage is not None and agency.state.stage.value == "executed"
    assert any(e.state == "executed" and "agency.rosreestr" in e.detail for e in events)
    # a department says so with a signed notice (hub doc execute), not by answering
    assert department is not None and department.state.executed_on is None
