"""Delivery: handing stored decisions to adapters, inline or through their work queues.

Inline adapters (the internal one) are called right after a batch is stored; the others get the
message on ``hub.out.<adapter>``, where ``on_outbound`` takes it: breaker check, expiry check,
an attempt with quick retries, then delivered, a retry scheduled through the transport, or a
dead letter.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable

from hub.abc import (
    Adapter,
    Delivery,
    Destination,
    Observer,
    OutboundMessage,
    Outcome,
    OutcomeKind,
    State,
    Transport,
)
from hub.pipeline.breakers import Breakers
from hub.pipeline.dead_letters import DeadLetters
from hub.pipeline.receipts import ReceiptSender
from hub.pipeline.retry import RetryPolicy
from hub.queues import (
    POISON_LIMIT,
    from_headers,
    out_queue,
    to_headers,
    without_broker_headers,
)
from hub.records import Ingested, Outgoing, Processed, Registration, now_iso
from hub.store import Store

log = logging.getLogger("hub")

# What a batch's inline deliveries came to for one message: the destinations now delivered, and
# the events to record with them (message id, state, detail, when it was handed over).
Marks = tuple[list[Destination], list[tuple[str, State | str, str, str]]]


class Dispatcher:
    """Delivers messages through the adapters; one per hub."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        adapters: dict[str, Adapter],
        breakers: Breakers,
        retry: RetryPolicy,
        receipts: ReceiptSender,
        dead_letters: DeadLetters,
        observer: Observer,
        registered: Callable[[list[Registration]], Awaitable[None]],
    ) -> None:
        self.store = store
        self.transport = transport
        self.adapters = adapters
        self.breakers = breakers
        self.retry = retry
        self.receipts = receipts
        self.dead_letters = dead_letters
        self.observer = observer
        self._registered = registered

    # ------------------------------------------------------------------ right after ingest
    async def dispatch(self, outcome: Ingested, started: float) -> Marks:
        """Deliver what a stored decision asks for: inline adapters now, the others queued.
        Returns what to mark delivered, and the events to record with it."""
        p = outcome.processed
        delivered: list[Destination] = []
        events: list[tuple[str, State | str, str, str]] = []
        outgoing = {(o.adapter, o.address): o for o in p.outgoing}
        for adapter_name, address in outcome.pending:
            out = outgoing.get((adapter_name, address))
            if out is None:
                continue
            adapter = self.adapters.get(adapter_name)
            message = outbound_message(p, out, attempt=1)
            if adapter is None or not adapter.inline:
                await self.transport.publish(out_queue(adapter_name), out.body, to_headers(message))
                continue
            destination = Destination(adapter_name, address)
            handed_at = now_iso()  # before the recipient can see it (see DeliveryMark)
            t = time.perf_counter()
            result = await adapter.deliver(message)
            self.observer.stage_timed("deliver", time.perf_counter() - t)
            self.observer.delivery_attempted(destination, result.kind.value)
            if result.kind == OutcomeKind.DELIVERED:
                delivered.append(destination)
                events.append((p.message_id, State.DELIVERED, str(destination), handed_at))
                self.observer.delivered(destination, time.perf_counter() - started)
                continue
            # not now: the work queue takes it over, with its retry policy
            events.append(
                (p.message_id, State.RETRY_SCHEDULED, f"{destination}: {result.detail}", handed_at)
            )
            await self.transport.publish(
                out_queue(adapter_name), out.body, to_headers(message), delay=1
            )
        return delivered, events

    # ------------------------------------------------------------------ from the work queues
    async def on_outbound(self, delivery: Delivery) -> None:
        """One message from ``hub.out.<adapter>``: try it, then settle it one way or another."""
        headers = without_broker_headers(delivery.headers)
        message = from_headers(delivery.body, headers)
        adapter = self.adapters.get(message.destination.adapter)
        destination = message.destination
        if adapter is None:
            await self.dead_letters.park(
                delivery, message, f"no adapter {destination.adapter!r}", "no_adapter"
            )
            return
        if delivery.delivery_count > POISON_LIMIT:
            await self.dead_letters.park(
                delivery,
                message,
                f"poison message: handed out {delivery.delivery_count} times without an answer",
                "poison",
            )
            return
        expires = message.extra.get("expires-at")
        if expires and dt.datetime.fromisoformat(expires) <= dt.datetime.now(dt.UTC):
            await self.dead_letters.expire(delivery, message, expires)
            return
        wait = self.breakers.wait_time(destination)
        if wait > 0:  # the destination is down or asked us to wait: keep it queued, untried
            await self.transport.publish(
                out_queue(destination.adapter), delivery.body, headers, delay=max(1.0, wait)
            )
            await delivery.ack()
            return
        await self.store.record(
            message.message_id, State.DELIVERING, f"attempt {message.attempt} to {destination}"
        )
        t = time.perf_counter()
        outcome = await self.retry.attempt(
            adapter,
            message,
            lambda o: self.observer.delivery_attempted(destination, o.kind.value),
        )
        self.observer.stage_timed("deliver", time.perf_counter() - t)
        if outcome.kind == OutcomeKind.TRANSIENT:
            self.breakers.failure(destination, outcome.detail, outcome.retry_after)
        else:  # delivered, or refused for this message's own sake: the destination is up
            self.breakers.success(destination)
        if outcome.kind == OutcomeKind.DELIVERED:
            await self._delivered(delivery, message, outcome)
        elif outcome.kind == OutcomeKind.TRANSIENT and self.retry.may_retry(message):
            await self._retry_later(delivery, message, headers, outcome)
        elif outcome.kind == OutcomeKind.PERMANENT:
            await self.dead_letters.park(delivery, message, outcome.detail, "permanent")
        else:
            await self.dead_letters.park(
                delivery,
                message,
                f"gave up after {message.attempt} attempts: {outcome.detail}",
                "retries_exhausted",
            )

    async def _delivered(
        self, delivery: Delivery, message: OutboundMessage, outcome: Outcome
    ) -> None:
        destination = message.destination
        detail = f"{destination}" + (f" ({outcome.reference})" if outcome.reference else "")
        registered = await self.store.settle_delivery(
            message.message_id, destination, "delivered", detail
        )
        if registered is not None:
            await self._registered([registered])
        first = float(message.extra.get("first-attempt-at", "0") or 0)
        if first:
            self.observer.delivered(destination, time.time() - first)
        await self.receipts.send(
            message.sender,
            message.message_id,
            State.DELIVERED,
            message.extra.get("digest"),
            [destination],
            [],
        )
        await delivery.ack()

    async def _retry_later(
        self,
        delivery: Delivery,
        message: OutboundMessage,
        headers: dict[str, str],
        outcome: Outcome,
    ) -> None:
        destination = message.destination
        delay = self.retry.backoff(message, outcome.retry_after)
        retry = dict(headers)
        retry["attempt"] = str(message.attempt + 1)
        await self.transport.publish(
            out_queue(destination.adapter), delivery.body, retry, delay=delay
        )
        self.observer.retry_scheduled(destination)
        await self.store.note_retry(
            message.message_id,
            destination,
            f"attempt {message.attempt} failed: {outcome.detail}; next in {delay:.0f}s",
        )
        await delivery.ack()


def outbound_message(p: Processed, out: Outgoing, attempt: int) -> OutboundMessage:
    """What an adapter gets for one destination of a stored decision."""
    extra = {
        "digest": p.digest or "",
        "expires-at": p.expires_at or "",
        "first-attempt-at": f"{time.time():.3f}",
    }
    extra.update(
        {
            f"retry-{key.replace('_', '-')}": value
            for key, value in out.settings.items()
            if key in ("max_attempts", "base_delay", "max_delay", "max_age")
        }
    )
    # the route's priority, else the sender's Header/Priority: the queues hand out higher first
    priority = out.settings.get("priority") or (str(p.priority) if p.priority is not None else "")
    if priority:
        extra["priority"] = priority
    return OutboundMessage(
        message_id=p.message_id,
        sender=p.sender or "",
        recipient=out.recipient or p.recipient or "",
        message_type=p.message_type or "",
        kind=p.kind or "",
        correlation_id=p.correlation_id,
        body=out.body,
        destination=Destination(out.adapter, out.address),
        attempt=attempt,
        extra=extra,
    )
