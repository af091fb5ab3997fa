"""A document's whole life through ``hub doc``, against a running hub, on both transports.

The department signs each notice with its own key; the hub checks it against the document's
state in the store, records it on the document's timeline and forwards it to the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from envelopes.model import DocumentCard, Kind
from envelopes.parsing import parse_xml
from envelopes.signatures import verify_sender
from hub.cli import main
from hub.execution.notices import NOTICE_TYPE, read_notice
from hub.ops import inbox as ops_inbox
from hub.ops import trace as ops_trace
from hub.pipeline.hub import Hub
from tests.hub.api.support import Api, serving_api
from tests.hub.harness import NOTICE, Deployment, running_hub, submit, wait_for_state

CARD = DocumentCard(
    kind="letter",  # type: ignore[arg-type]
    title="О ремонте кровли ДК «Октябрь»",
    number="ФУ-01-123/26",
    date=dt.date(2026, 12, 1),
    urgency="operative",  # type: ignore[arg-type]
)


class Doc:
    """``hub doc`` as a department runs it next to the hub (``--config``: it opens the store)
    or on its own machine (``--url``/``--token``: over the API). In a thread: it has its own
    loop."""

    def __init__(
        self, deployment: Deployment, department: str = "dept.culture", api: Api | None = None
    ) -> None:
        self.deployment = deployment
        self.department = department
        self.api = api

    def __getitem__(self, department: str) -> Doc:
        return Doc(self.deployment, department, self.api)

    async def __call__(self, command: str, document_id: str, *args: str) -> Result:
        key = self.deployment.pki / f"{self.department}.key.pem"
        cert = self.deployment.pki / f"{self.department}.pem"
        argv = ["doc", command, document_id, *args, "--key", str(key), "--cert", str(cert)]
        if self.api is None:
            argv += ["--config", str(self.deployment.config_path)]
        else:  # the department's token; no hub.toml on its machine
            name = self.department.removeprefix("dept.")
            argv += ["--url", self.api.url, "--token", self.api.tokens[name]]
            argv += ["--config", "/nonexistent/hub.toml"]
        return await asyncio.to_thread(CliRunner().invoke, main, argv)

    def hidden(self, code: str) -> str:
        """The API does not tell a caller about documents it may not read."""
        return code if self.api is None else "not_found"


@contextlib.asynccontextmanager
async def serving(deployment: Deployment, via: str) -> AsyncIterator[tuple[Hub, Doc]]:
    """The hub, and ``hub doc`` the way ``via`` says (store or api)."""
    async with running_hub(deployment) as hub:
        if via == "store":
            yield hub, Doc(deployment)
            return
        async with serving_api(hub, deployment) as api:
            yield hub, Doc(deployment, api=api)


@pytest.fixture(params=["store", "api"])
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def accepted(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    notice_id, state = result.stdout.split()
    assert state in ("delivered", "routed", "accepted"), result.stdout
    return notice_id


def rejected(result: Result, code: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout.split()[1] == "rejected"
    assert f": {code}: " in result.stderr or f" {code}: " in result.stderr, result.stderr


async def execution(deployment: Deployment, message_id: str) -> dict[str, Any]:
    data = await ops_trace.trace(deployment.config, message_id)
    assert data is not None
    result: dict[str, Any] = data["execution"]
    return result


async def test_register_assign_extend_execute_close(
    deployment: Deployment, tmp_path: Path, via: str
) -> None:
    async with serving(deployment, via) as (hub, doc):
        document_id, body = deployment.envelope("dept.finance", "dept.culture", card=CARD)
        await submit(hub, body)
        await wait_for_state(hub.store, document_id, {"delivered"})
        before = await execution(deployment, document_id)
        assert before["stage"] is None and before["registration"] is None
        assert before["deadline"] is None and before["overdue"] is None
        assert before["card"]["title"] == CARD.title

        # registration: a number from the journal, once
        result = await doc("register", document_id)
        accepted(result)
        assert "note: № 1/26 from journal incoming" in result.stderr
        state = await execution(deployment, document_id)
        assert state["stage"] == "registered"
        assert state["registration"]["number"] == "1/26"
        assert state["registration"]["journal"] == "incoming"
        rejected(await doc("register", document_id, "--number", "77"), "already_registered")

        # a resolution: the card says operative, so 10 days, moved back to a working day
        result = await doc(
            "assign", document_id, "--executor", "Иванова А.А.", "--co-executor", "Орлов О.О.",
            "--person", "Петров П.П.",
        )  # fmt: skip
        accepted(result)
        assert "operative from the registration date" in result.stderr
        state = await execution(deployment, document_id)
        deadline = dt.date.fromisoformat(state["deadline"])
        assert state["executor"] == "Иванова А.А." and state["on_control"] is True
        assert state["overdue"] is False
        assert deadline.weekday() < 5

        # only whoever set the deadline moves it
        later = (deadline + dt.timedelta(days=7)).isoformat()
        rejected(
            await doc("extend", document_id, "--deadline", later, "--reason", "смета",
                      "--person", "Сидоров С.С."),
            "not_the_deadline_setter",
        )  # fmt: skip
        accepted(
            await doc("extend", document_id, "--deadline", later, "--reason", "смета",
                      "--person", "Петров П.П.")
        )  # fmt: skip
        state = await execution(deployment, document_id)
        assert state["deadline_changes"][0]["reason"] == "смета"
        assert state["deadline_changes"][0]["old"] == deadline.isoformat()

        # progress does not close control; execution with the answer does
        accepted(await doc("progress", document_id, "--text", "запрошены сметы"))
        rejected(await doc("close", document_id), "not_executed")
        reply_id, reply = deployment.envelope(
            "dept.culture", "dept.finance", parse_xml(NOTICE.read_bytes()),
            kind=Kind.RESPONSE, correlation_id=document_id,
        )  # fmt: skip
        await submit(hub, reply)
        await wait_for_state(hub.store, reply_id, {"delivered"})
        accepted(await doc("execute", document_id, "--answer", reply_id))
        state = await execution(deployment, document_id)
        assert state["stage"] == "executed" and state["executed_on_time"] is True
        assert state["answer"] == reply_id and state["on_control"] is False
        accepted(await doc("close", document_id))
        state = await execution(deployment, document_id)
        assert state["stage"] == "control_closed" and state["closed_at"] is not None
        rejected(await doc("progress", document_id, "--text", "ещё"), "control_closed")

        trace = await ops_trace.trace(deployment.config, document_id)
        assert trace is not None
        kinds = [(e["kind"], e["state"]) for e in trace["events"]]
        assert ("transport", "delivered") in kinds
        execution_stages = [s for k, s in kinds if k == "execution"]
        assert execution_stages == [
            "registered", "executor_assigned", "deadline_changed", "in_progress",
            "executed", "control_closed",
        ]  # fmt: skip
        assert trace["state"] == "answered"  # the transport state is its own

        # the sender followed it all: the notices came to its inbox, signed by culture
        items = await ops_inbox.inbox(deployment.config, "dept.finance", tmp_path / "f", None, 1.0)
    notices = [i for i in items if i.kind == "notice"]
    assert len(notices) == 6
    stages = []
    for item in notices:
        verified = verify_sender(parse_xml(item.path.read_bytes()), deployment.trust())
        assert verified.envelope.header.sender == "dept.culture"
        assert verified.envelope.header.message_type == NOTICE_TYPE
        stages.append(read_notice(verified.envelope.payload).stage.value)
    assert sorted(stages) == sorted(execution_stages)


async def test_a_forged_or_foreign_notice_is_refused(deployment: Deployment, via: str) -> None:
    async with serving(deployment, via) as (hub, doc):
        document_id, body = deployment.envelope("dept.finance", "dept.culture", card=CARD)
        await submit(hub, body)
        await wait_for_state(hub.store, document_id, {"delivered"})
        # dept.land signs a notice about a document it did not receive
        land = doc["dept.land"]
        rejected(await land("register", document_id), land.hidden("not_the_recipient"))
        rejected(await doc("register", str(uuid.uuid4())), doc.hidden("unknown_document"))
        # the sender registering what it sent
        rejected(await doc["dept.finance"]("register", document_id), "not_the_recipient")
        # refusing registration, then registering, is refused
        accepted(await doc("refuse", document_id, "--reason", "wrong_addressee"))
        rejected(await doc("register", document_id), "registration_refused")
        state = await execution(deployment, document_id)
        assert state["stage"] == "registration_refused" and state["refusal"] == "wrong_addressee"


async def test_the_same_notice_twice_is_one_event(deployment: Deployment) -> None:
    from hub.abc import Stage
    from hub.execution.policy import ExecutionPolicy
    from hub.ops.connection import connect
    from hub.ops.documents import NoticeRequest, build_notice, notice_envelope

    async with running_hub(deployment) as hub:
        document_id, body = deployment.envelope("dept.finance", "dept.culture")
        await submit(hub, body)
        await wait_for_state(hub.store, document_id, {"delivered"})
        policy = ExecutionPolicy.from_config(
            deployment.config.execution, deployment.config.departments
        )
        async with connect(deployment.config) as (store, _):
            prepared = await build_notice(
                store,
                policy,
                "dept.culture",
                document_id,
                NoticeRequest(Stage.REGISTERED, number="5"),
            )
        notice_id, signed = notice_envelope(deployment.signer("dept.culture"), prepared)
        await submit(hub, signed)
        await wait_for_state(hub.store, notice_id, {"delivered"})
        await submit(hub, signed)  # a replay: the same MessageId, the same bytes
        tampered = signed.replace(b'Number="5"', b'Number="6"')
        assert tampered != signed
        forged_id = str(uuid.uuid4())
        await submit(hub, tampered.replace(notice_id.encode(), forged_id.encode()))
        await wait_for_state(hub.store, forged_id, {"rejected"})
        for _ in range(100):
            timeline = await hub.store.timeline(notice_id)
            if any("same content" in e.detail for e in timeline):
                break
            await asyncio.sleep(0.05)
        events = await hub.store.timeline(document_id)
    assert [e.state for e in events].count("registered") == 1
    forged = await ops_trace.trace(deployment.config, forged_id)
    assert forged is not None and "signature" in (forged["reason"] or "")
