"""The RabbitMQ transport beyond the contract: coalesced acks, bounded publishes, priorities."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractIncomingMessage

from hub.abc import Delivery
from hub.transports.publish_batch import PublishCoalescer
from hub.transports.rabbitmq import AckCoalescer, RabbitDelivery, RabbitTransport
from tests.hub.conftest import require_broker


# ------------------------------------------------------------ the coalescing rule, frame by frame
@dataclass
class FakeChannel:
    acks: list[tuple[int, bool]] = field(default_factory=list)
    nacks: list[int] = field(default_factory=list)
    is_closed: bool = False

    async def basic_ack(self, tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.acks.append((tag, multiple))


@dataclass
class FakeMessage:
    channel: FakeChannel
    delivery_tag: int
    body: bytes = b""
    headers: dict[str, Any] = field(default_factory=dict)
    redelivered: bool = False

    async def nack(self, requeue: bool = True) -> None:
        self.channel.nacks.append(self.delivery_tag)

    async def ack(self) -> None:  # the uncoalesced path
        self.channel.acks.append((self.delivery_tag, False))


def deliveries(channel: FakeChannel, acks: AckCoalescer, tags: range) -> list[RabbitDelivery]:
    return [
        RabbitDelivery(cast(AbstractIncomingMessage, FakeMessage(channel, t)), acks) for t in tags
    ]


async def settle() -> None:
    for _ in range(3):  # the flush runs on the next loop iteration, the send after it
        await asyncio.sleep(0)


async def test_a_settled_batch_is_one_multiple_ack() -> None:
    channel, acks = FakeChannel(), AckCoalescer()
    batch = deliveries(channel, acks, range(1, 33))
    await asyncio.gather(*(d.ack() for d in batch))
    await settle()
    assert channel.acks == [(32, True)]


async def test_a_message_in_hand_splits_the_run_and_is_not_acked() -> None:
    channel, acks = FakeChannel(), AckCoalescer()
    batch = deliveries(channel, acks, range(1, 11))
    await asyncio.gather(*(d.ack() for d in batch if d is not batch[3]))  # tag 4 still in hand
    await settle()
    assert channel.acks == [(3, True), *((t, False) for t in range(5, 11))]
    await batch[3].ack()
    await settle()
    assert channel.acks[-1] == (4, True)


async def test_a_nacked_message_no_longer_blocks_the_run() -> None:
    channel, acks = FakeChannel(), AckCoalescer()
    batch = deliveries(channel, acks, range(1, 6))
    await batch[0].nack()
    await asyncio.gather(*(d.ack() for d in batch[1:]))
    await settle()
    assert channel.nacks == [1]
    assert channel.acks == [(5, True)]
    await batch[0].ack()  # a second answer would close the channel: ignored
    await batch[1].nack()
    await settle()
    assert channel.acks == [(5, True)] and channel.nacks == [1]


async def test_a_gap_in_tags_turns_coalescing_off() -> None:
    channel, acks = FakeChannel(), AckCoalescer()
    first = deliveries(channel, acks, range(1, 3))
    later = deliveries(channel, acks, range(5, 7))  # tags 3 and 4 never came through here
    await asyncio.gather(*(d.ack() for d in first + later))
    await settle()
    # 1 and 2 in one multiple ack; 5 and 6 one by one (a multiple ack of 6 would cover 3 and 4)
    assert sorted(channel.acks) == [(2, True), (5, False), (6, False)]


async def test_a_new_channel_starts_afresh_and_old_tags_are_dropped() -> None:
    old, new, acks = FakeChannel(), FakeChannel(), AckCoalescer()
    stale = deliveries(old, acks, range(1, 3))
    fresh = deliveries(new, acks, range(1, 3))  # a reconnect: tags count from 1 again
    old.is_closed = True
    await stale[0].ack()  # must not ack the new channel's tag 1
    await settle()
    assert new.acks == [] and old.acks == []
    await asyncio.gather(*(d.ack() for d in fresh))
    await settle()
    assert new.acks == [(2, True)]


class BrokerChannel:
    """A channel as the broker keeps it: the outstanding tags, and a write queue of one frame
    that the connection drains a frame per loop turn (aiormq's holds 10, and fills under load).
    An ack of a tag that is not outstanding closes the channel, as RabbitMQ does."""

    def __init__(self, tags: range) -> None:
        self.outstanding = set(tags)
        self.acks: list[tuple[int, bool]] = []
        self.error: str | None = None
        self.is_closed = False
        self.write_queue: asyncio.Queue[tuple[int, bool]] = asyncio.Queue(maxsize=1)
        self._writer = asyncio.ensure_future(self._write())

    async def basic_ack(self, tag: int, multiple: bool = False, wait: bool = True) -> None:
        await self.write_queue.put((tag, multiple))

    async def _write(self) -> None:
        while True:
            tag, multiple = await self.write_queue.get()
            self.acks.append((tag, multiple))
            if tag not in self.outstanding and self.error is None:
                self.error = f"PRECONDITION_FAILED - unknown delivery tag {tag}"
            self.outstanding -= {t for t in self.outstanding if t <= tag} if multiple else {tag}
            await asyncio.sleep(0)

    def close(self) -> None:
        self._writer.cancel()


async def test_acks_reach_the_broker_in_the_order_they_were_decided() -> None:
    """Batches settle out of order (two workers): those after a message in hand are acked one
    by one; later a multiple ack covers them too. Through a full write queue it must not
    overtake them (it did: the broker closed the consumer's channel on an unknown tag)."""
    channel, acks = BrokerChannel(range(1, 61)), AckCoalescer()
    fake = cast(FakeChannel, channel)
    first = deliveries(fake, acks, range(1, 41))
    try:
        await asyncio.gather(*(d.ack() for d in first[:4] + first[20:]))  # 5..20 in hand
        await asyncio.sleep(0)  # the flush: 1..4 in one ack, 21..40 one by one
        later = deliveries(fake, acks, range(41, 61))  # the next batch arrives
        await asyncio.gather(*(d.ack() for d in first[4:20] + later))  # both batches done
        for _ in range(500):  # every frame written (22 when coalesced as it should be)
            if channel.error or (channel.write_queue.empty() and len(channel.acks) >= 22):
                break
            await asyncio.sleep(0)
        assert channel.error is None, (channel.error, channel.acks)
        assert channel.outstanding == set()
        assert channel.acks == [(4, True), *((t, False) for t in range(21, 41)), (60, True)]
    finally:
        channel.close()


# ----------------------------------------------------------------- the same against RabbitMQ
@pytest.fixture
async def broker() -> AsyncIterator[str]:
    from tests.hub.harness import drop_vhost, new_vhost

    require_broker()
    vhost = new_vhost()
    if vhost is None:
        pytest.skip("rabbitmqctl is needed to make a test vhost")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    drop_vhost(vhost)


async def held_until_all_arrive(url: str, queue: str, count: int) -> tuple[Any, list[Delivery]]:
    transport = RabbitTransport(url)
    await transport.start()
    await transport.declare_queue(queue)
    await asyncio.gather(*(transport.publish(queue, str(i).encode()) for i in range(count)))
    held: list[Delivery] = []
    arrived = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        held.append(delivery)
        if len(held) == count:
            arrived.set()

    await transport.consume(queue, handler, prefetch=count)
    await asyncio.wait_for(arrived.wait(), 10)
    return transport, held


async def redelivered(url: str, queue: str) -> list[bytes]:
    transport = RabbitTransport(url)
    await transport.start()
    try:
        got = []
        for _ in range(20):
            delivery = await transport.get(queue)
            if delivery is None:
                if got:
                    break
                await asyncio.sleep(0.05)
                continue
            got.append(delivery.body)
            await delivery.ack()
        return sorted(got)
    finally:
        await transport.close()


@pytest.mark.rabbitmq
async def test_broker_keeps_exactly_the_unacked_message(broker: str) -> None:
    queue = f"test.acks.{uuid.uuid4().hex[:8]}"
    transport, held = await held_until_all_arrive(broker, queue, 40)
    keep = next(d for d in held if d.body == b"7")
    await asyncio.gather(*(d.ack() for d in held if d is not keep))
    await asyncio.sleep(0.3)
    await transport.close()  # what is not acked by now goes back to the queue
    assert await redelivered(broker, queue) == [b"7"]


@pytest.mark.rabbitmq
async def test_broker_sees_every_ack_when_they_come_out_of_order(broker: str) -> None:
    queue = f"test.acks.{uuid.uuid4().hex[:8]}"
    transport, held = await held_until_all_arrive(broker, queue, 30)
    await asyncio.gather(*(d.ack() for d in held[1::2]))
    await asyncio.sleep(0.05)
    await held[4].nack(requeue=False)  # off to hub.dead, not back to the queue
    await asyncio.gather(*(d.ack() for d in held[0::2]))
    await asyncio.sleep(0.3)
    await transport.close()
    assert await redelivered(broker, queue) == []


@pytest.mark.rabbitmq
async def test_a_publish_while_the_broker_is_away_fails_within_its_bound(broker: str) -> None:
    from tests.support.tcp_proxy import TcpProxy

    proxy = TcpProxy("127.0.0.1", 5672)
    await proxy.start()
    url = broker.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
    transport = RabbitTransport(url, publish_timeout=1.0)
    await transport.start()
    try:
        await transport.declare_queue("test.bounded")
        await transport.publish("test.bounded", b"before")
        cut = asyncio.create_task(proxy.cut(4))
        await asyncio.sleep(0.2)
        for _ in range(2):  # the first sees the channel close; the second waits for a reconnect
            started = asyncio.get_running_loop().time()
            with pytest.raises((TimeoutError, ConnectionError, aiormq.exceptions.AMQPError)):
                await transport.publish("test.bounded", b"during")
            assert asyncio.get_running_loop().time() - started < 1.8
        await cut
        for _ in range(100):  # the robust connection comes back by itself
            try:
                await transport.publish("test.bounded", b"after")
                break
            except (TimeoutError, ConnectionError, aiormq.exceptions.AMQPError):
                await asyncio.sleep(0.1)
        else:
            pytest.fail("publishing did not recover after the broker came back")
    finally:
        await transport.close()
        await proxy.stop()


@pytest.mark.rabbitmq
async def test_a_priority_header_becomes_the_amqp_priority(broker: str) -> None:
    transport = RabbitTransport(broker)
    await transport.start()
    try:
        await transport.declare_queue("test.priority")
        await transport.publish("test.priority", b"<urgent/>", {"priority": "8"})
        await transport.publish("test.priority", b"<odd/>", {"priority": "high"})
    finally:
        await transport.close()
    connection = await aio_pika.connect(broker)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue("test.priority")
        got = []
        for _ in range(50):
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                got.append((message.body, message.priority or 0))
                if len(got) == 2:
                    break
            else:
                await asyncio.sleep(0.05)
    finally:
        await connection.close()
    assert got == [(b"<urgent/>", 8), (b"<odd/>", 0)]  # not a digit: no priority


@pytest.mark.rabbitmq
@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "one-by-one"])
async def test_a_nacked_publish_moves_the_next_ones_to_a_fresh_channel(
    broker: str, coalesce: bool
) -> None:
    """A nack may mean the channel's view of a quorum queue is stale (a cluster node died):
    the publish fails, the next go through a new channel, the old one is closed later. The
    broker nacks for real here: a queue that holds one message and refuses more."""
    full = f"test.renew.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(broker)
    channel = await connection.channel()
    queue = await channel.declare_queue(
        full, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    )
    transport = RabbitTransport(broker, publish_timeout=0.5, coalesce_publishes=coalesce)
    await transport.start()
    transport._declared.add(full)  # declared above, with the arguments that make it refuse
    try:
        await transport.publish(full, b"first")
        first = transport._underlay
        assert first is not None
        with pytest.raises(aiormq.exceptions.DeliveryError) as refused:
            await transport.publish(full, b"refused")
        assert isinstance(refused.value.frame, aiormq.spec.Basic.Nack)
        await queue.purge()
        await transport.publish(full, b"second")
        assert transport._underlay not in (None, first)
        await asyncio.sleep(0.8)
        assert first.is_closed  # once its confirms had time to come
        message = await queue.get(no_ack=True)
        assert message is not None and message.body == b"second"
    finally:
        await transport.close()
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()


# ------------------------------------------------- publishes coalesced into one write per loop turn
@dataclass
class WriteChannel:
    """What ``PublishCoalescer`` uses of an aiormq channel, and nothing else."""

    write_queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    delivery_tag: int = 0
    confirmations: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    message_id_delivery_tag: dict[str, int] = field(default_factory=dict)
    number: int = 1
    max_content_size: int = 1000
    is_closed: bool = False

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()


async def test_publishes_of_one_loop_turn_are_one_write_with_a_tag_each() -> None:
    channel, coalescer = WriteChannel(), PublishCoalescer(1.0)
    assert coalescer.supports(channel)
    publishes = [
        asyncio.ensure_future(coalescer.publish(channel, f"<{i}>".encode(), f"m{i}"))
        for i in range(3)
    ]
    written = await asyncio.wait_for(channel.write_queue.get(), 1)
    assert written.payload == b"<0><1><2>" and channel.write_queue.empty()
    assert sorted(channel.confirmations) == [1, 2, 3]
    assert channel.message_id_delivery_tag == {"m0": 1, "m1": 2, "m2": 3}
    for tag, confirmation in channel.confirmations.items():
        confirmation.set_result(f"ack {tag}")
    assert await asyncio.gather(*publishes) == ["ack 1", "ack 2", "ack 3"]
    assert channel.message_id_delivery_tag == {}  # forgotten once confirmed


async def test_a_write_that_cannot_happen_in_time_fails_and_gives_its_tags_back() -> None:
    channel, coalescer = WriteChannel(write_queue=asyncio.Queue(maxsize=1)), PublishCoalescer(0.1)
    channel.write_queue.put_nowait("a frame the writer never takes")
    with pytest.raises(TimeoutError):
        await asyncio.gather(coalescer.publish(channel, b"<a/>", "a"), coalescer.publish(
            channel, b"<b/>", "b"
        ))  # fmt: skip
    assert channel.delivery_tag == 0
    assert channel.confirmations == {} and channel.message_id_delivery_tag == {}


async def test_a_closed_channel_fails_the_publish_at_once() -> None:
    channel, coalescer = WriteChannel(is_closed=True), PublishCoalescer(1.0)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(coalescer.publish(channel, b"<a/>", "a"), 1)
    assert channel.delivery_tag == 0 and channel.confirmations == {}


@pytest.mark.rabbitmq
async def test_the_installed_aiormq_channel_has_what_the_coalescer_uses(broker: str) -> None:
    transport = RabbitTransport(broker)
    await transport.start()
    try:
        channel = await transport._publisher()
        assert transport._batch.supports(channel)
        assert isinstance(channel.delivery_tag, int) and isinstance(channel.confirmations, dict)
    finally:
        await transport.close()


@pytest.mark.rabbitmq
async def test_hundreds_of_publishes_at_once_are_few_writes_and_all_confirmed(broker: str) -> None:
    transport = RabbitTransport(broker)
    await transport.start()
    writes = 0
    write = transport._batch._write

    async def counted(channel: Any, items: Any) -> None:
        nonlocal writes
        writes += 1
        await write(channel, items)

    transport._batch._write = counted  # type: ignore[method-assign]
    try:
        await transport.declare_queue("test.coalesced")
        await transport.publish("test.other", b"<first/>")  # opens the publishing channel
        writes = 0
        await asyncio.gather(
            *(
                transport.publish("test.coalesced", f"<m n='{i}'>Приказ</m>".encode(),
                                  {"message-id": f"m-{i}", "sender": "Департамент"})
                for i in range(300)
            )
        )  # fmt: skip
        assert writes <= 3  # one per loop turn the publishes reached the transport in
        assert await transport.depth("test.coalesced") == 300
        got = await transport.get("test.coalesced")
        assert got is not None and got.body == "<m n='0'>Приказ</m>".encode()
        assert got.headers["sender"] == "Департамент"
        assert got.properties["message_id"] == "m-0" and got.properties["user_id"] == "guest"
        await got.ack()
    finally:
        await transport.close()


@pytest.mark.rabbitmq
@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "one-by-one"])
async def test_an_unroutable_publish_fails_alone(broker: str, coalesce: bool) -> None:
    """``mandatory``: the broker returns what no queue takes; that publish raises, the ones
    written with it are confirmed."""
    transport = RabbitTransport(broker, coalesce_publishes=coalesce)
    await transport.start()
    transport._declared.add("test.nowhere")  # said to be declared: it is not
    try:
        await transport.declare_queue("test.somewhere")
        results = await asyncio.gather(
            *(transport.publish("test.somewhere", b"<ok/>") for _ in range(5)),
            transport.publish("test.nowhere", b"<lost/>"),
            return_exceptions=True,
        )
        assert results[:5] == [None] * 5
        assert isinstance(results[5], aiormq.exceptions.PublishError)
        assert await transport.depth("test.somewhere") == 5
    finally:
        await transport.close()
