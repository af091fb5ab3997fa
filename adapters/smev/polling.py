"""How often the SMEV adapter polls: one loop per queue (responses, requests, statuses).

A loop polls again at once while SMEV has messages; when the queue is empty it waits, doubling
the wait from ``poll_min`` up to ``poll_max``; when a poll fails (SMEV or the hub unreachable)
it backs off up to ``error_backoff_max``. :meth:`PollLoops.wake` cuts the waits of the
responses and statuses loops short and sets them back to ``poll_min``: after a send, an answer
may come soon.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable

from adapters.smev.settings import SmevSettings

log = logging.getLogger("adapters.smev")

Poll = Callable[[], Awaitable[bool]]  # one poll; True if it took (and handled) a message
WAKEABLE = ("responses", "statuses")


class PollLoops:
    """The polling tasks of one adapter."""

    def __init__(self, settings: SmevSettings) -> None:
        self.settings = settings
        self._tasks: list[asyncio.Task[None]] = []
        self._wakers: dict[str, asyncio.Event] = {}
        self._stopping = False
        # (loop, seconds) of the latest waits on an empty queue: for tests and diagnostics
        self.waits: collections.deque[tuple[str, float]] = collections.deque(maxlen=256)

    def start(self, name: str, loops: list[tuple[str, Poll]]) -> None:
        """Run each ``(label, poll)`` in a task of its own until :meth:`stop`."""
        self._wakers = {label: asyncio.Event() for label in WAKEABLE}
        for label, poll in loops:
            self._tasks.append(
                asyncio.create_task(self._loop(name, label, poll), name=f"smev-{name}-{label}")
            )

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def wake(self) -> None:
        for waker in self._wakers.values():
            waker.set()

    async def _loop(self, name: str, label: str, poll: Poll) -> None:
        """Poll until stopped: right away while SMEV has messages; when its queue is empty,
        wait, doubling up to poll_max; after a send, back to poll_min (responses only)."""
        settings = self.settings
        interval = settings.poll_min
        failures = 0
        while not self._stopping:
            try:
                handled = await poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # SMEV or the hub unreachable: try again later
                failures += 1
                delay = min(settings.error_backoff_max, settings.poll_min * 2**failures)
                log.warning("SMEV %s %s poll failed (%s); next in %.1fs", name, label, exc, delay)
                await self._pause(label, delay)
                continue
            failures = 0
            if handled:
                interval = settings.poll_min
                await asyncio.sleep(0)
                continue
            self.waits.append((label, interval))
            woken = await self._pause(label, interval)
            interval = settings.poll_min if woken else min(settings.poll_max, interval * 2)

    async def _pause(self, label: str, seconds: float) -> bool:
        """Sleep; True if a send woke the loop early (responses and statuses)."""
        waker = self._wakers.get(label)
        if waker is None:
            await asyncio.sleep(seconds)
            return False
        try:
            await asyncio.wait_for(waker.wait(), timeout=seconds)
        except TimeoutError:
            return False
        waker.clear()
        return True
