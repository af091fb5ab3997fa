"""The hub's queues, their limits, and what travels in a queued message's headers: each fact once.

Queues (the same names on RabbitMQ and in the embedded store; docs/rabbitmq-topology.md):

- ``hub.inbound``: every submission (CLI, AMQP clients, adapters' inbound sides);
- ``hub.out.<adapter>``: deliveries waiting for an adapter that is not inline;
- ``inbox.<participant>``: a department's inbox (envelopes and receipts), the department's own;
- ``hub.dead``: what the transport gave up handing out (its delivery limit).

A queued delivery carries the facts an adapter needs as string headers (``to_headers`` /
``from_headers``), so a retry or a replay needs nothing but the message itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

from envelopes.codec import sniff_header
from envelopes.ids import is_message_id, is_participant
from hub.abc import Destination, OutboundMessage

INBOUND_QUEUE = "hub.inbound"
DEAD_QUEUE = "hub.dead"
OUT_PREFIX = "hub.out."
INBOX_PREFIX = "inbox."

# A message handed out this often without being settled goes to hub.dead (the transport's
# limit: x-delivery-limit on RabbitMQ, the same count in the embedded queues). Inboxes and
# hub.dead itself have none: an inbox belongs to its department, hub.dead is the end.
DELIVERY_LIMIT = 10
# The delivery worker gives up a bit earlier, so that it (not the broker) records why.
POISON_LIMIT = 8

# Headers with a route's retry overrides (names: retry-<RetryConfig key with dashes>).
ROUTE_SETTING_HEADERS = (
    "retry-max-attempts",
    "retry-base-delay",
    "retry-max-delay",
    "retry-max-age",
)
# Headers an outbound message keeps in ``OutboundMessage.extra``.
EXTRA_HEADERS = ("digest", "expires-at", "first-attempt-at", "priority", *ROUTE_SETTING_HEADERS)


def out_queue(adapter: str) -> str:
    """The work queue of a (not inline) adapter."""
    return OUT_PREFIX + adapter


def inbox_queue(participant: str) -> str:
    """A participant's inbox."""
    return INBOX_PREFIX + participant


def is_inbox(queue: str) -> bool:
    return queue.startswith(INBOX_PREFIX)


def has_delivery_limit(queue: str) -> bool:
    """Whether the transport dead-letters a message of ``queue`` handed out too often."""
    return queue != DEAD_QUEUE and not is_inbox(queue)


def header_priority(headers: Mapping[str, str] | None) -> int | None:
    """The delivery priority (0-9, higher first) a message's ``priority`` header asks for."""
    value = (headers or {}).get("priority", "")
    return int(value) if value.isdigit() and int(value) <= 9 else None


def to_headers(message: OutboundMessage) -> dict[str, str]:
    """The headers a queued delivery carries (see ``from_headers``)."""
    headers = {
        "message-id": message.message_id,
        "sender": message.sender,
        "recipient": message.recipient,
        "message-type": message.message_type,
        "kind": message.kind,
        "adapter": message.destination.adapter,
        "address": message.destination.address,
        "attempt": str(message.attempt),
    }
    if message.correlation_id:
        headers["correlation-id"] = message.correlation_id
    headers.update(message.extra)
    return headers


def from_headers(body: bytes, headers: Mapping[str, str]) -> OutboundMessage:
    """The outbound message a queued delivery stands for."""
    return OutboundMessage(
        message_id=headers.get("message-id", ""),
        sender=headers.get("sender", ""),
        recipient=headers.get("recipient", ""),
        message_type=headers.get("message-type", ""),
        kind=headers.get("kind", ""),
        correlation_id=headers.get("correlation-id"),
        body=body,
        destination=Destination(headers.get("adapter", ""), headers.get("address", "")),
        attempt=int(headers.get("attempt", "1") or 1),
        extra={k: headers[k] for k in EXTRA_HEADERS if k in headers},
    )


def without_broker_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A message's headers without the broker's bookkeeping (``x-death``, ``x-first-death-…``),
    which must not travel with a message the hub sends again."""
    return {k: v for k, v in headers.items() if not k.startswith("x-")}


UNPARSED_PREFIX = "unparsed-"


def unparsed_id(body: bytes) -> str:
    """The id under which an envelope without a readable MessageId is recorded (when its
    submitter gave none in the AMQP ``message_id`` property)."""
    return UNPARSED_PREFIX + hashlib.sha256(body).hexdigest()[:24]


def has_inbox_here(participant: str | None, departments: Collection[str]) -> bool:
    """Whether the hub answers ``participant`` in an inbox: one of ``departments`` (any
    participant, when none are configured)."""
    return is_participant(participant) and (not departments or participant in departments)


def answer_to(
    properties: Mapping[str, str], departments: Collection[str]
) -> tuple[str, str] | None:
    """Whom to answer about a submission whose envelope names nobody the hub can answer, and
    how it was found (None: nobody).

    The AMQP ``user_id``, which RabbitMQ checks against the connection's user, if it is a
    participant with an inbox here; else ``reply_to``, if it names such a participant's inbox.
    Any other ``reply_to`` is not answered: the hub puts receipts into inboxes only, so a
    submitter cannot have the hub publish into a queue of its choosing.
    """
    user = properties.get("user_id")
    if user is not None and has_inbox_here(user, departments):
        return user, "AMQP user_id"
    reply = properties.get("reply_to", "")
    participant = reply[len(INBOX_PREFIX) :] if is_inbox(reply) else None
    if participant is not None and has_inbox_here(participant, departments):
        return participant, "AMQP reply_to"
    return None


def header_facts(body: bytes) -> tuple[str, str, str]:
    """(message id, sender, kind) read leniently from the start of an envelope the hub has not
    verified ("-" for what cannot be read; an unreadable id becomes ``unparsed_id``)."""
    claimed = sniff_header(body)
    if claimed is None:
        return unparsed_id(body), "-", "-"
    message_id = claimed.get("MessageId", "")
    if not is_message_id(message_id):
        message_id = unparsed_id(body)
    return message_id, claimed.get("Sender", "-"), claimed.get("Kind", "-")
