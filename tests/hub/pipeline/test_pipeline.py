"""The hub end to end, the same bodies on the embedded transport and on RabbitMQ."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from adapters.internal import InternalAdapter
from envelopes.codec import envelope_from_tree, new_envelope, to_bytes
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore
from envelopes.signatures import content_digest, verify_hub, verify_sender
from hub.abc import Adapter, AdapterContext, InboundMessage, OutboundMessage, Outcome
from hub.ops import inbox as ops_inbox
from hub.ops import trace as ops_trace
from hub.pipeline.hub import Hub
from hub.pipeline.receipts import RECEIPT_TYPE, read_receipt
from monitoring import metrics_of
from tests.hub.harness import MEMO, Deployment, running_hub, submit, wait_for_state


def trust(deployment: Deployment) -> TrustStore:
    return TrustStore.from_pem_files([deployment.pki / "ca.pem"])


async def take_inbox(
    deployment: Deployment, who: str, out: Path, wait: float = 3.0, expect: int | None = None
) -> list[ops_inbox.InboxItem]:
    """Everything in the inbox; with ``expect``, wait up to ``wait`` s for that many items."""
    items: list[ops_inbox.InboxItem] = []
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        items += await ops_inbox.inbox(deployment.config, who, out, None, 0.1)
        if expect is not None and len(items) >= expect:
            break
        if asyncio.get_running_loop().time() > deadline:
            break
    return items


async def test_a_signed_memo_arrives_countersigned_and_the_sender_gets_a_receipt(
    deployment: Deployment, tmp_path: Path
) -> None:
    async with running_hub(deployment) as hub:
        message_id, body = deployment.envelope("dept.finance", "dept.culture")
        await submit(hub, body)
        assert await wait_for_state(hub.store, message_id, {"delivered"}) == "delivered"
        got = await take_inbox(deployment, "dept.culture", tmp_path / "culture", expect=1)
        receipts = await take_inbox(deployment, "dept.finance", tmp_path / "finance", expect=1)
        # the receipt the sender holds is in the archive, by the digest of its bytes
        await hub.store.archive_integrate()
        leaves = await hub.store.archive_leaves_of([message_id])
        logged = [
            json.loads(s.data or b"")
            for s in await hub.store.archive_sources(leaves)
            if s.leaf.kind == "receipt"
        ]
    held = receipts[0].path.read_bytes()
    assert [(e["sha256"], e["size"], e["state"]) for e in logged] == [
        (hashlib.sha256(held).hexdigest(), len(held), "delivered")
    ]
    assert [i.message_id for i in got] == [message_id]
    delivered = parse_xml(got[0].path.read_bytes())
    store = trust(deployment)
    sender = verify_sender(delivered, store)
    assert sender.envelope.header.sender == "dept.finance"
    assert verify_hub(delivered, store, "hub.main").signer_id == "hub.main"
    assert len(receipts) == 1 and receipts[0].kind == "receipt"
    receipt_root = parse_xml(receipts[0].path.read_bytes())
    receipt = verify_sender(receipt_root, store)
    assert receipt.envelope.header.sender == "hub.main"
    assert receipt.envelope.header.message_type == RECEIPT_TYPE
    facts = read_receipt(receipt.envelope.payload)
    assert facts["message_id"] == message_id
    assert facts["state"] == "delivered"
    digest = content_digest(
        envelope_from_tree(parse_xml(body)).root.find(  # type: ignore[union-attr]
            "{urn:interagency-hub:envelope:1.0}Content"
        )
    )
    assert receipt_root.findtext(".//{urn:interagency-hub:receipt:1.0}EnvelopeSha256") == (
        __import__("base64").b64encode(digest).decode()
    )
    trace = await ops_trace.trace(deployment.config, message_id)
    assert trace is not None
    states = [e["state"] for e in trace["events"]]  # type: ignore[index, union-attr]
    assert states[:4] == ["received", "accepted", "routed", "delivered"]
    assert trace["state"] == "acknowledged"


async def test_rejections_name_their_cause_and_reach_the_sender(
    deployment: Deployment, tmp_path: Path
) -> None:
    async with running_hub(deployment) as hub:
        tampered_id, body = deployment.envelope()
        tampered = body.replace("арендной".encode(), "арендной (изм.)".encode(), 1)
        impostor_id, impostor = deployment.envelope(sign_as="dept.culture")
        await submit(hub, tampered)
        await submit(hub, impostor)
        await submit(hub, b"<not-xml")
        for mid in (tampered_id, impostor_id):
            await wait_for_state(hub.store, mid, {"rejected"})
        tampered_row = await hub.store.get_message(tampered_id)
        impostor_row = await hub.store.get_message(impostor_id)
        receipts = await take_inbox(deployment, "dept.finance", tmp_path / "r", expect=2)
        received = metrics_of(hub).registry.get_sample_value(
            "hub_messages_rejected_total", {"reason": "malformed"}
        )
    assert tampered_row is not None and "digest mismatch" in (tampered_row.reason or "")
    assert impostor_row is not None and "belongs to dept.culture" in (impostor_row.reason or "")
    assert received == 1.0
    states = sorted(
        read_receipt(
            verify_sender(parse_xml(r.path.read_bytes()), trust(deployment)).envelope.payload
        )["state"]  # type: ignore[arg-type]
        for r in receipts
    )
    assert states == ["rejected", "rejected"]


async def test_duplicate_submission_is_delivered_once_and_a_conflict_is_rejected(
    deployment: Deployment, tmp_path: Path
) -> None:
    async with running_hub(deployment) as hub:
        message_id, body = deployment.envelope()
        await submit(hub, body, "s1")
        await wait_for_state(hub.store, message_id, {"delivered"})
        await submit(hub, body, "s2")
        # same MessageId, other content (re-signed with another payload text)
        from uuid import UUID

        _, other = deployment.envelope(message_id=UUID(message_id), recipient="dept.land")
        await submit(hub, other, "s3")
        for _ in range(200):
            if await hub.store.submission("s3"):
                break
            await asyncio.sleep(0.02)
        s2 = await hub.store.submission("s2")
        s3 = await hub.store.submission("s3")
        got = await take_inbox(deployment, "dept.culture", tmp_path / "c", expect=1)
        land = await take_inbox(deployment, "dept.land", tmp_path / "l", wait=0.5)
        row = await hub.store.get_message(message_id)
    assert s2 is not None and s2[1] == "duplicate"
    assert s3 is not None and s3[1] == "conflict"
    assert [i.message_id for i in got] == [message_id]
    assert land == []
    assert row is not None and row.recipient == "dept.culture"


async def test_a_response_is_linked_to_its_request(deployment: Deployment) -> None:
    async with running_hub(deployment) as hub:
        request_id, body = deployment.envelope("dept.finance", "dept.culture")
        await submit(hub, body)
        await wait_for_state(hub.store, request_id, {"delivered"})
        from envelopes.model import Kind
        from tests.hub.harness import NOTICE

        response_id, answer = deployment.envelope(
            "dept.culture",
            "dept.finance",
            parse_xml(NOTICE.read_bytes()),
            kind=Kind.RESPONSE,
            correlation_id=request_id,
        )
        await submit(hub, answer)
        await wait_for_state(hub.store, request_id, {"answered"})
        answers = await hub.store.answers(request_id)
        timeline = await hub.store.timeline(request_id)
    assert answers == [response_id]
    assert any(e.state == "answered" and response_id in e.detail for e in timeline)


async def test_a_restart_in_the_middle_of_traffic_loses_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    envelopes = [deployment.envelope() for _ in range(120)]
    hub = Hub(deployment.config)
    await hub.start()
    for _, body in envelopes:
        await submit(hub, body)
    # stop while work is in flight
    for _ in range(200):
        states = await hub.store.count_by_state()
        if states.get("delivered", 0) >= 10:
            break
        await asyncio.sleep(0.01)
    await hub.stop()
    async with running_hub(deployment) as again:
        for message_id, _ in envelopes:
            await wait_for_state(again.store, message_id, {"delivered"}, timeout=60)
    got = await take_inbox(deployment, "dept.culture", tmp_path / "in", expect=len(envelopes))
    assert sorted(i.message_id for i in got) == sorted(m for m, _ in envelopes)


async def test_an_expired_message_is_not_delivered(deployment: Deployment, tmp_path: Path) -> None:
    async with running_hub(deployment) as hub:
        message_id, body = deployment.envelope(expires_in=-1)
        await submit(hub, body)
        state = await wait_for_state(hub.store, message_id, {"expired", "delivered"})
        got = await take_inbox(deployment, "dept.culture", tmp_path / "c", wait=0.5)
    assert state == "expired"
    assert got == []


async def test_a_refused_envelope_may_come_back_corrected_under_the_same_id(
    deployment: Deployment, tmp_path: Path
) -> None:
    from uuid import UUID

    async with running_hub(deployment) as hub:
        message_id, body = deployment.envelope(sign_as="dept.culture")  # wrong certificate
        await submit(hub, body, "first")
        await wait_for_state(hub.store, message_id, {"rejected"})
        _, corrected = deployment.envelope(message_id=UUID(message_id))
        await submit(hub, corrected, "second")
        await wait_for_state(hub.store, message_id, {"delivered"})
        timeline = [e.detail for e in await hub.store.timeline(message_id)]
        receipts = await take_inbox(deployment, "dept.finance", tmp_path / "r", expect=2)
    assert any("resubmitted with other content after rejection" in d for d in timeline)
    states = sorted(
        read_receipt(
            verify_sender(parse_xml(r.path.read_bytes()), trust(deployment)).envelope.payload
        )["state"]  # type: ignore[arg-type]
        for r in receipts
    )
    assert states == ["delivered", "rejected"]


class _Answering(Adapter):
    """An adapter that brings documents in and answers their senders when they are refused."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.refusals: list[tuple[str, str, list[tuple[str, str]], dict[str, str]]] = []
        self.context: AdapterContext | None = None

    async def start(self, context: AdapterContext) -> None:
        self.context = context

    async def deliver(self, message: OutboundMessage) -> Outcome:
        return Outcome.delivered("not used here")

    async def refused(
        self,
        message_id: str,
        state: str,
        reasons: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> None:
        self.refusals.append((message_id, state, reasons, dict(headers)))
        if self.fail:
            raise ConnectionError("the agency's side is down")


async def test_the_adapter_that_brought_a_refused_document_in_is_told(
    deployment: Deployment,
) -> None:
    answering, broken = _Answering(), _Answering(fail=True)
    async with running_hub(deployment, {"agencies": answering, "broken": broken}) as hub:
        refused_id, bad = deployment.envelope(sign_as="dept.culture")  # not the Sender's key
        accepted_id, good = deployment.envelope("dept.finance", "dept.culture")
        assert answering.context is not None and broken.context is not None
        await answering.context.submit(InboundMessage(bad, "test", {"message-id": refused_id}))
        await answering.context.submit(InboundMessage(good, "test", {"message-id": accepted_id}))
        await wait_for_state(hub.store, refused_id, {"rejected"})
        await wait_for_state(hub.store, accepted_id, {"delivered", "acknowledged"})
        # the same refusal again (a redelivery) is a duplicate: nobody is told twice
        await answering.context.submit(InboundMessage(bad, "test", {"message-id": refused_id}))
        failing_id, worse = deployment.envelope(sign_as="dept.culture")
        await broken.context.submit(InboundMessage(worse, "test", {"message-id": failing_id}))
        await wait_for_state(hub.store, failing_id, {"rejected"})
        for _ in range(100):
            notes = [e.detail for e in await hub.store.timeline(failing_id) if e.state == "note"]
            if notes:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    ((message_id, state, reasons, headers),) = answering.refusals
    assert (message_id, state) == (refused_id, "rejected")
    assert reasons and reasons[0][0] == "certificate_sender_mismatch"
    assert headers["adapter"] == "agencies" and headers["message-id"] == refused_id
    assert [r[0] for r in broken.refusals] == [failing_id]
    assert notes == [
        'broken: the sender could not be told (ConnectionError("the agency\'s side is down"))'
    ]


async def test_the_senders_priority_travels_to_the_inbox(deployment: Deployment) -> None:
    header, root = new_envelope(
        "dept.finance", "dept.culture", parse_xml(MEMO.read_bytes()), priority=7
    )
    deployment.signer("dept.finance").sign(root)
    async with running_hub(deployment) as hub:
        await submit(hub, to_bytes(root))
        await wait_for_state(hub.store, str(header.message_id), {"delivered"})
        delivery = None
        for _ in range(50):
            delivery = await hub.transport.get("inbox.dept.culture")
            if delivery is not None:
                break
            await asyncio.sleep(0.05)
        assert delivery is not None
        await delivery.ack()
    assert delivery.headers["message-id"] == str(header.message_id)
    assert delivery.headers["priority"] == "7"


class _HeldInbox(InternalAdapter):
    """The internal adapter, holding every delivery until the test lets go."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()
        self.waiting: list[str] = []

    async def deliver(self, message: OutboundMessage) -> Outcome:
        self.waiting.append(message.message_id)
        await self.go.wait()
        return await super().deliver(message)


async def test_batches_whose_deliveries_wait_do_not_keep_the_next_from_the_crypto_pool(
    deployment: Deployment,
) -> None:
    # a batch holds its place at the crypto pool only while it is there: batches waiting for
    # their deliveries (a slow broker, a slow inbox) must not stop new messages from being
    # checked and stored (they held the places until their receipts went, and the pool sat idle)
    held = _HeldInbox()
    async with running_hub(deployment, {"internal": held}) as hub:
        places = max(1, deployment.config.workers) + 1
        sent = []
        for count in range(1, places + 3):
            message_id, body = deployment.envelope("dept.finance", "dept.culture")
            await submit(hub, body)
            sent.append(message_id)
            for _ in range(200):  # each one alone in its batch, stuck at its delivery
                if len(held.waiting) == count:
                    break
                await asyncio.sleep(0.02)
            assert held.waiting == sent, f"message {count} never reached its delivery"
        for message_id in sent:  # each one checked and stored before its delivery
            assert await hub.store.get_message(message_id) is not None
        held.go.set()
        for message_id in sent:
            assert await wait_for_state(hub.store, message_id, {"delivered"}) == "delivered"
