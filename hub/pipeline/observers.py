"""Many observers heard as one: what the pipeline calls on every event.

A failing observer is logged and skipped; it never fails a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hub.abc import Destination, Observer

log = logging.getLogger("hub.observers")


class Observers(Observer):
    """Fans each hook out to the registered observers."""

    def __init__(self, observers: Iterable[Observer] = ()) -> None:
        self._observers = list(observers)

    def __iter__(self) -> Iterator[Observer]:
        return iter(list(self._observers))

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def remove(self, observer: Observer) -> None:
        self._observers.remove(observer)

    def _each(self, hook: Callable[[Observer], Any]) -> None:
        for observer in self._observers:
            try:
                hook(observer)
            except Exception:
                log.exception("observer %r failed", observer)

    def message_received(self, source: str) -> None:
        self._each(lambda o: o.message_received(source))

    def stage_timed(self, stage: str, seconds: float) -> None:
        self._each(lambda o: o.stage_timed(stage, seconds))

    def message_decided(self, outcome: str, label: str) -> None:
        self._each(lambda o: o.message_decided(outcome, label))

    def submissions_decided(self, submission_ids: list[str]) -> None:
        self._each(lambda o: o.submissions_decided(submission_ids))

    def delivery_attempted(self, destination: Destination, outcome: str) -> None:
        self._each(lambda o: o.delivery_attempted(destination, outcome))

    def delivered(self, destination: Destination, seconds: float) -> None:
        self._each(lambda o: o.delivered(destination, seconds))

    def retry_scheduled(self, destination: Destination) -> None:
        self._each(lambda o: o.retry_scheduled(destination))

    def dead_lettered(self, destination: Destination, code: str) -> None:
        self._each(lambda o: o.dead_lettered(destination, code))

    def expired(self) -> None:
        self._each(lambda o: o.expired())

    def receipt_sent(self, state: str) -> None:
        self._each(lambda o: o.receipt_sent(state))

    def breaker_changed(self, destination: Destination, state: int) -> None:
        self._each(lambda o: o.breaker_changed(destination, state))

    def rules_applied(self, version: str, previous: str | None) -> None:
        self._each(lambda o: o.rules_applied(version, previous))

    def rules_refused(self) -> None:
        self._each(lambda o: o.rules_refused())

    def hub_started(self, transport: str) -> None:
        self._each(lambda o: o.hub_started(transport))

    def hub_stopped(self, transport: str) -> None:
        self._each(lambda o: o.hub_stopped(transport))
