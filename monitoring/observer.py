"""The hub's events as Prometheus counters and histograms (dramatiq's Prometheus middleware, in
this hub's shape): an ``Observer`` the hub calls; the hub never imports it."""

from __future__ import annotations

from typing import Any

from hub.abc import Destination, Observer
from monitoring.metrics import Metrics


class PrometheusObserver(Observer):
    """Moves the event metrics of one ``Metrics`` registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        # the labelled children of the per-message metrics, looked up once: ``labels()`` takes
        # a lock and checks its arguments on every call, and these move ~8 times per message
        self._children: dict[tuple[int, str], Any] = {}

    def _child(self, metric: Any, label: str) -> Any:
        key = (id(metric), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(label)
        return child

    def message_received(self, source: str) -> None:
        self._child(self.metrics.received, source).inc()

    def stage_timed(self, stage: str, seconds: float) -> None:
        self._child(self.metrics.stage, stage).observe(seconds)

    def message_decided(self, outcome: str, label: str) -> None:
        if outcome == "accepted":
            self.metrics.accepted.labels(label).inc()
        elif outcome == "rejected":
            self.metrics.rejected.labels(label).inc()
        elif outcome == "duplicate":
            self.metrics.duplicates.inc()

    def delivery_attempted(self, destination: Destination, outcome: str) -> None:
        self.metrics.deliveries.labels(destination.adapter, destination.address, outcome).inc()

    def delivered(self, destination: Destination, seconds: float) -> None:
        self.metrics.end_to_end.labels(destination.adapter).observe(seconds)

    def retry_scheduled(self, destination: Destination) -> None:
        self.metrics.retries.labels(destination.adapter, destination.address).inc()

    def dead_lettered(self, destination: Destination, code: str) -> None:
        self.metrics.dead_letters.labels(destination.adapter, code).inc()

    def expired(self) -> None:
        self.metrics.expired.inc()

    def receipt_sent(self, state: str) -> None:
        self._child(self.metrics.receipts, state).inc()

    def breaker_changed(self, destination: Destination, state: int) -> None:
        self.metrics.breaker_state.labels(destination.adapter, destination.address).set(state)

    def rules_applied(self, version: str, previous: str | None) -> None:
        if previous is not None:
            self.metrics.rules_reloads.labels("applied").inc()
            self.metrics.rules_version.remove(previous)
        self.metrics.rules_version.labels(version).set(1)

    def rules_refused(self) -> None:
        self.metrics.rules_reloads.labels("refused").inc()

    def hub_started(self, transport: str) -> None:
        self.metrics.up.labels(transport).set(1)

    def hub_stopped(self, transport: str) -> None:
        self.metrics.up.labels(transport).set(0)
