"""The embedded transport: durable queues in the hub's SQLite file, no server to install.

Queues are rows of the ``queue`` table. A consumer claims rows with a lease; ack deletes the
row, nack gives it back; a row whose consumer died reappears when its lease runs out (the same
at-least-once contract as RabbitMQ's redelivery). Other processes (``hub send``, ``hub inbox``)
use the same file, so the CLI works next to a running ``hub serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import MappingProxyType

from hub.abc import Delivery, Handler, Transport
from hub.queues import DEAD_QUEUE, DELIVERY_LIMIT, has_delivery_limit
from hub.records import QueuedRow
from hub.store import Store

log = logging.getLogger(__name__)
# the headers that stand for AMQP properties (Delivery.properties)
_PROPERTY_HEADERS = (("message-id", "message_id"), ("user-id", "user_id"), ("reply-to", "reply_to"))


class EmbeddedDelivery(Delivery):
    def __init__(self, store: Store, row: QueuedRow, on_settle: asyncio.Event | None) -> None:
        self._store = store
        self._row = row
        self.body = row.body
        self.headers = row.headers
        self.delivery_count = row.deliveries
        self.redelivered = row.deliveries > 1
        self._settled = False
        self._on_settle = on_settle

    @property
    def properties(self) -> Mapping[str, str]:
        """No AMQP here: the publisher's headers ``message-id``, ``user-id`` and ``reply-to``
        stand for the properties. Only processes that can write the hub's store file publish
        here (``hub send`` and the hub itself), so they are trusted like the hub."""
        headers = self.headers
        return MappingProxyType({p: headers[h] for h, p in _PROPERTY_HEADERS if headers.get(h)})

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            await self._store.settle(self._row.id, requeue=False)
            self._wake()

    async def nack(self, requeue: bool = True) -> None:
        if self._settled:
            return
        self._settled = True
        if requeue:
            await self._store.settle(self._row.id, requeue=True)
        else:
            headers = dict(self.headers)
            headers.setdefault("x-dead-from", self._row.queue)
            await self._store.enqueue(DEAD_QUEUE, self.body, headers)
            await self._store.settle(self._row.id, requeue=False)
        self._wake()

    def _wake(self) -> None:
        if self._on_settle is not None:
            self._on_settle.set()


class EmbeddedTransport(Transport):
    """Queues in SQLite, polled: every ``poll_interval`` while there is work, backing off to
    ``idle_interval`` when there is none (each poll is a short write transaction: at 20 ms on
    five queues an idle hub spent 4 % of a core polling). A publish in this process wakes the
    queue's consumer at once; one from another process (``hub send``) is seen at the next poll."""

    name = "embedded"

    def __init__(
        self,
        store: Store,
        *,
        poll_interval: float = 0.02,
        idle_interval: float = 0.2,
        lease: float = 60.0,
    ) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.idle_interval = max(idle_interval, poll_interval)
        self.lease = lease
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()
        self._wakers: dict[str, asyncio.Event] = {}

    def _waker(self, queue: str) -> asyncio.Event:
        return self._wakers.setdefault(queue, asyncio.Event())

    async def start(self) -> None:
        self._closing.clear()

    async def close(self) -> None:
        self._closing.set()
        for waker in self._wakers.values():
            waker.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def declare_queue(self, queue: str) -> None:
        return None  # a queue exists as soon as it has rows

    async def publish(
        self, queue: str, body: bytes, headers: Mapping[str, str] | None = None, *, delay: float = 0
    ) -> None:
        await self.store.enqueue(queue, body, dict(headers or {}), delay)
        if not delay:
            self._waker(queue).set()

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 32) -> None:
        # One hub serves a store: what an earlier, dead consumer of this queue had claimed is
        # ours to redo now, not after its lease runs out.
        released = await self.store.release_locks(queue)
        if released:
            log.info(
                "%s: %d unfinished messages from a previous run are redelivered", queue, released
            )
        self._tasks.append(
            asyncio.create_task(self._poll(queue, handler, prefetch), name=f"consume-{queue}")
        )

    async def _poll(self, queue: str, handler: Handler, prefetch: int) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        waker = self._waker(queue)  # also set when a delivery in hand is settled (room again)
        wait = self.poll_interval
        while not self._closing.is_set():
            room = prefetch - len(in_flight)
            waker.clear()
            rows = await self.store.claim(queue, room, self.lease) if room > 0 else []
            for row in rows:
                delivery = EmbeddedDelivery(self.store, row, waker)
                if row.deliveries > DELIVERY_LIMIT and has_delivery_limit(queue):
                    # handed out again and again without an answer: a poison message
                    await delivery.nack(requeue=False)
                    continue
                task = asyncio.create_task(self._handle(handler, delivery))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if rows and len(rows) == room:
                await asyncio.sleep(0)
                continue
            # busy (rows, or some in hand): poll again soon; idle: back off
            wait = self.poll_interval if rows or in_flight else min(wait * 2, self.idle_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waker.wait(), wait)

    @staticmethod
    async def _handle(handler: Handler, delivery: EmbeddedDelivery) -> None:
        try:
            await handler(delivery)
        except Exception:
            log.exception("consumer failed; the message goes back to its queue")
            with contextlib.suppress(Exception):
                await delivery.nack(requeue=True)

    async def get(self, queue: str, hold: float | None = None) -> Delivery | None:
        rows = await self.store.claim(queue, 1, hold or self.lease)
        return EmbeddedDelivery(self.store, rows[0], None) if rows else None

    async def depth(self, queue: str) -> int:
        return await self.store.queue_depth(queue)
