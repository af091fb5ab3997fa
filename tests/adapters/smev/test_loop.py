"""The whole way round, in an embedded hub (and once on RabbitMQ) against the SMEV simulator:

department → hub → SendRequest → simulator (playing the agency) → GetResponse → hub →
department inbox; faults and retries; redelivery until Ack; and the provider side (an agency's
request → department → SendResponse to ReplyTo).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapters.smev.adapter import SmevAdapter
from adapters.smev.errors import SmevError
from adapters.smev.simulator import SmevSimulator
from envelopes.model import Kind
from hub.abc import State
from hub.config import load_config
from hub.ops import inbox as ops_inbox
from hub.ops import trace as ops_trace
from hub.pipeline.hub import Hub
from hub.queues import INBOUND_QUEUE
from hub.scaffold import write_config
from tests.hub.conftest import require_broker
from tests.hub.harness import (
    DEPARTMENTS,
    Deployment,
    drop_vhost,
    make_deployment,
    new_vhost,
    wait_for_state,
)

from .conftest import EXAMPLES, GostPki

RULES = """\
# SMEV adapter tests: agencies are reached over SMEV; agencies may also ask departments.
rules:
  - name: agencies-over-smev
    priority: 100
    match:
      recipient: "agency.*"
    deliver:
      - adapter: smev
        address: ROSREESTR
access:
  rights:
    - name: smev-test-departments-to-agencies
      senders: "dept.*"
      recipients: "agency.*"
    - name: smev-test-agencies-to-departments
      senders: "agency.*"
      recipients: "dept.*"
"""

BASIC_NS = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.3"


def _xml(name: str) -> etree._Element:
    return etree.parse(str(EXAMPLES / name)).getroot()


def answer_extracts(content: etree._Element, message_type: str) -> etree._Element | None:
    """The simulated Rosreestr: every ExtractRequest gets the sample extract."""
    if message_type.endswith("}ExtractRequest"):
        return _xml("extract-response.xml")
    return None


@dataclass
class Loop:
    deployment: Deployment
    hub: Hub
    sim: SmevSimulator

    @property
    def adapter(self) -> SmevAdapter:
        adapter = self.hub.adapters["smev"]
        assert isinstance(adapter, SmevAdapter)
        return adapter

    async def send(self, payload: etree._Element, **kwargs: Any) -> str:
        message_id, body = self.deployment.envelope(
            "dept.land", "agency.rosreestr", payload, **kwargs
        )
        await self.hub.transport.publish(INBOUND_QUEUE, body, {"source": "test"})
        return message_id

    async def events(self, message_id: str) -> list[tuple[str, str]]:
        data = await ops_trace.trace(self.deployment.config, message_id)
        if data is None:  # not stored yet
            return []
        events = data["events"]
        assert isinstance(events, list)
        return [(e["state"], e["detail"]) for e in events]

    async def wait_event(self, message_id: str, text: str, timeout: float = 20) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if any(text in detail for _, detail in await self.events(message_id)):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"no event with {text!r} on {message_id}: {await self.events(message_id)}"
        )

    async def inbox(self, department: str = "dept.land", wait: float = 0.5) -> list[Any]:
        out = self.deployment.directory / "inbox" / department
        return await ops_inbox.inbox(self.deployment.config, department, out, None, wait)


@contextlib.asynccontextmanager
async def smev_hub(
    directory: Path,
    pki: GostPki,
    *,
    broker_url: str = "",
    responder: Any = answer_extracts,
    settings: str = "",
    **sim_options: Any,
) -> AsyncIterator[Loop]:
    sim = SmevSimulator(responder=responder, mnemonics={"hub-is": "HUB01"}, **sim_options)
    await sim.start()
    try:
        deployment = make_deployment(directory, broker_url, workers=0)
        ca = directory / "smev-simulator-ca.pem"
        assert sim.ca_pem is not None
        ca.write_bytes(sim.ca_pem)
        extra = f"""
[adapters.smev]
type = "smev"
url = "{sim.url}"
mnemonic = "HUB01"
key = "{pki.key}"
cert = "{pki.cert}"
trust = ["{ca}"]
poll_min = 0.05
poll_max = 0.3
request_timeout = 10
fault_retry_after = {{ DestinationOverflow = 0.1 }}
participants = {{ SIMAGENCY = "agency.rosreestr" }}
{settings}
"""
        path = write_config(
            directory,
            DEPARTMENTS,
            broker_url,
            metrics_address="127.0.0.1:0",
            api_address="127.0.0.1:0",
            extra=extra,
        )
        (directory / "routing_rules" / "smev-test.yaml").write_text(RULES, encoding="utf-8")
        config = load_config(path)
        config.workers = 0
        config.retry.base_delay = 0.3
        config.retry.jitter = 0.0
        deployment = Deployment(directory, path, config)
        hub = Hub(config)
        await hub.start()
        try:
            yield Loop(deployment, hub, sim)
        finally:
            await hub.stop()
    finally:
        await sim.stop()


async def _check_answered(loop: Loop, message_id: str) -> None:
    await wait_for_state(loop.hub.store, message_id, {State.ANSWERED}, timeout=30)
    items = await loop.inbox()
    responses = [i for i in items if i.kind == Kind.RESPONSE]
    assert [r.sender for r in responses] == ["agency.rosreestr"]
    text = responses[0].path.read_text("utf-8")
    assert "ExtractResponse" in text and message_id in text  # CorrelationId = the request
    await loop.wait_event(message_id, "SMEV: messageIsDelivered")
    events = await loop.events(message_id)
    details = " | ".join(d for _, d in events)
    assert "SMEV: requestIsQueued" in details
    assert (
        "answered",
        f"answered by {responses[0].message_id} (response from agency.rosreestr)",
    ) in [(s, d) for s, d in events]
    assert [r.message_type for r in loop.sim.sent_requests][-1].endswith("}ExtractRequest")


async def test_department_to_agency_and_back(tmp_path: Path, gost_pki: GostPki) -> None:
    async with smev_hub(tmp_path / "deploy", gost_pki, trust=gost_pki.ca) as loop:
        assert await loop.adapter.ping()
        message_id = await loop.send(_xml("extract-request.xml"))
        await _check_answered(loop, message_id)
        assert loop.sim.sent_requests[0].sender == "HUB01"  # our certificate was trusted


async def test_statuses_over_get_status(tmp_path: Path, gost_pki: GostPki) -> None:
    async with smev_hub(
        tmp_path / "deploy",
        gost_pki,
        settings="poll_statuses = true",
        status_channel="GetStatus",
    ) as loop:
        message_id = await loop.send(_xml("extract-request.xml"))
        await _check_answered(loop, message_id)
        assert ("GetStatus", None) in loop.sim.requests_received


async def test_overflow_is_retried_and_invalid_content_dead_lettered(
    tmp_path: Path, gost_pki: GostPki
) -> None:
    async with smev_hub(tmp_path / "deploy", gost_pki) as loop:
        loop.sim.overflow = True
        message_id = await loop.send(_xml("extract-request.xml"))
        await loop.wait_event(message_id, "DestinationOverflow")
        row = await loop.hub.store.get_message(message_id)
        assert row is not None and row.state == State.RETRY_SCHEDULED
        loop.sim.overflow = False
        await _check_answered(loop, message_id)

        # a payload SMEV's schema refuses (its own namespace under MessagePrimaryContent)
        odd = etree.Element(f"{{{BASIC_NS}}}Timestamp")
        odd.text = "2026-03-16T10:00:00+03:00"
        bad_id = await loop.send(odd)
        await wait_for_state(loop.hub.store, bad_id, {State.DEAD_LETTERED}, timeout=20)
        await loop.wait_event(bad_id, "InvalidContent")
        receipts = [i for i in await loop.inbox() if i.kind == Kind.RECEIPT]
        failed = [r for r in receipts if "<r:State>failed</r:State>" in r.path.read_text()]
        assert failed, "the department gets a 'failed' receipt"


async def test_redelivered_until_acked_and_handled_once(
    tmp_path: Path, gost_pki: GostPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with smev_hub(tmp_path / "deploy", gost_pki, lock_timeout=0.5) as loop:
        adapter = loop.adapter
        real_ack = adapter.ack
        failed: list[str] = []

        async def flaky_ack(smev_message_id: str, accepted: bool = True) -> None:
            if not failed:  # the first Ack is lost: SMEV hands the message out again
                failed.append(smev_message_id)
                raise SmevError("connection reset while acknowledging")
            await real_ack(smev_message_id, accepted)

        monkeypatch.setattr(adapter, "ack", flaky_ack)
        message_id = await loop.send(_xml("extract-request.xml"))
        await _check_answered(loop, message_id)
        for _ in range(100):  # the lost Ack's message comes again after lock_timeout
            if failed and failed[0] in [m for m, _ in loop.sim.acks]:
                break
            await asyncio.sleep(0.05)
        assert failed and failed[0] in [m for m, _ in loop.sim.acks]
        assert [m for m, _ in loop.sim.acks].count(failed[0]) == 1
        await asyncio.sleep(0.3)
        assert len([i for i in await loop.inbox(wait=0.2) if i.kind == Kind.RESPONSE]) == 0
        events = await loop.events(message_id)
        assert len([d for _, d in events if d.startswith("SMEV: response ")]) == 1


async def test_agency_request_to_department_and_the_answer_back(
    tmp_path: Path, gost_pki: GostPki
) -> None:
    settings = (
        "[adapters.smev.requests]\n"
        '"{urn:interagency-hub:payload:rosreestr-extract:1.0}ExtractRequest" = "dept.land"\n'
    )
    async with smev_hub(tmp_path / "deploy", gost_pki, responder=None, settings=settings) as loop:
        smev_id = loop.sim.inject_request(_xml("extract-request.xml"), sender_mnemonic="SIMAGENCY")
        request = None
        for _ in range(200):
            items = [i for i in await loop.inbox(wait=0.1) if i.kind == Kind.REQUEST]
            if items:
                request = items[0]
                break
        assert request is not None and request.sender == "agency.rosreestr"
        trace = " | ".join(d for _, d in await loop.events(request.message_id))
        assert "unsigned by agency.rosreestr: wrapped and signed by hub.main" in trace
        assert (smev_id, True) in loop.sim.acks
        answer_id, body = loop.deployment.envelope(
            "dept.land",
            "agency.rosreestr",
            _xml("extract-response.xml"),
            kind=Kind.RESPONSE,
            correlation_id=request.message_id,
        )
        await loop.hub.transport.publish(INBOUND_QUEUE, body, {"source": "test"})
        await wait_for_state(loop.hub.store, answer_id, {State.DELIVERED}, timeout=20)
        sent = loop.sim.responses_for(smev_id)
        assert len(sent) == 1
        assert sent[0].to == loop.sim.reply_to_for(smev_id)
        assert sent[0].kind == "content" and sent[0].message_type is not None
        assert sent[0].message_type.endswith("}ExtractResponse")
        await wait_for_state(loop.hub.store, request.message_id, {State.ANSWERED}, timeout=5)


async def test_an_agency_request_the_hub_refuses_gets_request_rejected(
    tmp_path: Path, gost_pki: GostPki
) -> None:
    settings = (
        "[adapters.smev.requests]\n"
        '"{urn:interagency-hub:payload:rosreestr-extract:1.0}ExtractRequest" = "dept.land"\n'
    )
    payload = _xml("extract-request.xml")
    missing = payload.find("{urn:interagency-hub:payload:rosreestr-extract:1.0}CadastralNumber")
    assert missing is not None
    payload.remove(missing)  # the payload schema requires it: the hub refuses the request
    async with smev_hub(tmp_path / "deploy", gost_pki, responder=None, settings=settings) as loop:
        smev_id = loop.sim.inject_request(payload, sender_mnemonic="SIMAGENCY")
        sent = []
        for _ in range(200):
            sent = loop.sim.responses_for(smev_id)
            if sent:
                break
            await asyncio.sleep(0.05)
        assert len(sent) == 1
        assert sent[0].kind == "rejected"
        assert sent[0].to == loop.sim.reply_to_for(smev_id)
        assert (smev_id, True) in loop.sim.acks  # taken in by the hub, then answered
        refused = [m for m, state in await _states(loop) if state == State.REJECTED]
        assert len(refused) == 1
        note = "SMEV: RequestRejected FAILURE sent to the requester"
        notes: list[str] = []
        for _ in range(200):  # recorded once SMEV has answered the SendResponse
            notes = [d for _, d in await loop.events(refused[0])]
            if note in notes:
                break
            await asyncio.sleep(0.05)
        assert note in notes
        assert any(d.startswith("payload_invalid") for d in notes)


async def _states(loop: Any) -> list[tuple[str, str]]:
    rows = await loop.hub.store.recent_messages(100_000)
    return [(r.message_id, r.state) for r in rows]


@pytest.fixture
def rabbit_url() -> Iterator[str]:
    require_broker()
    vhost = new_vhost()
    if vhost is None:
        pytest.skip("rabbitmqctl is needed to make a test vhost")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    drop_vhost(vhost)


@pytest.mark.rabbitmq
async def test_the_loop_on_rabbitmq(tmp_path: Path, gost_pki: GostPki, rabbit_url: str) -> None:
    async with smev_hub(tmp_path / "deploy", gost_pki, broker_url=rabbit_url) as loop:
        message_id = await loop.send(_xml("extract-request.xml"))
        await _check_answered(loop, message_id)
