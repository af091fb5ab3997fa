"""Waiting for the hub's decision on a submission (``POST /v1/envelopes?wait=…``).

The pipeline tells its observers which submissions it has decided; a request waiting for one of
them wakes at once and reads the decision from the store. A submission another node took (several
hubs on one RabbitMQ) is not heard of here: the waiter also looks in the store now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from hub.abc import Observer
from hub.ops.submit import SendResult, decision
from hub.store import Store

LOOK_EVERY = 0.25  # seconds between looks in the store for a decision made elsewhere


class Decisions(Observer):
    """The requests waiting for decisions, by submission id."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Event] = {}

    def submissions_decided(self, submission_ids: list[str]) -> None:
        for submission in submission_ids:
            event = self._waiting.get(submission)
            if event is not None:
                event.set()

    def expect(self, submission: str) -> None:
        """Before submitting: so that a decision made at once is not missed."""
        self._waiting[submission] = asyncio.Event()

    async def wait(self, store: Store, submission: str, seconds: float) -> SendResult | None:
        """The decision, or None if it was not made within ``seconds``."""
        event = self._waiting.setdefault(submission, asyncio.Event())
        deadline = time.monotonic() + seconds
        try:
            while True:  # expected before it was submitted: nothing to read before a wake-up
                remaining = deadline - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), max(0.0, min(LOOK_EVERY, remaining)))
                result = await decision(store, submission)
                if result is not None or event.is_set() or time.monotonic() >= deadline:
                    return result
        finally:
            self._waiting.pop(submission, None)

    def forget(self, submission: str) -> None:
        self._waiting.pop(submission, None)
