"""The hub's own execution notices: registration on delivery, reminders, overdue — each once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from envelopes.parsing import parse_xml
from envelopes.signatures import verify_sender
from hub.abc import Stage
from hub.execution.calendar import WorkCalendar
from hub.execution.notices import Notice, read_notice
from hub.execution.settings import RegistrationConfig
from hub.ops import inbox as ops_inbox
from hub.ops import trace as ops_trace
from tests.hub.harness import (
    Deployment,
    document_on_control,
    running_hub,
    submit,
    wait_for_state,
)

SENDER, RECIPIENT = "dept.finance", "dept.culture"


async def notices_in(deployment: Deployment, who: str, folder: Path) -> list[Notice]:
    items = await ops_inbox.inbox(deployment.config, who, folder, None, 0.5)
    found = []
    for item in items:
        if item.kind != "notice":
            continue
        verified = verify_sender(parse_xml(item.path.read_bytes()), deployment.trust())
        assert verified.envelope.header.sender == "hub.main"  # the hub signs its own notices
        found.append(read_notice(verified.envelope.payload))
    return found


async def test_registration_on_delivery_tells_the_sender(
    deployment: Deployment, tmp_path: Path
) -> None:
    deployment.config.execution.registration[RECIPIENT] = RegistrationConfig(
        index="01-12", auto_register=True
    )
    async with running_hub(deployment) as hub:
        document_id, body = deployment.envelope(SENDER, RECIPIENT)
        await submit(hub, body)
        await wait_for_state(hub.store, document_id, {"delivered"})
        notices: list[Notice] = []
        for _ in range(40):
            notices += await notices_in(deployment, SENDER, tmp_path / "finance")
            if notices:
                break
        data = await ops_trace.trace(deployment.config, document_id)
        year = hub.policy.today().year % 100
    assert data is not None and data["execution"]["stage"] == "registered"
    assert data["execution"]["registration"]["number"].endswith(f"/{year:02d}")
    assert data["execution"]["registration"]["number"].startswith("01-12-")
    (notice,) = notices
    assert notice.stage == Stage.REGISTERED and notice.document == document_id
    assert notice.number == data["execution"]["registration"]["number"]
    assert notice.department == RECIPIENT


async def test_reminders_and_overdue_are_sent_once_per_deadline(
    deployment: Deployment, tmp_path: Path
) -> None:
    async with running_hub(deployment) as hub:
        today = hub.policy.today()
        soon, late = today + dt.timedelta(days=1), today - dt.timedelta(days=5)
        # make both deadlines working days, whatever today is
        calendar = WorkCalendar(extra_working_days=[soon, late])
        hub.policy.calendar = calendar
        hub.store.policy.calendar = calendar  # type: ignore[attr-defined]
        due_soon = await document_on_control(hub.store, soon)
        overdue = await document_on_control(hub.store, late)
        assert hub.control is not None
        assert await hub.control.scan() == (1, 1)
        assert await hub.control.scan() == (0, 0)  # told once per deadline
        to_recipient = await notices_in(deployment, RECIPIENT, tmp_path / "culture")
        to_sender = await notices_in(deployment, SENDER, tmp_path / "finance")
        soon_events = [e.state for e in await hub.store.timeline(due_soon)]
        late_events = [e for e in await hub.store.timeline(overdue) if e.state == "overdue"]
        data = await ops_trace.trace(deployment.config, overdue)
    assert sorted((n.stage.value, n.document) for n in to_recipient) == sorted(
        [("due_soon", due_soon), ("overdue", overdue)]
    )
    assert [(n.stage.value, n.document, n.days) for n in to_sender] == [("overdue", overdue, 5)]
    assert soon_events.count("due_soon") == 1
    assert len(late_events) == 1 and "passed" in late_events[0].detail
    assert data is not None and data["execution"]["overdue"] is True
