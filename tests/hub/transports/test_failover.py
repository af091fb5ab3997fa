"""A broker given as several URLs (a cluster's nodes): the first that answers, the next one when
the connection is lost. Two TCP proxies in front of the one broker stand for two nodes here;
tests/hub/scale/ does it with a real three-node cluster."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from hub.abc import Delivery
from hub.transports.rabbitmq import RabbitTransport
from tests.hub.conftest import require_broker
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def vhost() -> AsyncIterator[str]:
    from tests.hub.harness import drop_vhost, new_vhost

    require_broker()
    name = new_vhost()
    if name is None:
        pytest.skip("rabbitmqctl is needed to make a test vhost")
    yield name
    drop_vhost(name)


def closed_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def via(port: int, vhost: str) -> str:
    return f"amqp://guest:guest@127.0.0.1:{port}/{vhost}"


async def test_the_first_node_that_answers_is_used(vhost: str) -> None:
    transport = RabbitTransport(f"{via(closed_port(), vhost)},{via(5672, vhost)}")
    await transport.start()
    try:
        await transport.declare_queue("test.first")
        await transport.publish("test.first", b"<x/>")
        assert await transport.depth("test.first") == 1
    finally:
        await transport.close()


async def test_no_node_answering_fails_at_start(vhost: str) -> None:
    transport = RabbitTransport([via(closed_port(), vhost), via(closed_port(), vhost)])
    with pytest.raises(Exception) as failure:
        await asyncio.wait_for(transport.start(), 30)
    assert not isinstance(failure.value, TimeoutError)  # refused at once, not hung


async def test_a_lost_node_is_replaced_by_the_next_and_nothing_confirmed_is_lost(
    vhost: str,
) -> None:
    """Consuming and confirmed publishing go on through the second "node" once the first is
    gone for good; every confirmed publish arrives (a redelivery may repeat one)."""
    first, second = TcpProxy("127.0.0.1", 5672), TcpProxy("127.0.0.1", 5672)
    await first.start()
    await second.start()
    transport = RabbitTransport([via(first.port, vhost), via(second.port, vhost)])
    await transport.start()
    got: list[bytes] = []

    async def handler(delivery: Delivery) -> None:
        got.append(delivery.body)
        await delivery.ack()

    confirmed: list[bytes] = []

    async def publish(body: bytes) -> None:
        for _ in range(100):  # a publish caught by the cut raises: the caller sends it again
            try:
                await transport.publish("test.failover", body)
            except Exception:
                await asyncio.sleep(0.1)
                continue
            confirmed.append(body)
            return
        pytest.fail(f"{body!r} was never confirmed")

    try:
        await transport.consume("test.failover", handler, prefetch=16)
        await asyncio.gather(*(publish(b"%d" % i) for i in range(100)))
        assert (first.connections, second.connections) == (1, 0)
        await first.stop()  # the node is gone: its port refuses from now on
        await asyncio.gather(*(publish(b"%d" % i) for i in range(100, 200)))
        for _ in range(100):
            if set(got) >= set(confirmed):
                break
            await asyncio.sleep(0.1)
        assert set(got) == {b"%d" % i for i in range(200)}
        assert second.connections == 1
        assert await transport.ping()
    finally:
        await transport.close()
        await second.stop()
