"""Confirmed publishes written to the broker together: one socket write per loop iteration.

aiormq's ``basic_publish`` takes the channel's lock, arms a timeout, queues one frame buffer
and waits for the connection's writer to drain it — per message. An ingest batch publishes
~128 deliveries and ~128 receipts in the same loop iteration, so that machinery ran 256 times
for what is one write. ``PublishCoalescer`` collects the publishes of a loop iteration and puts
them on the channel as one buffer (frames from ``amqp_frames``), each with its own delivery tag
and confirmation future, exactly as ``basic_publish`` registers them — so acks, nacks,
``mandatory`` returns and a closing channel reach each publish as before. It measured half the
event loop's CPU per publish (bench/publish.py).

It uses aiormq's channel attributes ``lock``, ``delivery_tag``, ``confirmations``,
``message_id_delivery_tag``, ``write_queue``, ``number``, ``max_content_size`` and
``create_future`` (aiormq 7.x: tests/hub/transports/test_rabbitmq.py checks the installed one
has them, and pyproject.toml bounds the version; a channel without them is published to
through ``basic_publish``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiormq.abc import ChannelFrame

__all__ = ["NEEDS", "Publish", "PublishCoalescer"]

# what this takes from an aiormq channel (else the transport publishes through basic_publish)
NEEDS = (
    "lock", "delivery_tag", "confirmations", "message_id_delivery_tag", "write_queue",
    "number", "max_content_size", "create_future", "is_closed",
)  # fmt: skip


@dataclass(slots=True)
class Publish:
    """One publish waiting for the next write: its frames, and then its confirmation."""

    frames: bytes
    message_id: str
    written: asyncio.Future[asyncio.Future[Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PublishCoalescer:
    """Batches the confirmed publishes of one loop iteration into one write per channel."""

    def __init__(self, write_timeout: float) -> None:
        self.write_timeout = write_timeout
        self._waiting: dict[int, list[Publish]] = {}  # id(channel) -> publishes, in order
        self._writing: set[asyncio.Task[None]] = set()
        self._checked: Any = None  # the channel supports() last looked at
        self._supported = False

    def supports(self, channel: Any) -> bool:
        """The channel has everything this uses (an aiormq 7 channel has); asked once per
        channel."""
        if channel is not self._checked:
            self._checked, self._supported = channel, all(hasattr(channel, n) for n in NEEDS)
        return self._supported

    async def publish(self, channel: Any, frames: bytes, message_id: str) -> Any:
        """Queue ``frames`` on ``channel`` and return the broker's confirmation frame (raises as
        aiormq's ``basic_publish`` does: ``DeliveryError`` on a nack, ``PublishError`` for a
        returned ``mandatory`` message, the channel's close reason if it closes). The caller
        bounds the wait."""
        item = Publish(frames, message_id)
        waiting = self._waiting.get(id(channel))
        if waiting is None:
            waiting = self._waiting[id(channel)] = []
            asyncio.get_running_loop().call_soon(self._flush, channel)
        waiting.append(item)
        confirmation = await item.written
        return await confirmation

    def _flush(self, channel: Any) -> None:
        items = self._waiting.pop(id(channel), [])
        if items:
            task = asyncio.ensure_future(self._write(channel, items))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _write(self, channel: Any, items: list[Publish]) -> None:
        live = [i for i in items if not i.written.done()]  # a publish cancelled meanwhile
        if not live:
            return
        confirmations: list[tuple[int, asyncio.Future[Any]]] = []
        try:
            async with asyncio.timeout(self.write_timeout), channel.lock:
                if channel.is_closed:
                    raise ConnectionError("publish: the channel closed")
                for item in live:
                    channel.delivery_tag += 1
                    tag = channel.delivery_tag
                    confirmation = channel.create_future()
                    channel.confirmations[tag] = confirmation
                    channel.message_id_delivery_tag[item.message_id] = tag
                    confirmation.add_done_callback(_forget(channel, item.message_id, tag))
                    confirmations.append((tag, confirmation))
                payload = b"".join(i.frames for i in live)
                await channel.write_queue.put(
                    ChannelFrame(payload=payload, should_close=False, drain_future=None)
                )
        except BaseException as exc:
            # not written: give the tags back (the lock is held, or was never taken) and fail
            # each publish with the reason
            if confirmations:
                channel.delivery_tag -= len(confirmations)
            for (tag, confirmation), item in zip(confirmations, live, strict=False):
                channel.confirmations.pop(tag, None)
                if channel.message_id_delivery_tag.get(item.message_id) == tag:
                    channel.message_id_delivery_tag.pop(item.message_id)
                confirmation.cancel()
            reason = exc if isinstance(exc, Exception) else ConnectionError("publish cancelled")
            for item in live:
                if not item.written.done():
                    item.written.set_exception(reason)
            if not isinstance(exc, Exception):
                raise
            return
        for item, (_, confirmation) in zip(live, confirmations, strict=True):
            if item.written.done():  # its publisher gave up while the write waited
                continue
            item.written.set_result(confirmation)

    def close(self) -> None:
        for task in self._writing:
            task.cancel()


def _forget(channel: Any, message_id: str, tag: int) -> Any:
    def forget(_: asyncio.Future[Any]) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)

    return forget
