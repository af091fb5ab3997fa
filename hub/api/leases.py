"""Pulling an inbox over HTTP with a lease (SMEV GetRequest / Domibus retrieve semantics).

``take`` hands a caller up to ``max`` messages of its inbox, each held for it under a lease;
``ack`` settles one (the transport forgets it, ``acknowledged`` goes on its timeline exactly as
``hub inbox`` records it); a message not acknowledged before its lease ends goes back to the
inbox and is handed out again. The transport holds each message for one consumer at a time, so
two callers never get the same message under one lease. What the caller already acknowledged
(a redelivered copy of the same MessageId) is dropped, as ``hub inbox`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass

from hub.abc import Delivery, State, Transport
from hub.ops.delivered import DeliveredReader
from hub.queues import header_facts, inbox_queue
from hub.store import Store

log = logging.getLogger("hub.api")
HOLD_MARGIN = 30.0


class LeaseExpired(Exception):
    """The caller's lease on a message ended before it acknowledged it."""


@dataclass
class Lease:
    """A message held for one caller until ``expires`` (monotonic seconds)."""

    id: str
    participant: str
    message_id: str
    sender: str
    kind: str
    message_type: str
    body: bytes
    expires: float
    delivery: Delivery


class InboxLeases:
    """The leases of one API server (they end with it: their messages go back)."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        lease_seconds: float,
        reader: DeliveredReader | None = None,
    ) -> None:
        self.store = store
        self.reader = reader  # what the caller is told of an item: its verified header
        self.transport = transport
        self.lease_seconds = lease_seconds
        self._leases: dict[str, Lease] = {}
        self.run_interval = min(1.0, lease_seconds / 4)  # how often ended leases are collected
        self._task: asyncio.Task[None] | None = None

    async def take(self, participant: str, limit: int, wait: float) -> list[Lease]:
        queue = inbox_queue(participant)
        await self.transport.declare_queue(queue)
        deadline = time.monotonic() + wait
        taken: list[Lease] = []
        while len(taken) < limit:
            # the transport holds it a little longer than the lease, so that it comes back
            # (to anyone) only through ``expire`` — or, if this server dies, by itself
            delivery = await self.transport.get(queue, hold=self.lease_seconds + HOLD_MARGIN)
            if delivery is None:
                if taken or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)
                continue
            if self.reader is not None:
                facts = await asyncio.to_thread(self.reader.facts, delivery.body)
                message_id, sender, kind = facts.message_id, facts.sender, facts.kind
            else:
                message_id, sender, kind = header_facts(delivery.body)
            if await self.store.seen(participant, message_id):
                await delivery.ack()  # a redelivered copy of what the caller holds already
                continue
            lease = Lease(
                id=uuid.uuid4().hex,
                participant=participant,
                message_id=message_id,
                sender=sender,
                kind=kind,
                message_type=delivery.headers.get("message-type", ""),
                body=delivery.body,
                expires=time.monotonic() + self.lease_seconds,
                delivery=delivery,
            )
            self._leases[lease.id] = lease
            taken.append(lease)
        return taken

    async def ack(self, participant: str, message_id: str, lease_id: str | None = None) -> bool:
        """Settle what the caller holds of ``message_id`` (under ``lease_id`` if given: two
        pullers of one participant each settle only their own); False if it holds nothing of
        it, LeaseExpired if that lease has ended (the message goes back, to be handed out
        again) or was handed out anew since."""
        held = [
            lease
            for lease in self._leases.values()
            if lease.participant == participant and lease.message_id == message_id
        ]
        if lease_id is not None:
            if not any(lease.id == lease_id for lease in held):
                if held:
                    raise LeaseExpired(message_id)  # another lease holds it now
                return False
            held = [lease for lease in held if lease.id == lease_id]
        if not held:
            return False
        for lease in held:
            self._leases.pop(lease.id, None)
        if all(lease.expires <= time.monotonic() for lease in held):
            for lease in held:
                with contextlib.suppress(Exception):
                    await lease.delivery.nack(requeue=True)
            raise LeaseExpired(message_id)
        first = await self.store.mark_seen(participant, message_id)
        if first and held[0].kind != "receipt":
            await self.store.record(message_id, State.ACKNOWLEDGED, f"taken by {participant}")
        for lease in held:
            try:
                await lease.delivery.ack()
            except Exception:  # its channel is gone: the copy that comes back is dropped as seen
                log.warning("inbox %s: %s acknowledged, but the transport lost the delivery",
                            participant, message_id)  # fmt: skip
        return True

    async def expire(self) -> int:
        """Give back every message whose lease has ended; how many."""
        now = time.monotonic()
        ended = [lease for lease in self._leases.values() if lease.expires <= now]
        for lease in ended:
            self._leases.pop(lease.id, None)
            with contextlib.suppress(Exception):  # its channel may be gone: it is back anyway
                await lease.delivery.nack(requeue=True)
        return len(ended)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.run_interval)
            try:
                await self.expire()
            except Exception:
                log.exception("inbox leases: expiry failed; trying again")

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="inbox-leases")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for lease in list(self._leases.values()):
            with contextlib.suppress(Exception):
                await lease.delivery.nack(requeue=True)
        self._leases.clear()
