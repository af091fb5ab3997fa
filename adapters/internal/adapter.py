"""The internal adapter: puts the countersigned envelope into the recipient's inbox queue.

It is ``inline``: the hub calls it right after storing a message (one broker hop from the
inbound queue to the inbox), and it shares the hub's transport, so on RabbitMQ the inboxes are
the quorum queues ``inbox.<department>`` that any AMQP client can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.abc import Adapter, AdapterContext, OutboundMessage, Outcome


class InternalAdapter(Adapter):
    name = "internal"
    inline = True

    def __init__(self) -> None:
        self._context: AdapterContext | None = None

    async def start(self, context: AdapterContext) -> None:
        self._context = context

    async def deliver(self, message: OutboundMessage) -> Outcome:
        if self._context is None:
            return Outcome.transient("internal adapter is not started")
        queue = self._context.inbox_queue(message.destination.address)
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
            await self._context.transport.publish(queue, message.body, headers)
        except (ConnectionError, TimeoutError, OSError) as exc:
            return Outcome.transient(f"inbox {message.destination.address}: {exc!r}")
        except Exception as exc:  # aio-pika raises its own tree; all of it is the broker's trouble
            return Outcome.transient(f"inbox {message.destination.address}: {exc!r}")
        return Outcome.delivered(f"in {queue}")

    async def ping(self) -> bool:
        return self._context is not None and await self._context.transport.ping()


def create(settings: Mapping[str, Any]) -> InternalAdapter:
    return InternalAdapter()
