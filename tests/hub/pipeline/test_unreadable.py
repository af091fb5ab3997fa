"""Every submission is answered, even one the hub cannot read.

It is on record (``hub trace``) under the id its submitter gave in the AMQP ``message_id``
property, and a signed ``rejected`` receipt goes to ``inbox.<user_id>`` (RabbitMQ checks
``user_id`` against the connection's user), else to the ``reply_to`` inbox, else to nobody, and
the timeline says so. On both transports: on the embedded one, the headers ``message-id``,
``user-id`` and ``reply-to`` stand for the properties.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest

from envelopes.parsing import parse_xml
from envelopes.signatures import verify_sender
from hub.abc import Delivery
from hub.ops import trace as ops_trace
from hub.pipeline.hub import Hub
from hub.pipeline.receipts import read_receipt
from hub.queues import INBOUND_QUEUE, inbox_queue, unparsed_id
from tests.hub.harness import (
    Deployment,
    drop_broker_user,
    new_broker_user,
    running_hub,
    wait_for_state,
)


@dataclass
class Submitter:
    """A department that submits as its own broker user (RabbitMQ) or through the store."""

    deployment: Deployment
    department: str
    url: str | None  # its own broker URL on RabbitMQ

    async def publish(
        self,
        hub: Hub,
        body: bytes,
        *,
        message_id: str | None = None,
        as_itself: bool = True,
        reply_to: str | None = None,
    ) -> None:
        """``as_itself``: with its participant id as ``user_id``; else as the broker's guest."""
        user = self.department if as_itself else "guest"
        if self.url is None:  # embedded: the publisher's headers stand for the properties
            headers = {"user-id": user, "source": "test"}
            if message_id:
                headers["message-id"] = message_id
            if reply_to:
                headers["reply-to"] = reply_to
            await hub.transport.publish(INBOUND_QUEUE, body, headers)
            return
        url = self.url if as_itself else self.deployment.config.broker_url
        connection = await aio_pika.connect(url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange("hub.submit", ensure=False)
            message = aio_pika.Message(
                body,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/xml",
                message_id=message_id,
                user_id=user,
                reply_to=reply_to,
            )
            await exchange.publish(message, routing_key="", mandatory=True)
        finally:
            await connection.close()


@pytest.fixture
async def submitter(deployment: Deployment) -> AsyncIterator[Submitter]:
    department = f"dept.t{uuid.uuid4().hex[:8]}"
    deployment.config.departments.append(department)  # it has an inbox here
    url = deployment.config.broker_url
    if not url:
        yield Submitter(deployment, department, None)
        return
    vhost = url.rsplit("/", 1)[1]
    password = uuid.uuid4().hex
    # the permissions docs/rabbitmq-topology.md gives a department
    permissions = ("^$", r"^hub\.submit$", rf"^inbox\.{re.escape(department)}$")
    if not new_broker_user(department, vhost, password, permissions):
        pytest.skip("rabbitmqctl is needed to make a broker user")
    try:
        yield Submitter(
            deployment, department, f"amqp://{department}:{password}@127.0.0.1:5672/{vhost}"
        )
    finally:
        drop_broker_user(department)


async def taken(hub: Hub, participant: str, expect: int, wait: float = 5.0) -> list[Delivery]:
    """What arrives in ``participant``'s inbox (``expect`` items, or what came in ``wait`` s)."""
    got: list[Delivery] = []
    deadline = asyncio.get_running_loop().time() + wait
    while len(got) < expect and asyncio.get_running_loop().time() < deadline:
        delivery = await hub.transport.get(inbox_queue(participant))
        if delivery is None:
            await asyncio.sleep(0.05)
            continue
        got.append(delivery)
        await delivery.ack()
    return got


def receipt_of(deployment: Deployment, delivery: Delivery) -> tuple[dict[str, Any], Any]:
    verified = verify_sender(parse_xml(delivery.body), deployment.trust())
    assert verified.envelope.header.sender == "hub.main"
    return read_receipt(verified.envelope.payload), verified.envelope.header


async def timeline(deployment: Deployment, message_id: str) -> list[tuple[str, str]]:
    trace = await ops_trace.trace(deployment.config, message_id)
    assert trace is not None, f"hub trace {message_id} knows nothing of it"
    return [(e["state"], e["detail"]) for e in trace["events"]]


async def test_an_unreadable_submission_is_kept_under_its_id_and_answered_to_its_user(
    deployment: Deployment, submitter: Submitter
) -> None:
    message_id = str(uuid.uuid4())
    department = submitter.department
    async with running_hub(deployment) as hub:
        await submitter.publish(hub, b"<not-xml", message_id=message_id)
        assert await wait_for_state(hub.store, message_id, {"rejected"}) == "rejected"
        (first,) = await taken(hub, department, 1)
        # the same bytes again: a duplicate, answered with the same receipt
        await submitter.publish(hub, b"<not-xml", message_id=message_id)
        (again,) = await taken(hub, department, 1)
        events = await timeline(deployment, message_id)
    receipt, header = receipt_of(deployment, first)
    assert receipt["message_id"] == message_id and receipt["state"] == "rejected"
    assert [code for code, _ in receipt["reasons"]] == ["malformed"]  # type: ignore[union-attr]
    assert str(header.correlation_id) == message_id and header.recipient == department
    assert first.headers["receipt-state"] == "rejected"
    assert again.headers["message-id"] == first.headers["message-id"]
    assert [s for s, _ in events][:2] == ["received", "rejected"]
    assert ("note", f"rejected receipt to {department} (AMQP user_id)") in events
    assert ("note", "resubmitted: same content, ignored") in events


async def test_reply_to_an_inbox_is_answered_when_user_id_names_nobody(
    deployment: Deployment, submitter: Submitter
) -> None:
    message_id = str(uuid.uuid4())
    department = submitter.department
    async with running_hub(deployment) as hub:
        await submitter.publish(
            hub,
            b"<Envelope>no header</Envelope>",
            message_id=message_id,
            as_itself=False,  # user_id guest: no participant
            reply_to=inbox_queue(department),
        )
        await wait_for_state(hub.store, message_id, {"rejected"})
        (delivery,) = await taken(hub, department, 1)
        events = await timeline(deployment, message_id)
    receipt, _ = receipt_of(deployment, delivery)
    assert receipt["message_id"] == message_id
    assert [code for code, _ in receipt["reasons"]] == ["envelope_invalid"]  # type: ignore[union-attr]
    assert ("note", f"rejected receipt to {department} (AMQP reply_to)") in events


async def test_a_submission_nobody_can_be_told_of_says_so_on_its_timeline(
    deployment: Deployment, submitter: Submitter
) -> None:
    body = f"<unreadable {uuid.uuid4()}".encode()
    async with running_hub(deployment) as hub:
        # no message_id; a reply_to that is no inbox: the hub publishes nowhere else
        await submitter.publish(hub, body, as_itself=False, reply_to=INBOUND_QUEUE)
        message_id = unparsed_id(body)
        await wait_for_state(hub.store, message_id, {"rejected"})
        events = await timeline(deployment, message_id)
        nothing = await taken(hub, submitter.department, 1, wait=0.5)
        inbound = await hub.transport.depth(INBOUND_QUEUE)
    assert nothing == [] and inbound == 0
    assert [s for s, _ in events] == ["received", "rejected", "note"]
    assert events[2][1].startswith("no receipt: neither the envelope nor the submission")


@pytest.mark.rabbitmq
@pytest.mark.parametrize("broker_url", ["rabbitmq"], indirect=True)
async def test_rabbitmq_refuses_a_user_id_other_than_the_connections_user(
    deployment: Deployment, submitter: Submitter
) -> None:
    """Why the hub may trust ``user_id``: the broker checks it."""
    async with running_hub(deployment) as hub:
        connection = await aio_pika.connect(deployment.config.broker_url)  # as guest
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange("hub.submit", ensure=False)
            claimed = aio_pika.Message(b"<not-xml", user_id=submitter.department)
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed, match="user_id"):
                await exchange.publish(claimed, routing_key="", mandatory=True)
        finally:
            await connection.close()
        assert await hub.transport.depth(INBOUND_QUEUE) == 0
