"""``Delivery.properties``: the AMQP properties the hub reads, from RabbitMQ's properties or
(embedded) from the publisher's headers; and whom the hub answers by them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage

from hub.queues import answer_to, has_inbox_here
from hub.records import QueuedRow
from hub.store.sqlite import SqliteStore
from hub.transports.embedded import EmbeddedDelivery
from hub.transports.rabbitmq import RabbitDelivery


@dataclass
class Message:
    headers: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    redelivered: bool = False
    message_id: str | None = None
    user_id: str | None = None
    reply_to: str | None = None
    delivery_tag: int | None = None


def test_rabbitmq_properties_come_from_the_amqp_properties_only() -> None:
    message = Message(
        headers={"user-id": "dept.forged", "reply-to": "inbox.dept.forged"},
        message_id="m-1",
        user_id="dept.finance",
    )
    delivery = RabbitDelivery(cast(AbstractIncomingMessage, message))
    assert dict(delivery.properties) == {"message_id": "m-1", "user_id": "dept.finance"}
    assert dict(RabbitDelivery(cast(AbstractIncomingMessage, Message())).properties) == {}


def test_embedded_properties_come_from_the_publishers_headers() -> None:
    row = QueuedRow(1, "hub.inbound", b"", {"message-id": "m", "reply-to": "inbox.dept.a"}, 1)
    delivery = EmbeddedDelivery(cast(SqliteStore, None), row, None)
    assert dict(delivery.properties) == {"message_id": "m", "reply_to": "inbox.dept.a"}


def test_properties_are_read_only() -> None:
    delivery = RabbitDelivery(cast(AbstractIncomingMessage, Message(message_id="m")))
    with pytest.raises(TypeError):
        delivery.properties["message_id"] = "other"  # type: ignore[index]
    assert delivery.properties["message_id"] == "m"


def test_the_submitter_is_its_user_id_else_its_reply_to_inbox() -> None:
    departments = ["dept.a", "dept.b"]
    assert answer_to({"user_id": "dept.a", "reply_to": "inbox.dept.b"}, departments) == (
        "dept.a",
        "AMQP user_id",
    )
    assert answer_to({"user_id": "guest", "reply_to": "inbox.dept.b"}, departments) == (
        "dept.b",
        "AMQP reply_to",
    )
    assert answer_to({"user_id": "dept.c"}, departments) is None  # no inbox here
    for queue in ("hub.inbound", "hub.out.smev", "amq.gen-xyz", "inbox.", "inbox.dept.c", ""):
        assert answer_to({"reply_to": queue}, departments) is None, queue
    assert answer_to({"user_id": "dept.c"}, []) == ("dept.c", "AMQP user_id")  # all have one
    assert not has_inbox_here("guest", [])
