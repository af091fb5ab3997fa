"""Circuit breakers, one per destination: stop hammering a destination that is down.

closed → (``failure_threshold`` transient failures in a row) → open → (``probe_interval`` later)
half-open: one message is let through as a probe → success closes it, failure opens it again.
A destination may also say when to come back (a Retry-After): the breaker holds every message
for it until then. While a breaker does not allow an attempt, messages wait in the broker (a
delay queue) and no attempt is counted against them.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hub.abc import Destination


class BreakerState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass
class Breaker:
    threshold: int
    probe_interval: float
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    hold_until: float = 0.0
    probing: bool = False
    last_error: str = ""

    def wait_time(self, now: float) -> float:
        """0 if an attempt may go now, else how long to wait before asking again."""
        if now < self.hold_until:
            return self.hold_until - now
        if self.state == BreakerState.CLOSED:
            return 0.0
        if self.state == BreakerState.OPEN:
            remaining = self.opened_at + self.probe_interval - now
            if remaining > 0:
                return remaining
            self.state = BreakerState.HALF_OPEN
            self.probing = False
        if self.probing:  # half-open with a probe in flight: the rest wait for its verdict
            return min(self.probe_interval, 1.0)
        self.probing = True
        return 0.0


@dataclass
class Breakers:
    """All breakers of one hub; ``on_change`` hears every state change (metrics, store)."""

    threshold: int
    probe_interval: float
    on_change: Callable[[Destination, Breaker], None] | None = None
    _by_destination: dict[Destination, Breaker] = field(default_factory=dict)

    def get(self, destination: Destination) -> Breaker:
        breaker = self._by_destination.get(destination)
        if breaker is None:
            breaker = Breaker(self.threshold, self.probe_interval)
            self._by_destination[destination] = breaker
        return breaker

    def wait_time(self, destination: Destination) -> float:
        breaker = self.get(destination)
        before = breaker.state
        wait = breaker.wait_time(time.monotonic())
        if breaker.state != before:
            self._changed(destination, breaker)
        return wait

    def success(self, destination: Destination) -> None:
        breaker = self.get(destination)
        changed = breaker.state != BreakerState.CLOSED
        breaker.state, breaker.failures, breaker.probing = BreakerState.CLOSED, 0, False
        breaker.last_error = ""
        if changed:
            self._changed(destination, breaker)

    def failure(
        self, destination: Destination, error: str, retry_after: float | None = None
    ) -> None:
        breaker = self.get(destination)
        now = time.monotonic()
        breaker.failures += 1
        breaker.last_error = error
        breaker.probing = False
        if retry_after:
            breaker.hold_until = max(breaker.hold_until, now + retry_after)
        if breaker.state == BreakerState.HALF_OPEN or breaker.failures >= breaker.threshold:
            changed = breaker.state != BreakerState.OPEN
            breaker.state, breaker.opened_at = BreakerState.OPEN, now
            if changed:
                self._changed(destination, breaker)

    def states(self) -> dict[Destination, Breaker]:
        return dict(self._by_destination)

    def _changed(self, destination: Destination, breaker: Breaker) -> None:
        if self.on_change is not None:
            self.on_change(destination, breaker)
