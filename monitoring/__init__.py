"""Monitoring: Prometheus metrics, ``/metrics`` ``/healthz`` ``/readyz``, Grafana, alert rules.

It hooks into the hub from outside, as dramatiq's Prometheus middleware does: the hub emits
events to its observers and never imports this package.

- ``metrics.py``: every metric, bound to one registry (catalogue: monitoring/README.md);
- ``observer.py``: the hub's events → counters and histograms;
- ``collector.py``: the state gauges (queues, store, breakers, certificates), readiness;
- ``http.py``: the endpoints;
- ``extension``: what ``hub serve`` finds by the ``hub.extensions`` entry point.
"""

from __future__ import annotations

import logging

from aiohttp import web

from hub.abc import Extension
from hub.nodes import reachable_url
from hub.pipeline.hub import Hub
from monitoring.collector import Collector
from monitoring.http import bound_address, start_http
from monitoring.metrics import Metrics
from monitoring.observer import PrometheusObserver

log = logging.getLogger("hub.monitoring")


def instrument(hub: Hub, metrics: Metrics | None = None) -> Metrics:
    """Have ``hub`` (not started yet) move the metrics of ``metrics`` (a new registry if None)."""
    metrics = metrics or Metrics(node=hub.node)
    hub.observers.add(PrometheusObserver(metrics))
    return metrics


def metrics_of(hub: Hub) -> Metrics:
    """The metrics an instrumented hub moves."""
    for observer in hub.observers:
        if isinstance(observer, PrometheusObserver):
            return observer.metrics
    raise LookupError("this hub is not instrumented (monitoring.instrument)")


class MetricsEndpoint(Extension):
    """The collector and the HTTP endpoints beside a running hub."""

    def __init__(self, hub: Hub, metrics: Metrics) -> None:
        self.hub = hub
        self.metrics = metrics
        self.collector = Collector(hub, metrics)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        await self.collector.start()
        host, port = self.hub.config.metrics_host_port
        self._runner = await start_http(self.collector, host, port)
        host, port = bound_address(self._runner)
        log.info("metrics at http://%s:%d/metrics", host, port)
        self.hub.announce("metrics", reachable_url("http", host, port) + "/metrics")

    async def stop(self) -> None:
        await self.collector.stop()
        if self._runner is not None:
            await self._runner.cleanup()


def extension(hub: Hub) -> Extension | None:
    """The ``hub.extensions`` entry point: metrics for ``hub serve`` unless ``[metrics]`` is off."""
    if not hub.config.metrics.enabled:
        return None
    return MetricsEndpoint(hub, instrument(hub))
