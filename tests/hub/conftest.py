"""Fixtures that give the same test bodies an embedded and a RabbitMQ transport."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.abc import Transport
from hub.store import Store
from hub.transports.embedded import EmbeddedTransport
from hub.transports.rabbitmq import RabbitTransport
from tests.support.postgres import postgres_store_url
from tests.support.stores import STORE_BACKENDS, StoreSpot

BROKER_URL = os.environ.get("HUB_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


def broker_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


def require_broker() -> None:
    """Skip without a broker on a laptop; in CI a missing broker is a failure."""
    if broker_available():
        return
    if os.environ.get("CI"):
        pytest.fail("RabbitMQ is not reachable on 127.0.0.1:5672, and CI requires it")
    pytest.skip("no RabbitMQ broker on 127.0.0.1:5672")


@pytest.fixture(params=STORE_BACKENDS)
def store_spot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreSpot]:
    """An empty store's place, on each backend (SQLite and PostgreSQL)."""
    if request.param == "sqlite":
        yield StoreSpot("sqlite", str(tmp_path / "hub.sqlite"))
        return
    with postgres_store_url() as url:
        yield StoreSpot("postgresql", url)


@pytest.fixture
async def store(store_spot: StoreSpot) -> AsyncIterator[Store]:
    s = await store_spot.open()
    yield s
    await s.close()


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def transport(request: pytest.FixtureRequest, store: Store) -> AsyncIterator[Transport]:
    t: Transport
    from .harness import drop_vhost, new_vhost

    vhost = None
    if request.param == "embedded":
        t = EmbeddedTransport(store, poll_interval=0.01, lease=2.0)
    else:
        require_broker()
        vhost = new_vhost()
        if vhost is None:
            pytest.skip("rabbitmqctl is needed to make a test vhost")
        t = RabbitTransport(f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
    await t.start()
    yield t
    await t.close()
    if vhost:
        drop_vhost(vhost)


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("postgresql", marks=[pytest.mark.rabbitmq, pytest.mark.postgresql]),
    ]
)
def broker_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """'' for the embedded transport, or the URL of a fresh RabbitMQ vhost — the last variant
    with the store on PostgreSQL (the scaled shape: ``HUB_STORE__URL`` for the hub in this
    process and for every ``hub`` command the test starts)."""
    from .harness import drop_vhost, new_vhost

    if request.param == "embedded":
        yield ""
        return
    require_broker()
    vhost = new_vhost()
    if vhost is None:
        pytest.skip("rabbitmqctl is needed to make a test vhost")
    if request.param == "postgresql":
        with postgres_store_url() as url:
            monkeypatch.setenv("HUB_STORE__URL", url)
            yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    else:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    drop_vhost(vhost)


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Any:
    from .harness import make_deployment

    return make_deployment(tmp_path / "deploy", broker_url)
