"""One contract, two transports: what the pipeline relies on, tested against both."""

from __future__ import annotations

import asyncio
import time
import uuid

from hub.abc import Delivery, Transport
from hub.store.sqlite import SqliteStore as Store
from hub.transports.embedded import EmbeddedTransport
from hub.transports.rabbitmq import delay_bucket


def qname() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"


async def drain(transport: Transport, queue: str) -> list[Delivery]:
    got = []
    while (d := await transport.get(queue)) is not None:
        got.append(d)
    return got


async def test_publish_then_get_keeps_body_and_headers(transport: Transport) -> None:
    q = qname()
    await transport.declare_queue(q)
    await transport.publish(q, b"<a/>", {"message-id": "m1", "x": "y"})
    delivery = None
    for _ in range(50):
        delivery = await transport.get(q)
        if delivery:
            break
        await asyncio.sleep(0.05)
    assert delivery is not None
    assert delivery.body == b"<a/>"
    assert delivery.headers["x"] == "y"
    assert delivery.redelivered is False
    await delivery.ack()
    assert await transport.get(q) is None


async def test_consume_hands_over_every_message_once(transport: Transport) -> None:
    q = qname()
    await transport.declare_queue(q)
    seen: list[bytes] = []
    done = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        seen.append(delivery.body)
        await delivery.ack()
        if len(seen) == 20:
            done.set()

    await transport.consume(q, handler, prefetch=5)
    await asyncio.gather(*(transport.publish(q, str(i).encode()) for i in range(20)))
    await asyncio.wait_for(done.wait(), 10)
    await asyncio.sleep(0.2)
    assert sorted(seen, key=int) == [str(i).encode() for i in range(20)]


async def test_nack_with_requeue_redelivers(transport: Transport) -> None:
    q = qname()
    await transport.declare_queue(q)
    await transport.publish(q, b"again")
    first = None
    for _ in range(50):
        first = await transport.get(q)
        if first:
            break
        await asyncio.sleep(0.05)
    assert first is not None
    await first.nack(requeue=True)
    second = None
    for _ in range(50):
        second = await transport.get(q)
        if second:
            break
        await asyncio.sleep(0.05)
    assert second is not None
    assert second.body == b"again"
    assert second.delivery_count >= 2
    await second.ack()


async def test_delayed_publish_arrives_after_the_delay(transport: Transport) -> None:
    q = qname()
    await transport.declare_queue(q)
    start = time.monotonic()
    await transport.publish(q, b"later", delay=1)
    assert await transport.get(q) is None
    delivery = None
    while time.monotonic() - start < 10 and delivery is None:
        await asyncio.sleep(0.1)
        delivery = await transport.get(q)
    assert delivery is not None
    assert delivery.body == b"later"
    assert time.monotonic() - start >= 0.9
    await delivery.ack()


async def test_depth_counts_waiting_messages(transport: Transport) -> None:
    q = qname()
    await transport.declare_queue(q)
    for i in range(3):
        await transport.publish(q, str(i).encode())
    await asyncio.sleep(0.1)
    assert await transport.depth(q) == 3
    got = await drain(transport, q)
    for d in got:
        await d.ack()
    assert len(got) == 3


def test_delay_buckets_round_up_and_cap() -> None:
    assert delay_bucket(0.5) == 1
    assert delay_bucket(3) == 5
    assert delay_bucket(10) == 10
    assert delay_bucket(10**9) == 21600


async def test_a_priority_header_travels_with_the_message(transport: Transport) -> None:
    q = qname()
    await transport.declare_queue(q)
    await transport.publish(q, b"<urgent/>", {"priority": "7"})
    got = []
    for _ in range(50):
        got = await drain(transport, q)
        if got:
            break
        await asyncio.sleep(0.05)
    assert [(d.body, d.headers.get("priority")) for d in got] == [(b"<urgent/>", "7")]
    for delivery in got:
        await delivery.ack()


async def test_embedded_queues_hand_out_higher_priority_first(store: Store) -> None:
    """RabbitMQ 3.x quorum queues stay FIFO whatever the priority (the property is still set:
    tests/hub/test_rabbitmq_transport.py); the embedded queues honour it."""
    transport = EmbeddedTransport(store, poll_interval=0.01, lease=2.0)
    await transport.start()
    q = qname()
    await transport.declare_queue(q)
    for body, priority in ((b"low", "0"), (b"none", None), (b"top", "9"), (b"mid", "5")):
        await transport.publish(q, body, {"priority": priority} if priority else {})
    got = await drain(transport, q)
    assert [d.body for d in got] == [b"top", b"mid", b"low", b"none"]
    for delivery in got:
        await delivery.ack()
    await transport.close()
