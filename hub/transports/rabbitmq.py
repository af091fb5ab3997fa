"""The RabbitMQ transport (aio-pika), with the safe settings aio-pika does not default to.

Durable quorum queues; persistent messages; publisher confirms with ``mandatory`` so that an
unroutable publish raises instead of vanishing; every publish bounded by a timeout (a publish on
a dropped robust connection can otherwise hang); manual acks with bounded prefetch; a delivery
limit that dead-letters poison messages to ``hub.dead``. The publishes of one loop turn reach
the broker as one write, each still confirmed on its own (publish_batch.py, decision 0027).
Delays use TTL delay queues that dead-letter back to the target (RabbitMQ 3.10 has no native
delayed delivery; we never use the delayed-message plugin). Every exchange, queue, argument
and binding is declared from ``hub/transports/topology.py``, which docs/asyncapi.yaml and
docs/rabbitmq-topology.md are generated from.

A cluster is given as several URLs (its nodes): the hub connects to the first that answers and,
whenever the connection is lost or an attempt fails, tries the next one, round the list. Quorum
queues live on the cluster, not on a node, so any node will do; a publish in flight when a node
dies is unconfirmed and raises, and what the hub had not acked comes back to another consumer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from yarl import URL

from hub.abc import Delivery, Handler, Transport
from hub.config import split_broker_urls
from hub.queues import header_priority
from hub.transports.amqp_frames import publish_frames
from hub.transports.publish_batch import PublishCoalescer
from hub.transports.topology import (
    EXCHANGES,
    QUEUES,
    RETRY_PREFIX,
    Exchange,
    delay_bucket,
    exchange,
    resolve_queue,
)

__all__ = [
    "AckCoalescer",
    "FailoverConnection",
    "RabbitDelivery",
    "RabbitTransport",
    "delay_bucket",
]

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 15.0
CLOSE_TIMEOUT = 5.0
RENEW_AFTER_NACK = 1.0  # seconds: the publish channel is replaced after a nack, this often at most
# declared at start: every exchange and queue whose name is not a pattern
_START_EXCHANGES = [e for e in EXCHANGES if "{" not in e.name]
_START_QUEUES = [q.name for q in QUEUES if "{" not in q.name]
_DELAY = exchange("delay")


class AckCoalescer:
    """One ``basic.ack(multiple)`` for a run of settled deliveries on a consumer channel.

    The hub settles a whole batch at once; one ack frame instead of one per message saves a
    socket write on our side and work on the broker's. Only a contiguous run from the oldest
    unsettled tag is acked with ``multiple`` (so nothing still in hand is ever acked); settled
    tags beyond a gap are acked one by one in the same pass, so a slow message delays no other.
    Tags belong to a channel: a reconnect (new channel) starts afresh.

    The acks go out one after another, in the order they were decided: aiormq's write queue
    holds 10 frames, and concurrent puts into a full ``asyncio.Queue`` do not keep their order.
    A multiple ack that overtook an earlier single ack of a tag it covers made that single ack
    name an unknown tag, and the broker closed the consumer's channel (seen under load with
    two and three workers, whose batches finish out of order).
    """

    def __init__(self) -> None:
        self._channel: aiormq.abc.AbstractChannel | None = None
        self._pending: dict[int, bool] = {}  # delivery tag -> settled, in tag order
        self._last_tag = 0
        self._contiguous = True  # every tag of this channel passed through register()
        self._scheduled = False
        self._outbox: collections.deque[tuple[aiormq.abc.AbstractChannel, int, bool]] = (
            collections.deque()
        )
        self._sender: asyncio.Task[None] | None = None

    def register(self, message: AbstractIncomingMessage) -> bool:
        """Track a fresh delivery; False if it cannot be coalesced (ack it directly)."""
        tag = message.delivery_tag
        channel = self._channel_of(message)
        if tag is None or channel is None:
            return False
        if channel is not self._channel:
            self._channel, self._pending, self._last_tag = channel, {}, 0
            self._contiguous = True
        if tag != self._last_tag + 1:
            self._contiguous = False  # a tag we never saw: a multiple ack could cover it
        self._last_tag = tag
        if self._contiguous:
            self._pending[tag] = False
        return self._contiguous

    def settle(self, message: AbstractIncomingMessage) -> None:
        """Ack soon (in this loop iteration's flush); never raises."""
        tag = message.delivery_tag or 0
        if tag not in self._pending or self._channel_of(message) is not self._channel:
            return  # its channel is gone (the tag may be reused now): the broker redelivers it
        self._pending[tag] = True
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def forget(self, message: AbstractIncomingMessage) -> None:
        """The delivery was nacked (after its frame was queued): it no longer blocks the run."""
        if self._channel_of(message) is self._channel:
            self._pending.pop(message.delivery_tag or 0, None)

    @staticmethod
    def _channel_of(message: AbstractIncomingMessage) -> aiormq.abc.AbstractChannel | None:
        try:
            return message.channel
        except Exception:  # aio-pika raises for a closed channel
            return None

    def _flush(self) -> None:
        self._scheduled = False
        channel = self._channel
        if channel is None or channel.is_closed:
            self._pending.clear()  # the broker gives those back to another consumer
            return
        run_end = 0
        for tag, settled in self._pending.items():
            if not settled:
                break
            run_end = tag
        singles = [t for t, settled in self._pending.items() if settled and t > run_end]
        for tag in [t for t in self._pending if t <= run_end] + singles:
            del self._pending[tag]
        if run_end:
            self._outbox.append((channel, run_end, True))
        self._outbox.extend((channel, tag, False) for tag in singles)
        if self._outbox and (self._sender is None or self._sender.done()):
            self._sender = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        """The acks decided so far, in order: each frame is queued before the next one."""
        while self._outbox:
            channel, tag, multiple = self._outbox.popleft()
            try:
                await channel.basic_ack(tag, multiple=multiple, wait=False)
            except Exception as exc:  # the channel died: those messages will be redelivered
                log.debug("ack not sent: %s", exc)


class RabbitDelivery(Delivery):
    def __init__(self, message: AbstractIncomingMessage, acks: AckCoalescer | None = None) -> None:
        self._message = message
        self._acks = acks if acks is not None and acks.register(message) else None
        self._settled = False
        self.body = message.body
        self.headers = {
            k: (v.decode() if isinstance(v, bytes) else str(v))
            for k, v in (message.headers or {}).items()
            if not k.startswith("x-death")
        }
        self.redelivered = bool(message.redelivered)
        raw_count = (message.headers or {}).get("x-delivery-count", 0)
        self.delivery_count = int(raw_count if isinstance(raw_count, int | str) else 0) + 1

    @property
    def properties(self) -> Mapping[str, str]:
        """The AMQP properties the hub reads (RabbitMQ has checked ``user_id``)."""
        message = self._message
        found = {
            name: value
            for name in ("message_id", "user_id", "reply_to")
            if isinstance(value := getattr(message, name, None), str) and value
        }
        return MappingProxyType(found)

    async def ack(self) -> None:
        if self._settled:
            return
        self._settled = True
        if self._acks is not None:
            self._acks.settle(self._message)
        else:
            await self._message.ack()

    async def nack(self, requeue: bool = True) -> None:
        if self._settled:  # already acked (or nacked): a second answer would kill the channel
            return
        self._settled = True
        await self._message.nack(requeue=requeue)
        if self._acks is not None:
            self._acks.forget(self._message)


class FailoverConnection(aio_pika.RobustConnection):
    """A robust connection to one node of a cluster at a time, moving on to the next node
    after every lost connection and every failed attempt (aio-pika's own retries one URL).

    aio-pika calls ``_on_connection_close`` both when a connection drops and when an attempt
    to open one fails, and reads ``url`` afresh for every attempt: turning the URL there is all
    it takes; channels, consumers and declarations are restored on the new node as usual.
    """

    def __init__(self, urls: Sequence[str], **kwargs: Any) -> None:
        self.urls = [URL(u) for u in urls]
        self.at = 0
        super().__init__(self.urls[0], **kwargs)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        if len(self.urls) > 1 and not self.close_called:
            self.at = (self.at + 1) % len(self.urls)
            self.url = self.urls[self.at]
            if self.connection_attempt:  # (the first connect's failures are RabbitTransport's)
                log.warning("broker connection lost or refused; next: %s", _host_port(self.url))
        await super()._on_connection_close(closing)


def _host_port(url: URL) -> str:
    return f"{url.host}:{url.port}"


class RabbitTransport(Transport):
    """Queues on a RabbitMQ broker, or on a cluster of them (several URLs)."""

    name = "rabbitmq"

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        publish_timeout: float = PUBLISH_TIMEOUT,
        coalesce_publishes: bool = True,
    ) -> None:
        self.urls = split_broker_urls(url) if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("RabbitTransport needs a broker URL")
        self.url = self.urls[0]
        self.publish_timeout = publish_timeout
        self._batch = PublishCoalescer(publish_timeout)
        self._coalesce = coalesce_publishes
        # every publish says who published it (RabbitMQ checks it against the connection's
        # user; the hub trusts its own user's submissions): only when every node has one user
        users = {URL(u).user or "guest" for u in self.urls}
        self.user_id = users.pop() if len(users) == 1 else None
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._underlay: aiormq.abc.AbstractChannel | None = None  # what publishes go through
        self._underlay_lock = asyncio.Lock()
        self._renewed_at = 0.0
        self._retiring: set[asyncio.Task[None]] = set()  # nacked channels, closed a bit later
        self._consumer_channels: list[AbstractChannel] = []
        self._declared: set[str] = set()
        self._delay_exchanges: dict[int, AbstractExchange] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._connection = await self._connect()
        self._publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        for spec in _START_EXCHANGES:  # the exchanges first: the queues bind to them
            await self._declare_exchange(spec, spec.name)
        for queue in _START_QUEUES:
            await self._declare(queue)

    async def _connect(self) -> AbstractRobustConnection:
        """The first node that answers; later, the connection moves on by itself."""
        failure: BaseException | None = None
        for first in range(len(self.urls)):
            connection = FailoverConnection(
                self.urls[first:] + self.urls[:first],
                reconnect_interval=1,
                client_properties={"connection_name": "interagency-hub"},
            )
            try:
                await connection.connect(timeout=10)
            except Exception as exc:  # refused, unreachable, timed out, refused our login
                failure = exc
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT)
                if len(self.urls) > 1:
                    log.warning("broker %s: %s", _host_port(URL(self.urls[first])), exc)
                continue
            if first:
                log.info("connected to the broker's node %s", _host_port(connection.url))
            return connection
        assert failure is not None
        raise failure

    async def close(self) -> None:
        # bounded: after an outage a close handshake may never be answered
        channels = [c.close() for c in self._consumer_channels]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*channels, return_exceptions=True), CLOSE_TIMEOUT)
        self._consumer_channels.clear()
        for task in self._retiring:
            task.cancel()
        self._batch.close()
        if self._underlay is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._underlay.close(), CLOSE_TIMEOUT)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), CLOSE_TIMEOUT)
        self._connection = None
        self._publish_channel = None
        self._underlay = None
        self._declared.clear()
        self._delay_exchanges.clear()

    async def _declare_exchange(self, spec: Exchange, name: str) -> AbstractExchange:
        assert self._publish_channel is not None
        return await self._publish_channel.declare_exchange(
            name,
            aio_pika.ExchangeType(spec.type),
            durable=spec.durable,
            auto_delete=spec.auto_delete,
        )

    async def _declare(self, queue: str) -> AbstractQueue:
        """Declare ``queue`` as the topology says, and bind it (once per connection)."""
        assert self._publish_channel is not None
        resolved = resolve_queue(queue)
        spec = resolved.spec
        declared = await self._publish_channel.declare_queue(
            queue,
            durable=spec.durable,
            exclusive=spec.exclusive,
            auto_delete=spec.auto_delete,
            arguments=resolved.arguments,
        )
        if queue not in self._declared:
            for name, routing_key in resolved.bindings():
                source = await self._publish_channel.get_exchange(name)
                await declared.bind(source, routing_key=routing_key)
            self._declared.add(queue)
        return declared

    async def declare_queue(self, queue: str) -> None:
        if queue not in self._declared:
            async with self._lock:
                if queue not in self._declared:
                    await self._declare(queue)

    async def _delay_exchange(self, bucket: int) -> AbstractExchange:
        exchange = self._delay_exchanges.get(bucket)
        if exchange is None:
            name = _DELAY.name.format(seconds=bucket)
            exchange = await self._declare_exchange(_DELAY, name)
            await self.declare_queue(RETRY_PREFIX + str(bucket))  # bound to it
            self._delay_exchanges[bucket] = exchange
        return exchange

    async def publish(
        self, queue: str, body: bytes, headers: Mapping[str, str] | None = None, *, delay: float = 0
    ) -> None:
        if self._publish_channel is None:
            raise ConnectionError("RabbitMQ transport is not started")
        await self.declare_queue(queue)
        exchange = ""
        if delay > 0:
            exchange = (await self._delay_exchange(delay_bucket(delay))).name
        channel = await self._publisher()
        message_id = (headers or {}).get("message-id") or uuid.uuid4().hex
        priority = header_priority(headers)  # RabbitMQ 3.x quorum queues ignore it; 4.x do not
        frames = None
        if self._coalesce and self._batch.supports(channel):
            # the loop's publishes go out in one write (publish_batch.py), as bytes
            with contextlib.suppress(TypeError):  # a header that is not a string: pamqp's path
                frames = publish_frames(
                    channel.number, exchange, queue, body,
                    max_content=cast(Any, channel).max_content_size, headers=headers or {},
                    content_type="application/xml", delivery_mode=2, priority=priority,
                    message_id=message_id, user_id=self.user_id, mandatory=True,
                )  # fmt: skip
        try:
            if frames is not None:
                async with asyncio.timeout(self.publish_timeout):
                    confirmation = await self._batch.publish(channel, frames, message_id)
            else:  # aiormq's own path (aio-pika's Message object costs more than the publish)
                properties = aiormq.spec.Basic.Properties(
                    headers=dict(headers or {}),
                    delivery_mode=2,  # persistent
                    content_type="application/xml",
                    message_id=message_id,
                    user_id=self.user_id,
                    priority=priority,
                )
                confirmation = await channel.basic_publish(
                    body,
                    exchange=exchange,
                    routing_key=queue,
                    properties=properties,
                    mandatory=True,
                    timeout=self.publish_timeout,
                )
        except aiormq.exceptions.ChannelInvalidStateError as exc:  # a RuntimeError in aiormq
            raise ConnectionError(f"publish to {queue}: the channel closed ({exc})") from exc
        except aiormq.exceptions.DeliveryError as exc:
            if isinstance(exc.frame, aiormq.spec.Basic.Nack):
                self._renew_publisher(channel)
            raise
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise ConnectionError(f"publish to {queue} not confirmed by the broker: {confirmation}")

    async def _publisher(self) -> aiormq.abc.AbstractChannel:
        """The channel publishes go through (confirms on, returns raise): opened on first use,
        after a reconnect and after a nack."""
        channel = self._underlay
        if channel is not None and not channel.is_closed:
            return channel
        async with self._underlay_lock:
            channel = self._underlay
            if channel is None or channel.is_closed:
                # bounded too: while the robust connection reconnects, this waits for it
                channel = self._underlay = await asyncio.wait_for(
                    self._open_publisher(), self.publish_timeout
                )
        return channel

    async def _open_publisher(self) -> aiormq.abc.AbstractChannel:
        connection = self._connection
        if connection is None:
            raise ConnectionError("RabbitMQ transport is not started")
        while True:
            await connection.connected.wait()
            transport = connection.transport
            if transport is not None and not transport.connection.is_closed:
                return await transport.connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
            await asyncio.sleep(0.05)  # between the reconnect's steps

    def _renew_publisher(self, channel: aiormq.abc.AbstractChannel) -> None:
        """After a nack, publish through a fresh channel.

        On a channel opened while a quorum queue's leader sits on a node that has just died,
        RabbitMQ 3.10 nacks every publish to that queue, long after a new leader has taken over
        (seen for minutes in tests/hub/scale/); a channel opened after the election reaches it.
        A queue that is full (``reject-publish``) nacks too: renewing at most once a second
        costs little then. The old channel is closed once its confirms are in."""
        now = asyncio.get_running_loop().time()
        if self._underlay is not channel or now - self._renewed_at < RENEW_AFTER_NACK:
            return
        self._renewed_at = now
        self._underlay = None
        log.warning("publish nacked by the broker: the next go through a fresh channel")

        async def retire() -> None:
            await asyncio.sleep(self.publish_timeout)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), CLOSE_TIMEOUT)

        task = asyncio.ensure_future(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 32) -> None:
        assert self._connection is not None
        await self.declare_queue(queue)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        self._consumer_channels.append(channel)
        spec = resolve_queue(queue)
        declared = await channel.declare_queue(
            queue,
            durable=spec.spec.durable,
            exclusive=spec.spec.exclusive,
            auto_delete=spec.spec.auto_delete,
            arguments=spec.arguments,
        )

        acks = AckCoalescer()

        async def on_message(message: AbstractIncomingMessage) -> None:
            delivery = RabbitDelivery(message, acks)
            try:
                await handler(delivery)
            except Exception:
                log.exception("consumer failed; the message goes back to its queue")
                with contextlib.suppress(Exception):
                    await delivery.nack(requeue=True)

        await declared.consume(on_message, no_ack=False)

    async def get(self, queue: str, hold: float | None = None) -> Delivery | None:
        assert self._publish_channel is not None
        declared = await self._declare(queue)
        message = await declared.get(no_ack=False, fail=False, timeout=self.publish_timeout)
        return RabbitDelivery(message) if message is not None else None

    async def depth(self, queue: str) -> int:
        assert self._publish_channel is not None
        declared = await self._declare(queue)
        return int(declared.declaration_result.message_count or 0)

    async def ping(self) -> bool:
        """Connected right now (a robust connection that is reconnecting is not)."""
        connection = self._connection
        if connection is None or connection.is_closed:
            return False
        connected = getattr(connection, "connected", None)
        return bool(connected.is_set()) if connected is not None else True
