"""The topology data: what each queue is declared with, and that it agrees with the rules the
embedded transport follows (hub/queues.py) and with what the code puts in messages."""

from __future__ import annotations

import pytest

from envelopes.model import Kind
from hub.abc import Destination, OutboundMessage
from hub.execution.notices import NOTICE_TYPE
from hub.pipeline.receipts import RECEIPT_TYPE
from hub.queues import (
    DEAD_QUEUE,
    DELIVERY_LIMIT,
    INBOUND_QUEUE,
    has_delivery_limit,
    inbox_queue,
    out_queue,
    to_headers,
)
from hub.transports.topology import (
    DELAY_BUCKETS,
    EXCHANGES,
    MESSAGES,
    OPERATIONS,
    QUEUES,
    delay_bucket,
    resolve_queue,
)

WORK = {
    "x-queue-type": "quorum",
    "x-dead-letter-exchange": "hub.dead",
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
    "x-delivery-limit": DELIVERY_LIMIT,
}


@pytest.mark.parametrize(
    ("name", "arguments", "bindings"),
    [
        (INBOUND_QUEUE, WORK, [("hub.submit", ""), ("hub.redeliver", "hub.inbound")]),
        (out_queue("smev"), WORK, [("hub.redeliver", "hub.out.smev")]),
        (
            inbox_queue("dept.finance"),
            {"x-queue-type": "quorum"},
            [("hub.redeliver", "inbox.dept.finance")],
        ),
        (DEAD_QUEUE, {"x-queue-type": "quorum"}, [("hub.dead", "")]),
        (
            "hub.retry.30",
            {
                "x-queue-type": "quorum",
                "x-message-ttl": 30_000,
                "x-dead-letter-exchange": "hub.redeliver",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
            [("hub.retry.30", "")],
        ),
        ("test.anything", WORK, [("hub.redeliver", "test.anything")]),  # tests' own queues
    ],
)
def test_each_queue_is_declared_with_its_arguments_and_bindings(
    name: str, arguments: dict[str, object], bindings: list[tuple[str, str]]
) -> None:
    resolved = resolve_queue(name)
    assert resolved.arguments == arguments
    assert resolved.bindings() == bindings
    assert (resolved.spec.durable, resolved.spec.exclusive, resolved.spec.auto_delete) == (
        True,
        False,
        False,
    )


@pytest.mark.parametrize(
    "name", [INBOUND_QUEUE, DEAD_QUEUE, "inbox.dept.x", "hub.out.email", "t.q"]
)
def test_the_broker_limits_deliveries_where_the_embedded_transport_does(name: str) -> None:
    # (the delay queues are consumed by nobody: their messages expire back to their queue)
    assert ("x-delivery-limit" in resolve_queue(name).arguments) == has_delivery_limit(name)


def test_arguments_are_fresh_for_each_declaration() -> None:
    first = resolve_queue(INBOUND_QUEUE).arguments
    first["x-queue-type"] = "classic"
    assert resolve_queue(INBOUND_QUEUE).arguments["x-queue-type"] == "quorum"


def test_delay_buckets_are_the_delay_queues() -> None:
    assert delay_bucket(DELAY_BUCKETS[-1] * 2) == DELAY_BUCKETS[-1]
    assert all(resolve_queue(f"hub.retry.{b}").spec.key == "delayQueue" for b in DELAY_BUCKETS)


def test_names_keys_and_references_hold_together() -> None:
    keys = [e.key for e in EXCHANGES] + [q.key for q in QUEUES]
    assert len(keys) == len(set(keys))
    for operation in OPERATIONS:
        assert operation.channel in keys
        carried = next(c.messages for c in (*EXCHANGES, *QUEUES) if c.key == operation.channel)
        assert set(operation.messages) <= set(carried), operation.key
    for q in QUEUES:
        for binding in q.bindings:
            assert binding.exchange in {e.name for e in EXCHANGES}, q.key


def test_the_kinds_and_types_named_are_the_codes() -> None:
    kinds = next(f for f in MESSAGES["envelope"].headers if f.name == "kind").values
    assert set(kinds) == {k.value for k in Kind}
    xsd_elements = {e for m in MESSAGES.values() for _, e in m.schemas}
    assert RECEIPT_TYPE in xsd_elements and NOTICE_TYPE in xsd_elements


def test_a_queued_delivery_carries_the_headers_the_topology_names() -> None:
    message = OutboundMessage(
        "m", "dept.a", "agency.b", "{urn:x}T", "request", "c", b"", Destination("smev", "X"),
        extra={"digest": "d", "expires-at": "", "first-attempt-at": "1", "priority": "5",
               "retry-max-attempts": "3"},
    )  # fmt: skip
    names = {f.name for f in MESSAGES["delivery"].headers}
    assert set(to_headers(message)) <= names
