"""Where messages end that will not be delivered: the dead-letter store, expiry, and ``hub.dead``.

A message is dead-lettered when its destination refuses it for good, when its retries run out,
when it keeps crashing a worker (poison), or when the transport's delivery limit moves it to
``hub.dead``. It is parked with its last error (``hub dlq`` lists, replays or discards it) and
its sender gets a signed ``failed`` receipt.
"""

from __future__ import annotations

import logging

from hub.abc import Delivery, Destination, Observer, OutboundMessage, State
from hub.pipeline.receipts import ReceiptSender
from hub.queues import from_headers, header_facts
from hub.store import Store

log = logging.getLogger("hub")


class DeadLetters:
    """Parks messages the hub gives up on, and tells their senders."""

    def __init__(self, store: Store, receipts: ReceiptSender, observer: Observer) -> None:
        self.store = store
        self.receipts = receipts
        self.observer = observer

    async def park(
        self, delivery: Delivery, message: OutboundMessage, reason: str, code: str
    ) -> None:
        """Park a message we will not deliver, with its last error; tell its sender; ack it."""
        d = message.destination
        await self.store.dead_letter(
            message.message_id, d, reason, delivery.body, dict(delivery.headers)
        )
        self.observer.dead_lettered(d, code)
        log.warning(
            "dead-lettered: %s",
            reason,
            extra={
                "message_id": message.message_id,
                "destination": str(d),
                "state": "dead_lettered",
            },
        )
        await self.receipts.send(
            message.sender,
            message.message_id,
            State.FAILED,
            message.extra.get("digest"),
            [d],
            [("delivery_failed", reason)],
        )
        await delivery.ack()

    async def on_dead(self, delivery: Delivery) -> None:
        """What the transport dead-lettered (delivery limit reached): into the dead-letter store."""
        headers = dict(delivery.headers)
        origin = headers.get("x-first-death-queue") or headers.get("x-dead-from") or "?"
        reason = f"poison: delivery limit reached in {origin}"
        if headers.get("adapter"):
            await self.park(delivery, from_headers(delivery.body, headers), reason, "poison")
            return
        message_id, sender, kind = header_facts(delivery.body)
        message = OutboundMessage(
            message_id=message_id,
            sender=sender if sender != "-" else "",
            recipient="",
            message_type="",
            kind=kind,
            correlation_id=None,
            body=delivery.body,
            destination=Destination("inbound", origin),
            extra={},
        )
        await self.park(delivery, message, reason, "poison")

    async def expire(self, delivery: Delivery, message: OutboundMessage, expires: str) -> None:
        """ExpiresAt passed before delivery: on record, the sender told, the message dropped."""
        self.observer.expired()
        await self.store.settle_delivery(
            message.message_id, message.destination, "expired", f"ExpiresAt {expires} passed"
        )
        await self.receipts.send(
            message.sender,
            message.message_id,
            State.EXPIRED,
            message.extra.get("digest"),
            [message.destination],
            [("expired", f"ExpiresAt {expires} passed before delivery")],
        )
        await delivery.ack()
