"""Least privilege on the real broker: `hub init --broker` writes the definitions (users, vhost,
permissions) that RabbitMQ loads; a department may only publish to `hub.submit` as itself and
read its own inbox, and the hub checks the AMQP user_id against the envelope's Sender.

The test's users and vhost have unique names and are removed afterwards; guest and the
existing vhosts are never touched."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import aio_pika.exceptions
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.config import load_config
from hub.queues import INBOUND_QUEUE, inbox_queue
from tests.hub.conftest import require_broker
from tests.hub.harness import Deployment, running_hub, wait_for_state
from tests.hub.pipeline.test_unreadable import receipt_of

pytestmark = pytest.mark.rabbitmq


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Deployment, str, str]]:
    """A deployment whose broker users come from its own definitions file."""
    require_broker()
    tag = uuid.uuid4().hex[:8]
    a, b = f"dept.a{tag}", f"dept.b{tag}"
    hub_user, vhost = f"hubsec-{tag}", f"hubsec-{tag}"
    url = f"amqp://{hub_user}:{uuid.uuid4().hex}@127.0.0.1:5672/{vhost}"
    directory = tmp_path / "deploy"
    result = CliRunner().invoke(
        main, ["init", str(directory), "--broker", url, "--departments", f"{a},{b}",
               "--metrics-address", "127.0.0.1:0", "--api-address", "127.0.0.1:0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    definitions = directory / "broker" / "definitions.json"
    document = json.loads(definitions.read_text())
    assert {u["name"] for u in document["users"]} == {hub_user, a, b}
    assert oct(definitions.stat().st_mode & 0o777) == "0o600"
    # rabbitmqctl reads the file as the rabbitmq user, and the file is its owner's only (0600):
    # a readable copy of the test's throw-away definitions, removed at once
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "definitions.json"
        copy.write_text(definitions.read_text())
        Path(folder).chmod(0o755)
        copy.chmod(0o644)
        loaded = rabbitmqctl("import_definitions", str(copy))
    try:
        assert loaded.returncode == 0, loaded.stderr
        config_path = directory / "hub.toml"
        text = re.sub(r"(?m)^workers = \d+$", "workers = 0", config_path.read_text())
        config_path.write_text(text)
        config = load_config(config_path)
        assert config.security.check_publisher
        yield Deployment(directory, config_path, config), a, b
    finally:
        for user in (a, b, hub_user):
            rabbitmqctl("delete_user", user)
        rabbitmqctl("delete_vhost", vhost)


async def ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    """A consumer that is never called: the broker refuses the consume."""


def url_of(deployment: Deployment, department: str) -> str:
    return (deployment.directory / "broker" / f"{department}.url").read_text().strip()


async def refused(action: object) -> str:
    """What the broker said when it refused ``action`` (a coroutine on a fresh channel)."""
    with pytest.raises(aio_pika.exceptions.AMQPError) as caught:
        await action  # type: ignore[misc]
    return str(caught.value)


async def test_a_department_can_do_only_what_it_must(secured: tuple[Deployment, str, str]) -> None:
    deployment, a, b = secured
    async with running_hub(deployment) as hub:
        connection = await aio_pika.connect(url_of(deployment, a))
        try:
            # cannot read another department's inbox
            channel = await connection.channel()
            theirs = await channel.get_queue(inbox_queue(b), ensure=False)
            said = await refused(theirs.consume(ignore))
            assert "ACCESS_REFUSED" in said and inbox_queue(b) in said
            # cannot declare or delete the hub's queues (nor declare any queue)
            channel = await connection.channel()
            quorum = {"x-queue-type": "quorum"}
            said = await refused(
                channel.declare_queue(INBOUND_QUEUE, durable=True, arguments=quorum)
            )
            assert "ACCESS_REFUSED" in said
            channel = await connection.channel()
            said = await refused(channel.queue_delete(INBOUND_QUEUE))
            assert "ACCESS_REFUSED" in said
            channel = await connection.channel()
            said = await refused(channel.queue_delete(inbox_queue(b)))
            assert "ACCESS_REFUSED" in said
            # cannot publish as another user, nor around hub.submit into an inbox
            channel = await connection.channel(publisher_confirms=True)
            submit = await channel.get_exchange("hub.submit", ensure=False)
            said = await refused(submit.publish(aio_pika.Message(b"<x/>", user_id=b), ""))
            assert "PRECONDITION_FAILED" in said and "user_id" in said
            channel = await connection.channel(publisher_confirms=True)
            said = await refused(
                channel.default_exchange.publish(aio_pika.Message(b"<x/>"), inbox_queue(b))
            )
            assert "ACCESS_REFUSED" in said
            # can read its own inbox
            channel = await connection.channel()
            mine = await channel.get_queue(inbox_queue(a), ensure=False)
            assert await mine.get(fail=False) is None
        finally:
            await connection.close()
        assert await hub.transport.depth(INBOUND_QUEUE) == 0
        assert await hub.transport.depth(inbox_queue(b)) == 0


async def publish(url: str, body: bytes, user_id: str | None) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("hub.submit", ensure=False)
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                   user_id=user_id)  # fmt: skip
        await exchange.publish(message, routing_key="", mandatory=True)
    finally:
        await connection.close()


async def taken_as(url: str, queue: str, expect: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Read ``queue`` with the department's own user (as a department's system does)."""
    connection = await aio_pika.connect(url)
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    try:
        channel = await connection.channel()
        inbox = await channel.get_queue(queue, ensure=False)
        for _ in range(200):
            message = await inbox.get(fail=False)
            if message is not None:
                await message.ack()
                got.append(message)
                if len(got) == expect:
                    break
            else:
                await asyncio.sleep(0.05)
    finally:
        await connection.close()
    return got


class Body:
    def __init__(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.body = message.body
        self.headers = {k: str(v) for k, v in (message.headers or {}).items()}


async def test_the_hub_checks_user_id_against_the_sender(
    secured: tuple[Deployment, str, str],
) -> None:
    deployment, a, b = secured
    for department in (a, b):  # hub init issued their keys; the memo route fits any dept.*
        assert (deployment.pki / f"{department}.pem").is_file()
    own_id, own = deployment.envelope(a, b)
    stolen_id, stolen = deployment.envelope(b, a)  # B's signed envelope, published by A
    anonymous_id, anonymous = deployment.envelope(a, b)
    async with running_hub(deployment) as hub:
        await publish(url_of(deployment, a), own, user_id=a)
        await publish(url_of(deployment, a), stolen, user_id=a)
        await publish(url_of(deployment, a), anonymous, user_id=None)
        assert await wait_for_state(hub.store, own_id, {"delivered"}) == "delivered"
        assert await wait_for_state(hub.store, stolen_id, {"rejected"}) == "rejected"
        assert await wait_for_state(hub.store, anonymous_id, {"rejected"}) == "rejected"
        stolen_row = await hub.store.get_message(stolen_id)
        anonymous_row = await hub.store.get_message(anonymous_id)
    delivered = await taken_as(url_of(deployment, b), inbox_queue(b), 2)
    assert stolen_row is not None and anonymous_row is not None
    assert (stolen_row.reason or "").startswith("publisher_mismatch")
    assert (anonymous_row.reason or "").startswith("publisher_unknown")
    kinds = sorted(m.headers.get("receipt-state", "envelope") for m in delivered)  # type: ignore[misc]
    assert kinds == ["envelope", "rejected"]  # A's memo, and the receipt about B's stolen one
    receipt = next(m for m in delivered if m.headers.get("receipt-state") == "rejected")
    facts, _ = receipt_of(deployment, Body(receipt))  # type: ignore[arg-type]
    ((code, text),) = facts["reasons"]  # type: ignore[misc]
    assert code == "publisher_mismatch" and a in text and b in text
