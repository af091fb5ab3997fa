"""What the hub puts into inboxes is what docs/asyncapi.yaml says: every header and (on
RabbitMQ) every AMQP property of an envelope, a receipt and an execution notice, checked against
the document's JSON Schemas, on both transports."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aio_pika
import yaml

from envelopes.codec import new_envelope, to_bytes
from envelopes.parsing import parse_xml
from hub.execution.settings import RegistrationConfig
from hub.pipeline.hub import Hub
from hub.queues import inbox_queue
from tests.hub.harness import MEMO, Deployment, running_hub, submit, wait_for_state

DOCUMENT = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"
SENDER, RECIPIENT = "dept.finance", "dept.culture"


def problems(values: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Where ``values`` break ``schema`` (the JSON Schema subset the document uses)."""
    found = [f"{name}: missing" for name in schema.get("required", []) if name not in values]
    for name, value in values.items():
        field = schema["properties"].get(name)
        if field is None:
            extra = any(re.search(p, name) for p in schema.get("patternProperties", {}))
            if not (extra or schema.get("additionalProperties", True)):
                found.append(f"{name}: not in the document")
            continue
        kind = {"string": str, "integer": int}[field["type"]]
        if not isinstance(value, kind):
            found.append(f"{name}: {value!r} is no {field['type']}")
        elif "const" in field and value != field["const"]:
            found.append(f"{name}: {value!r} is not {field['const']!r}")
        elif "enum" in field and value not in field["enum"]:
            found.append(f"{name}: {value!r} not in {field['enum']}")
        elif "pattern" in field and not re.search(field["pattern"], str(value)):
            found.append(f"{name}: {value!r} does not match {field['pattern']}")
    return found


async def inbox_of(hub: Hub, deployment: Deployment, participant: str, expect: int) -> list[Any]:
    """(headers, properties) of what is in an inbox, as a plain client sees them on RabbitMQ
    (properties None on the embedded transport, which has none)."""
    got: list[Any] = []
    url = deployment.config.broker_url
    connection = await aio_pika.connect(url) if url else None
    try:
        queue = None
        if connection is not None:
            queue = await (await connection.channel()).get_queue(inbox_queue(participant))
        for _ in range(100):
            if len(got) >= expect:
                break
            if queue is None:
                delivery = await hub.transport.get(inbox_queue(participant))
                if delivery is not None:
                    got.append((dict(delivery.headers), None))
                    await delivery.ack()
                    continue
            else:
                message = await queue.get(no_ack=True, fail=False)
                if message is not None:
                    headers = {
                        k: v.decode() if isinstance(v, bytes) else v
                        for k, v in (message.headers or {}).items()
                    }
                    properties = {
                        "message_id": message.message_id,
                        "delivery_mode": int(message.delivery_mode),
                        "content_type": message.content_type,
                        "priority": message.priority,
                        "user_id": message.user_id,
                        "reply_to": message.reply_to,
                    }
                    got.append((headers, {k: v for k, v in properties.items() if v}))
                    continue
            await asyncio.sleep(0.05)
    finally:
        if connection is not None:
            await connection.close()
    return got


def kind_of(headers: Mapping[str, Any]) -> str:
    if headers.get("sender") == "hub.main" and "message-type" not in headers:
        return "receipt" if headers.get("kind") == "receipt" else "executionNotice"
    return "envelope"


async def test_what_the_hub_puts_into_inboxes_is_what_the_document_says(
    deployment: Deployment,
) -> None:
    doc = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    messages = doc["components"]["messages"]
    deployment.config.execution.registration[RECIPIENT] = RegistrationConfig(
        index="01-12", auto_register=True
    )  # a notice to the sender when the document is registered on delivery
    header, root = new_envelope(SENDER, RECIPIENT, parse_xml(MEMO.read_bytes()), priority=7)
    deployment.signer(SENDER).sign(root)
    async with running_hub(deployment) as hub:
        await submit(hub, to_bytes(root))
        await wait_for_state(hub.store, str(header.message_id), {"delivered"})
        found = await inbox_of(hub, deployment, RECIPIENT, 1)
        found += await inbox_of(hub, deployment, SENDER, 2)
    kinds = sorted(kind_of(headers) for headers, _ in found)
    assert kinds == ["envelope", "executionNotice", "receipt"]
    for headers, properties in found:
        message = messages[kind_of(headers)]
        assert problems(headers, message["headers"]) == [], (kind_of(headers), headers)
        if properties is not None:  # RabbitMQ
            schema = message["x-amqp-properties"]
            assert problems(properties, schema) == [], (kind_of(headers), properties)
            assert properties["message_id"] == headers["message-id"]
    envelope = next(h for h, _ in found if kind_of(h) == "envelope")
    assert envelope["priority"] == "7"
