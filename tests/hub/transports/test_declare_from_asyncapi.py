"""A client that declares what docs/asyncapi.yaml says gets no PRECONDITION_FAILED, whether
the hub declared its topology first or the client did: the document says exactly what the hub
declares. A plain aio-pika connection, none of the hub's code, reads the committed document."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import pytest
import yaml

from hub.transports.rabbitmq import RabbitTransport
from tests.hub.conftest import require_broker

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"
# a real value for each parameter of the document's names
VALUES = {"participant": "dept.finance", "adapter": "smev", "seconds": "5"}

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def vhost_url() -> AsyncIterator[str]:
    from tests.hub.harness import drop_vhost, new_vhost

    require_broker()
    vhost = new_vhost()
    if vhost is None:
        pytest.skip("rabbitmqctl is needed to make a test vhost")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    drop_vhost(vhost)


def instantiate(text: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], text)


def argument(value: Any, values: Mapping[str, str]) -> Any:
    """An argument as the document gives it (``{parameter, factor}``: a parameter's multiple)."""
    if isinstance(value, dict):
        return int(values[value["parameter"]]) * int(value["factor"])
    return value


async def declare_as_documented(url: str, values: Mapping[str, str] = VALUES) -> list[str]:
    """Declare every exchange, queue and binding the document names; what was declared."""
    doc = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    channels = doc["channels"].values()
    declared = []
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        exchanges = {}
        for item in channels:  # the exchanges first: queues are bound to them
            amqp = item["bindings"]["amqp"]
            if amqp["is"] == "routingKey":
                spec = amqp["exchange"]
                name = instantiate(spec["name"], values)
                exchanges[name] = await channel.declare_exchange(
                    name,
                    aio_pika.ExchangeType(spec["type"]),
                    durable=spec["durable"],
                    auto_delete=spec["autoDelete"],
                )
                declared.append(f"exchange {name}")
        for item in channels:
            amqp = item["bindings"]["amqp"]
            if amqp["is"] != "queue":
                continue
            spec = amqp["queue"]
            name = instantiate(spec["name"], values)
            queue = await channel.declare_queue(
                name,
                durable=spec["durable"],
                exclusive=spec["exclusive"],
                auto_delete=spec["autoDelete"],
                arguments={k: argument(v, values) for k, v in item["x-amqp-arguments"].items()},
            )
            for bound in item["x-amqp-bindings"]:
                exchange = exchanges[instantiate(bound["exchange"], values)]
                await queue.bind(exchange, routing_key=instantiate(bound["routingKey"], values))
            declared.append(f"queue {name}")
    finally:
        await connection.close()
    return declared


async def hub_declares(url: str) -> None:
    """What a running hub declares: its topology at start, an inbox, an adapter's work queue,
    a delay queue on first use."""
    transport = RabbitTransport(url)
    await transport.start()
    try:
        await transport.declare_queue("inbox." + VALUES["participant"])
        await transport.declare_queue("hub.out." + VALUES["adapter"])
        await transport.publish(
            "hub.out." + VALUES["adapter"], b"<later/>", {}, delay=float(VALUES["seconds"])
        )
    finally:
        await transport.close()


# what the AsyncAPI document has a client declare, in its order
DOCUMENTED = [
    "exchange hub.submit",
    "exchange hub.dead",
    "exchange hub.redeliver",
    "exchange hub.retry.5",
    "queue hub.inbound",
    "queue inbox.dept.finance",
    "queue hub.out.smev",
    "queue hub.dead",
    "queue hub.retry.5",
]


async def test_the_hub_first_then_a_client_as_documented(vhost_url: str) -> None:
    await hub_declares(vhost_url)
    declared = await declare_as_documented(vhost_url)
    assert declared == DOCUMENTED


async def test_a_client_as_documented_first_then_the_hub(vhost_url: str) -> None:
    assert await declare_as_documented(vhost_url) == DOCUMENTED
    await hub_declares(vhost_url)  # would raise PRECONDITION_FAILED on an inequivalent queue
    # and once more, to be sure nothing moved: every declaration still accepted
    assert await declare_as_documented(vhost_url) == DOCUMENTED


async def test_what_the_old_docs_said_is_refused(vhost_url: str) -> None:
    """An inbox declared "same as hub.inbound" (the docs before) fails: the check can fail."""
    await hub_declares(vhost_url)
    connection = await aio_pika.connect(vhost_url)
    try:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed, match="inequivalent"):
            await channel.declare_queue(
                "inbox." + VALUES["participant"],
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-dead-letter-exchange": "hub.dead",
                    "x-delivery-limit": 10,
                },
            )
    finally:
        await connection.close()


async def test_an_inbox_keeps_what_its_reader_nacks_and_drops_what_it_rejects(
    vhost_url: str,
) -> None:
    """No delivery limit on an inbox (docs/rabbitmq-topology.md, reading the inbox): a message
    nacked with requeue comes back however often, nothing goes to hub.dead; nacked without
    requeue it is gone."""
    inbox = "inbox." + VALUES["participant"]
    transport = RabbitTransport(vhost_url)
    await transport.start()
    try:
        await transport.publish(inbox, b"<e/>", {"message-id": "m"})
        connection = await aio_pika.connect(vhost_url)
        try:
            channel = await connection.channel()
            queue = await channel.get_queue(inbox)
            counts = []
            for _ in range(12):  # more than hub.inbound's x-delivery-limit
                message = await queue.get(timeout=5)
                counts.append((message.headers or {}).get("x-delivery-count", 0))
                await message.nack(requeue=True)
            message = await queue.get(timeout=5)
            assert message.body == b"<e/>" and message.redelivered
            await message.nack(requeue=False)
            assert await queue.get(fail=False) is None
        finally:
            await connection.close()
        assert counts == list(range(12))
        assert await transport.depth("hub.dead") == 0
    finally:
        await transport.close()
