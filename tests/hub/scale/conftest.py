"""Fixtures of the scale-out tests: a fresh vhost on the machine's broker, a store of its own
on PostgreSQL, and a three-node RabbitMQ cluster started for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hub.conftest import require_broker
from tests.hub.harness import drop_vhost, new_vhost
from tests.support.postgres import postgres_store_url
from tests.support.rabbit_cluster import rabbit_cluster

__all__ = ["rabbit_cluster"]


@pytest.fixture
def vhost_url() -> Iterator[str]:
    require_broker()
    vhost = new_vhost()
    if vhost is None:
        pytest.skip("rabbitmqctl is needed to make a test vhost")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    drop_vhost(vhost)


@pytest.fixture
def store_url() -> Iterator[str]:
    with postgres_store_url() as url:
        yield url
