"""The collector against RabbitMQ: queue depths from the broker, readiness naming the broker.

It does not start a hub (that would consume the shared ``hub.inbound``): a stand-in with the
real store, transport and metrics is enough for the collector.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from hub.config import load_config
from hub.pipeline.hub import Hub
from hub.scaffold import init_deployment
from hub.store.sqlite import SqliteStore as Store
from hub.transports.rabbitmq import RabbitTransport
from monitoring.collector import Collector
from monitoring.metrics import Metrics
from tests.hub.conftest import BROKER_URL, require_broker
from tests.monitoring.conftest import DEPARTMENTS

pytestmark = pytest.mark.rabbitmq


class StandIn:
    def __init__(self, path: Path, transport: RabbitTransport, store: Store) -> None:
        self.config = load_config(path)
        self.metrics = Metrics()
        self.transport = transport
        self.store = store
        self.adapters: dict[str, object] = {}
        self.started = asyncio.Event()
        self.started.set()


async def test_queue_depths_and_readiness_on_rabbitmq(tmp_path: Path) -> None:
    require_broker()
    config_path = init_deployment(tmp_path, DEPARTMENTS, BROKER_URL, "127.0.0.1:0", "127.0.0.1:0")
    store = await Store.open(tmp_path / "hub.sqlite")
    transport = RabbitTransport(BROKER_URL)
    await transport.start()
    stand_in = StandIn(config_path, transport, store)
    collector = Collector(cast(Hub, stand_in), stand_in.metrics, min_interval=0)
    try:
        await collector.collect(force=True)
        registry = stand_in.metrics.registry
        assert registry.get_sample_value("hub_ready") == 1
        depth = registry.get_sample_value("hub_queue_depth", {"queue": "hub.inbound"})
        assert depth is not None and depth >= 0
        for department in DEPARTMENTS:
            labels = {"queue": f"inbox.{department}"}
            assert registry.get_sample_value("hub_queue_depth", labels) is not None
        await transport.close()
        readiness = await collector.check_ready()
        assert not readiness.ready
        assert readiness.failing == ["transport"]
        assert registry.get_sample_value("hub_ready") == 0
    finally:
        await transport.close()
        await store.close()
