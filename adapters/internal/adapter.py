"""The internal adapter: puts the countersigned envelope into the recipient's inbox queue.

It is ``inline``: the hub calls it right after storing a message (one broker hop from the
inbound queue to the inbox), and it shares the hub's transport, so on RabbitMQ the inboxes are
the quorum queues ``inbox.<department>`` that any AMQP client can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.abc import Adapter, AdapterContext, OutboundMessage, Outcome, Transport

INBOX_PREFIX = "inbox."


def inbox_queue(participant: str) -> str:
    return INBOX_PREFIX + participant


class InternalAdapter(Adapter):
    name = "internal"
    inline = True

    def __init__(self) -> None:
        self._transport: Transport | None = None

    async def start(self, context: AdapterContext) -> None:
        self._transport = context.transport

    async def deliver(self, message: OutboundMessage) -> Outcome:
        if self._transport is None:
            return Outcome.transient("internal adapter is not started")
        headers = {
            "message-id": message.message_id,
            "sender": message.sender,
            "recipient": message.destination.address,
            "kind": message.kind,
            "message-type": message.message_type,
        }
        if "priority" in message.extra:
            headers["priority"] = message.extra["priority"]
        try:
            await self._transport.publish(
                inbox_queue(message.destination.address), message.body, headers
            )
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Outcome.transient(f"inbox {message.destination.address}: {exc!r}")
        except Exception as exc:  # aio-pika raises its own tree; all of it is the broker's trouble
            return Outcome.transient(f"inbox {message.destination.address}: {exc!r}")
        return Outcome.delivered(f"in inbox.{message.destination.address}")

    async def ping(self) -> bool:
        return self._transport is not None and await self._transport.ping()


def create(settings: Mapping[str, Any]) -> InternalAdapter:
    return InternalAdapter()
