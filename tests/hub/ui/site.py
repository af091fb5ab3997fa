"""A hub with the managers' page and a little of a city's day in it, for the page's tests:
users of every role, a document registered and assigned, one overdue, a dead letter."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from envelopes.model import DocumentCard
from envelopes.signatures import Signer
from hub.abc import Stage
from hub.ops.documents import NoticeRequest, send_notice
from hub.ops.users import create_user
from hub.pipeline.hub import Hub
from tests.hub.api.support import Api, serving_api
from tests.hub.harness import (
    Deployment,
    FlakyAdapter,
    route_agencies_to,
    running_hub,
    submit,
    tune_retries,
    wait_for_state,
)

PASSWORD = "correct horse battery"
USERS = {  # name: (role, department, display name)
    "culture": ("manager", "dept.culture", "Петров П.П."),
    "land": ("manager", "dept.land", "Земельный Г.Г."),
    "head": ("auditor", None, "Глава администрации"),
    "admin": ("admin", None, "Администратор"),
}
NAMES = {
    "dept.finance": "Финансовое управление",
    "dept.culture": "Управление культуры",
    "dept.land": "Комитет по земельным отношениям",
}
MEMO_TITLE = "О ремонте кровли ДК «Октябрь»"
LATE_TITLE = "О графике отпусков"


@dataclass
class Site:
    hub: Hub
    api: Api
    deployment: Deployment
    flaky: FlakyAdapter
    memo: str = ""  # finance → culture, registered and assigned
    late: str = ""  # finance → culture, overdue
    lost: str = ""  # finance → agency.remote, a dead letter
    memo_number: str = ""
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.api.url


async def _notice(hub: Hub, deployment: Deployment, document: str, request: NoticeRequest) -> str:
    signer = Signer.from_files(
        str(deployment.pki / "dept.culture.key.pem"), str(deployment.pki / "dept.culture.pem")
    )
    result, _ = await send_notice(
        hub.store, hub.transport, hub.policy, signer, document, request, wait=10
    )
    assert result.state != "rejected", result.reason
    return result.message_id


@contextlib.asynccontextmanager
async def city(deployment: Deployment) -> AsyncIterator[Site]:
    deployment.config.names = dict(NAMES)
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment, max_attempts=1)
    flaky = FlakyAdapter("refuse")
    async with (
        running_hub(deployment, {"flaky": flaky}) as hub,
        serving_api(hub, deployment) as api,
    ):
        for name, (role, department, display) in USERS.items():
            await create_user(hub.store, name, role, PASSWORD, department, display, "test")
        site = Site(hub, api, deployment, flaky)
        today = hub.policy.today()
        card = DocumentCard(kind="letter", title=MEMO_TITLE, number="ФУ-01-123/26",  # type: ignore[arg-type]
                            date=today, urgency="operative")  # type: ignore[arg-type]  # fmt: skip
        site.memo, body = deployment.envelope("dept.finance", "dept.culture", card=card)
        await submit(hub, body)
        late_card = DocumentCard(kind="order", title=LATE_TITLE, number="ФУ-01-99/26",  # type: ignore[arg-type]
                                 date=today - dt.timedelta(days=40))  # fmt: skip
        site.late, body = deployment.envelope("dept.finance", "dept.culture", card=late_card)
        await submit(hub, body)
        site.lost, body = deployment.envelope("dept.finance", "agency.remote")
        await submit(hub, body)
        for message_id in (site.memo, site.late):
            await wait_for_state(hub.store, message_id, {"delivered"})
        await wait_for_state(hub.store, site.lost, {"dead_lettered"})
        await _notice(
            hub, deployment, site.memo, NoticeRequest(Stage.REGISTERED, person="Сидорова А.А.")
        )
        await _notice(
            hub, deployment, site.memo,
            NoticeRequest(Stage.EXECUTOR_ASSIGNED, person="Петров П.П.", executor="Иванова А.А.",
                          text="Подготовить смету"),
        )  # fmt: skip
        record = await hub.store.document(site.memo)
        assert record is not None and record.state.number is not None
        site.memo_number = record.state.number
        due = hub.policy.calendar.previous_working_day(today - dt.timedelta(days=5))
        await _notice(
            hub, deployment, site.late,
            NoticeRequest(Stage.REGISTERED, number="К-77/26", date=due - dt.timedelta(days=20)),
        )  # fmt: skip
        await _notice(
            hub, deployment, site.late,
            NoticeRequest(Stage.EXECUTOR_ASSIGNED, executor="Орлов О.О.", deadline=due),
        )  # fmt: skip
        assert hub.control is not None
        await hub.control.scan()
        yield site
