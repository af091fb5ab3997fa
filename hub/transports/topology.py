"""The hub's AMQP topology as data: its exchanges, queues, arguments, bindings, and what each
kind of message carries in its headers and properties. Each fact once.

``RabbitTransport`` declares from this; ``hub/transports/asyncapi.py`` writes the AsyncAPI
document (docs/asyncapi.yaml) and the tables of docs/rabbitmq-topology.md from it, and tests
hold both equal to what they generate. Queue names and limits are ``hub/queues.py``'s.

A name with ``{parameter}`` parts is a pattern (``inbox.{participant}``); ``QueueSpec.arguments``
and the bindings are instantiated for a concrete name by ``resolve_queue``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from envelopes.ids import MESSAGE_ID_PATTERN, MESSAGE_TYPE_PATTERN, PARTICIPANT_PATTERN
from envelopes.model import Kind
from hub.abc import State
from hub.queues import (
    DEAD_QUEUE,
    DELIVERY_LIMIT,
    EXTRA_HEADERS,
    INBOUND_QUEUE,
    INBOX_PREFIX,
    OUT_PREFIX,
    ROUTE_SETTING_HEADERS,
)

SUBMIT_EXCHANGE = "hub.submit"
DEAD_EXCHANGE = DEAD_QUEUE  # a fanout exchange of the same name feeds the queue
REDELIVER_EXCHANGE = "hub.redeliver"
RETRY_PREFIX = "hub.retry."
# TTL delay queues (RabbitMQ 3.10 has no native delayed delivery; no delayed-message plugin)
DELAY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600)

CONTENT_TYPE = "application/xml"
PERSISTENT = 2  # delivery_mode


def delay_bucket(seconds: float) -> int:
    """The smallest bucket not shorter than the delay (the last one caps it)."""
    index = bisect.bisect_left(DELAY_BUCKETS, seconds)
    return DELAY_BUCKETS[min(index, len(DELAY_BUCKETS) - 1)]


# ------------------------------------------------------------------------------------ the shapes
@dataclass(frozen=True)
class Parameter:
    """A varying part of a name (``{participant}`` in ``inbox.{participant}``)."""

    name: str
    description: str
    example: str
    values: tuple[str, ...] = ()  # all it can be, where that is a fixed list


@dataclass(frozen=True)
class Scaled:
    """An argument whose value is a parameter of the queue's name times ``factor``."""

    parameter: str
    factor: int


Argument = int | str | Scaled


@dataclass(frozen=True)
class Binding:
    """The queue is bound to ``exchange`` with ``routing_key`` (both may use the queue's
    parameters; ``{queue}`` is the queue's own name)."""

    exchange: str
    routing_key: str = ""


@dataclass(frozen=True)
class Exchange:
    key: str  # the AsyncAPI channel id
    name: str  # a name or a pattern
    type: str  # fanout | direct
    summary: str  # one line, for the tables
    description: str
    routing: str  # what the routing key is
    declared: str  # when the hub declares it
    messages: tuple[str, ...]
    durable: bool = True
    auto_delete: bool = False


@dataclass(frozen=True)
class Queue:
    key: str  # the AsyncAPI channel id
    name: str  # a name or a pattern
    summary: str
    description: str
    writers: str
    readers: str
    declared: str
    arguments: Mapping[str, Argument]
    bindings: tuple[Binding, ...]
    messages: tuple[str, ...]
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False

    def arguments_for(self, values: Mapping[str, str]) -> dict[str, Any]:
        """The arguments of the queue these parameter values name (a fresh dict)."""
        return {
            k: int(values[v.parameter]) * v.factor if isinstance(v, Scaled) else v
            for k, v in self.arguments.items()
        }


@dataclass(frozen=True)
class Field:
    """A header or an AMQP property of a message. All headers the hub reads or writes are
    strings; ``integer`` is for properties and broker headers."""

    name: str
    description: str
    required: bool = False
    values: tuple[str, ...] = ()
    pattern: str | None = None
    type: str = "string"
    const: str | int | None = None


@dataclass(frozen=True)
class Message:
    key: str  # the AsyncAPI message id
    title: str
    summary: str
    description: str
    payload: str  # what the body is, in words
    schemas: tuple[tuple[str, str], ...]  # (XSD file, {namespace}root element) the body follows
    headers: tuple[Field, ...]
    properties: tuple[Field, ...]
    other_headers: bool = False  # other headers may come along (the hub ignores them)
    broker_headers: bool = False  # the broker's own x-… headers may come along (dead-lettering)


# ------------------------------------------------------------------------------ the parameters
PARAMETERS = {
    p.name: p
    for p in (
        Parameter(
            "participant",
            "A participant id (`dept.finance`): a department of `departments` in hub.toml, "
            "whose inbox the hub declares at start, or any participant the hub has put "
            "something for.",
            "dept.finance",
        ),
        Parameter(
            "adapter",
            "A configured adapter: `smev`, `email`…; `internal` only takes inbox deliveries "
            "whose first publish failed.",
            "smev",
        ),
        Parameter(
            "seconds",
            "A delay bucket in seconds; a delay is rounded up to the next bucket, and the "
            "longest caps it.",
            "5",
            tuple(str(b) for b in DELAY_BUCKETS),
        ),
    )
}

# ---------------------------------------------------------------------------- the arguments
# A work queue: what is handed out DELIVERY_LIMIT times without being settled is dead-lettered
# to hub.dead (kept until hub.dead takes it: at-least-once, which needs reject-publish).
WORK_ARGUMENTS: Mapping[str, Argument] = {
    "x-queue-type": "quorum",
    "x-dead-letter-exchange": DEAD_EXCHANGE,
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
    "x-delivery-limit": DELIVERY_LIMIT,
}
# hub.dead is the end of the line; an inbox belongs to its department, whose client may take
# its time: nothing there is the hub's to dead-letter.
PLAIN_ARGUMENTS: Mapping[str, Argument] = {"x-queue-type": "quorum"}
DELAY_ARGUMENTS: Mapping[str, Argument] = {
    "x-queue-type": "quorum",
    "x-message-ttl": Scaled("seconds", 1000),
    "x-dead-letter-exchange": REDELIVER_EXCHANGE,
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}
BACK_TO_ITSELF = Binding(REDELIVER_EXCHANGE, "{queue}")

# ------------------------------------------------------------------------------ the exchanges
EXCHANGES = (
    Exchange(
        "submit",
        SUBMIT_EXCHANGE,
        "fanout",
        "**departments publish here**",
        "Where departments publish their signed envelopes; it feeds `hub.inbound`.",
        "any (fanout)",
        "at start",
        ("submission",),
    ),
    Exchange(
        "deadExchange",
        DEAD_EXCHANGE,
        "fanout",
        "the dead-letter exchange of `hub.inbound` and `hub.out.*`",
        "What `hub.inbound` or a `hub.out.*` queue handed out too often without an answer "
        "(its `x-delivery-limit`) comes here, and so into the queue `hub.dead`.",
        "the one it was first published with (fanout: it does not matter)",
        "at start",
        ("deadLetter",),
    ),
    Exchange(
        "redeliver",
        REDELIVER_EXCHANGE,
        "direct",
        "where delayed messages come back from",
        "Delay queues dead-letter their expired messages here; each is routed by the routing "
        "key it was published with, the name of the queue it goes back to.",
        "the target queue's name",
        "at start",
        ("delivery",),
    ),
    Exchange(
        "delay",
        RETRY_PREFIX + "{seconds}",
        "fanout",
        "delays of `seconds` seconds",
        "The hub publishes a message to be handed out again after `seconds` seconds here, "
        "with the target queue's name as the routing key.",
        "the target queue's name (kept for `hub.redeliver`)",
        "on first use",
        ("delivery",),
    ),
)

# --------------------------------------------------------------------------------- the queues
QUEUES = (
    Queue(
        "inbound",
        INBOUND_QUEUE,
        "every submission",
        "Every submission: from `hub.submit`, straight through the default exchange "
        "(routing key `hub.inbound`), from `hub send` and from the adapters' receiving sides.",
        "departments (through `hub.submit`) and adapters",
        "the hub",
        "at start",
        WORK_ARGUMENTS,
        (Binding(SUBMIT_EXCHANGE), BACK_TO_ITSELF),
        ("submission",),
    ),
    Queue(
        "inbox",
        INBOX_PREFIX + "{participant}",
        "a department's inbox",
        "A participant's inbox: envelopes sent to it, receipts about what it sent, the hub's "
        "execution notices. It belongs to the department: no delivery limit, no dead-lettering.",
        "the hub",
        "**the department**",
        "at start for every id in `departments`; any other on the first publish to it",
        PLAIN_ARGUMENTS,
        (BACK_TO_ITSELF,),
        ("envelope", "receipt", "executionNotice"),
    ),
    Queue(
        "outbound",
        OUT_PREFIX + "{adapter}",
        "an adapter's work queue",
        "The work queue of each configured adapter that is not inline (`smev`, `email`…); "
        "`hub.out.internal` only takes inbox deliveries whose first publish failed.",
        "the hub",
        "the hub",
        "at start, for every configured adapter",
        WORK_ARGUMENTS,
        (BACK_TO_ITSELF,),
        ("delivery",),
    ),
    Queue(
        "dead",
        DEAD_QUEUE,
        "what the broker gave up handing out",
        "Messages of `hub.inbound` and `hub.out.*` that came back to their queue unsettled "
        f"more than `x-delivery-limit` ({DELIVERY_LIMIT}) times; the hub parks each as a dead "
        "letter (`hub dlq`).",
        "the broker (delivery limit reached)",
        "the hub",
        "at start",
        PLAIN_ARGUMENTS,
        (Binding(DEAD_EXCHANGE),),
        ("deadLetter",),
    ),
    Queue(
        "delayQueue",
        RETRY_PREFIX + "{seconds}",
        "a delay of `seconds` seconds",
        "Holds a delayed message for `seconds` seconds (`x-message-ttl` = seconds × 1000), "
        "then dead-letters it to `hub.redeliver`, which routes it back to its queue.",
        "the hub",
        "nobody: messages expire back to their queue",
        "on first use",
        DELAY_ARGUMENTS,
        (Binding(RETRY_PREFIX + "{seconds}"),),
        ("delivery",),
    ),
)
# Any other name a caller of Transport.declare_queue gives (tests do): a work queue.
OTHER = Queue(
    "other", "{queue}", "", "", "", "", "", WORK_ARGUMENTS, (BACK_TO_ITSELF,), ("delivery",)
)

# -------------------------------------------------------------------------- the message fields
_ENVELOPE_XSD = ("xsd/hub/envelope-1.1.xsd", "{urn:interagency-hub:envelope:1.0}Envelope")
_MESSAGE_ID = Field(
    "message_id",
    "the same as the `message-id` header",
    required=True,
    pattern=MESSAGE_ID_PATTERN,
)
_STORED = (
    Field("delivery_mode", "persistent", required=True, type="integer", const=PERSISTENT),
    Field("content_type", "", required=True, const=CONTENT_TYPE),
)
_BY_HUB = Field(
    "sender", "the hub's id (`id` in hub.toml, e.g. `hub.main`)", True, pattern=PARTICIPANT_PATTERN
)
_DELIVERY_COUNT = Field(
    "x-delivery-count",
    "added by the quorum queue to a message handed out again: how many times it came back "
    "unacknowledged",
    type="integer",
)
_PRIORITY = "only when set: the route's `priority` setting, else the envelope's "
_PRIORITY += "`Header/Priority` (0-9, higher first)"

SUBMISSION = Message(
    "submission",
    "A signed envelope submitted to the hub",
    "The signed envelope bytes, as `hub envelope sign` writes them.",
    "What the hub makes of it (validation, the signature checked against the `Sender`'s "
    "certificate, routing, access rights, countersigning, delivery) is told to the sender by "
    "receipts in its inbox. A submission the hub cannot read at all is answered too: see the "
    "properties.",
    "a signed envelope, at most `limits.max_bytes` (32 MiB by default)",
    (_ENVELOPE_XSD,),
    (
        Field(
            "submission-id",
            "An id of this one publish. The hub stores it with the outcome (`accepted`, "
            "`rejected`, `duplicate`, `conflict`...) in the `submissions` table. `hub send` "
            "uses it to wait for the decision.",
        ),
        Field(
            "message-id",
            "Informational. The hub uses the envelope's `Header/MessageId` (and, for an "
            "envelope it cannot read, the `message_id` property).",
        ),
        Field(
            "source",
            "Label of `hub_messages_received_total{source=...}` (default `amqp`).",
        ),
        Field(
            "sender",
            "Informational (`hub send` sets it). The hub uses the envelope's `Header/Sender`.",
        ),
        Field(
            "correlation-hint",
            "Reserved for adapters: the request a reply answers, found outside the envelope "
            "(a mail's `In-Reply-To`). Do not set it.",
        ),
        Field(
            "adapter",
            "Reserved for adapters: the adapter that brought the envelope in, told when the "
            "hub refuses it (so that it answers the agency). Do not set it; an adapter answers "
            "only for documents it remembers receiving.",
        ),
    ),
    (
        Field(
            "delivery_mode",
            "persistent; publish with confirms and `mandatory=true`",
            type="integer",
            const=PERSISTENT,
        ),
        Field("content_type", "optional", const=CONTENT_TYPE),
        Field(
            "message_id",
            "Optional: the envelope's `MessageId`. Used only when the envelope cannot be read "
            "or has no readable `MessageId`: the hub then records it (`hub trace`) under this "
            "id, if it is a lower-case UUID, else under `unparsed-<sha-256 prefix>`.",
            pattern=MESSAGE_ID_PATTERN,
        ),
        Field(
            "user_id",
            "Your broker user name (RabbitMQ refuses a publish whose `user_id` is not the "
            "connection's user). Required when the hub checks publishers (`[security] "
            "check_publisher`, which `hub init --broker` turns on): the envelope's `Sender` must "
            "be this user, else it is rejected (`publisher_mismatch`; none: "
            "`publisher_unknown`). When the envelope names no sender with an inbox here (it "
            "cannot be read, say), the hub sends its `rejected` receipt to `inbox.<user_id>`, "
            "if that is a participant id with an inbox here.",
        ),
        Field(
            "reply_to",
            "Optional: `inbox.<participant>`. Where the `rejected` receipt goes when neither "
            "the envelope nor `user_id` names a participant with an inbox here; any other "
            "queue is not answered to.",
            pattern=f"^{re.escape(INBOX_PREFIX)}{PARTICIPANT_PATTERN[1:]}",
        ),
    ),
    other_headers=True,
)

ENVELOPE = Message(
    "envelope",
    "An envelope for the inbox's participant",
    "The sender's envelope plus the hub's `Routing` and `HubSignature`.",
    "Check both signatures (docs/envelope.md, what each signature covers). After a hub crash "
    "the same envelope can come twice, with the same `MessageId`: skip what you hold.",
    "the countersigned envelope",
    (_ENVELOPE_XSD,),
    (
        Field("message-id", "the envelope's `MessageId`", True, pattern=MESSAGE_ID_PATTERN),
        Field("sender", "the `Sender` participant id", True, pattern=PARTICIPANT_PATTERN),
        Field(
            "recipient",
            "the inbox's participant id (the route's address)",
            True,
            pattern=PARTICIPANT_PATTERN,
        ),
        Field(
            "kind",
            "the envelope's `Kind` (an envelope of `Kind` `receipt` from a department is an "
            "envelope like any other: the hub's receipts come from the hub's id)",
            True,
            values=tuple(k.value for k in Kind),
        ),
        Field(
            "message-type",
            "the payload's `{namespace}localName`",
            True,
            pattern=MESSAGE_TYPE_PATTERN,
        ),
        Field("priority", _PRIORITY, pattern="^[0-9]$"),
        _DELIVERY_COUNT,
    ),
    (
        _MESSAGE_ID,
        *_STORED,
        Field("priority", "as the `priority` header", type="integer"),
    ),
)

RECEIPT_STATES = (
    State.ACCEPTED,
    State.REJECTED,
    State.DELIVERED,
    State.FAILED,
    State.EXPIRED,
    State.NOTE,
)
RECEIPT = Message(
    "receipt",
    "A signed receipt about an envelope the participant submitted",
    "What became of an envelope you sent: accepted, rejected, delivered, failed, expired.",
    "An envelope of `Kind` `receipt` from the hub, signed with the hub's certificate. The "
    "envelope it is about is `Receipt/MessageId` in its payload (and `Header/CorrelationId`, "
    "when that id is a UUID). A receipt sent again has the same `MessageId`.",
    "a receipt envelope signed by the hub",
    (_ENVELOPE_XSD, ("xsd/hub/receipt-1.0.xsd", "{urn:interagency-hub:receipt:1.0}Receipt")),
    (
        Field(
            "message-id",
            "the receipt's own `MessageId` (derived from what it says: a receipt sent twice "
            "has the same id)",
            True,
            pattern=MESSAGE_ID_PATTERN,
        ),
        _BY_HUB,
        Field("kind", "", True, const=Kind.RECEIPT.value),
        Field("receipt-state", "", True, values=tuple(str(s) for s in RECEIPT_STATES)),
        _DELIVERY_COUNT,
    ),
    (_MESSAGE_ID, *_STORED),
)

EXECUTION_NOTICE = Message(
    "executionNotice",
    "An execution notice from the hub",
    "The hub's own word on a document's execution: registered on delivery, due soon, overdue.",
    "An envelope of `Kind` `notice` from the hub whose payload is an `ExecutionNotice` "
    "(`CorrelationId` = the document); signed by the hub. Unlike a department's notice it has "
    "no `message-type` header (docs/execution.md).",
    "an execution notice envelope signed by the hub",
    (
        _ENVELOPE_XSD,
        ("xsd/hub/execution-1.0.xsd", "{urn:interagency-hub:execution:1.0}ExecutionNotice"),
    ),
    (
        Field("message-id", "the notice's `MessageId`", True, pattern=MESSAGE_ID_PATTERN),
        _BY_HUB,
        Field("kind", "", True, const=Kind.NOTICE.value),
        _DELIVERY_COUNT,
    ),
    (_MESSAGE_ID, *_STORED),
)

_EXTRA_DESCRIPTIONS = {
    "digest": "the SHA-256 (hex) of the envelope's signed `Content`",
    "expires-at": "when the envelope expires (ISO 8601), empty for never",
    "first-attempt-at": "Unix time of the first attempt",
    "priority": "the delivery priority (0-9)",
    **{h: "the route's retry override" for h in ROUTE_SETTING_HEADERS},
}
DELIVERY = Message(
    "delivery",
    "A countersigned envelope for an adapter",
    "One destination's copy of an accepted envelope, and the facts its adapter needs.",
    "Everything a retry or a replay needs travels in the headers (`hub/queues.py` `to_headers`).",
    "the countersigned envelope for one destination",
    (_ENVELOPE_XSD,),
    (
        Field("message-id", "the envelope's `MessageId`", True),
        Field("sender", "the envelope's `Sender`", True),
        Field("recipient", "the recipient (as the rules may have rewritten it)", True),
        Field("message-type", "the envelope's `MessageType`", True),
        Field("kind", "the envelope's `Kind`", True),
        Field("adapter", "the destination's adapter", True),
        Field("address", "the destination's address", True),
        Field("attempt", "the attempt this is (1, 2…)", True, pattern="^[0-9]+$"),
        Field("correlation-id", "the envelope's `CorrelationId`, when it has one"),
        *(Field(h, _EXTRA_DESCRIPTIONS[h]) for h in EXTRA_HEADERS),
        _DELIVERY_COUNT,
    ),
    (_MESSAGE_ID, *_STORED, Field("priority", "as the `priority` header", type="integer")),
    broker_headers=True,  # back from a delay queue: x-death, x-first-death-…
)

DEAD_LETTER = Message(
    "deadLetter",
    "A message the broker dead-lettered",
    "A submission or a delivery, as it was, with the broker's dead-lettering headers.",
    "The hub parks it as a dead letter (`hub dlq`), tells the sender with a `failed` "
    "receipt, and acknowledges it.",
    "the dead-lettered message's body, unchanged",
    (_ENVELOPE_XSD,),
    (
        Field("x-first-death-queue", "the queue it was dead-lettered from", True),
        Field("x-first-death-reason", "`delivery_limit` (or `rejected`)", True),
        Field("x-first-death-exchange", "the exchange it was first published to"),
    ),
    (),
    other_headers=True,
)

MESSAGES = {
    m.key: m for m in (SUBMISSION, ENVELOPE, RECEIPT, EXECUTION_NOTICE, DELIVERY, DEAD_LETTER)
}


# ------------------------------------------------------------------------ concrete names
@dataclass(frozen=True)
class Resolved:
    """A concrete queue name, the spec it follows and its parameters' values."""

    name: str
    spec: Queue
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def arguments(self) -> dict[str, Any]:
        return self.spec.arguments_for(self.values)

    def bindings(self) -> list[tuple[str, str]]:
        """(exchange, routing key) of each binding of this queue."""
        values = {**self.values, "queue": self.name}
        return [
            (b.exchange.format(**values), b.routing_key.format(**values))
            for b in self.spec.bindings
        ]


def _matcher(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", pattern)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+)" for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


_MATCHERS = [(_matcher(q.name), q) for q in QUEUES]


def resolve_queue(name: str) -> Resolved:
    """Which queue of the topology ``name`` is (any other name is a work queue)."""
    for matcher, spec in _MATCHERS:
        found = matcher.match(name)
        if found is not None:
            return Resolved(name, spec, found.groupdict())
    return Resolved(name, OTHER)


def exchange(key: str) -> Exchange:
    return next(e for e in EXCHANGES if e.key == key)


def queue(key: str) -> Queue:
    return next(q for q in QUEUES if q.key == key)


# ------------------------------------------------------------------------------ who does what
@dataclass(frozen=True)
class Operation:
    """What the hub does on a channel (a department's client does the reverse)."""

    key: str
    action: str  # send | receive (the hub's side)
    channel: str  # an exchange's or a queue's key
    messages: tuple[str, ...]
    summary: str
    reply: tuple[str, str] | None = None  # (channel, message) the hub answers on


OPERATIONS = (
    Operation(
        "submit",
        "receive",
        "submit",
        ("submission",),
        "Departments publish signed envelopes to `hub.submit` (any routing key), persistent, "
        "with publisher confirms and `mandatory`; the hub takes them from `hub.inbound` and "
        "answers with receipts in the sender's inbox.",
        reply=("inbox", "receipt"),
    ),
    Operation(
        "submitDirect",
        "receive",
        "inbound",
        ("submission",),
        "The same through the default exchange, routing key `hub.inbound` (this needs write "
        "permission on `amq.default`).",
        reply=("inbox", "receipt"),
    ),
    Operation(
        "deliverEnvelope",
        "send",
        "inbox",
        ("envelope",),
        "The hub puts a countersigned envelope into its recipient's inbox.",
    ),
    Operation(
        "sendReceipt",
        "send",
        "inbox",
        ("receipt",),
        "The hub tells a sender what became of its envelope.",
    ),
    Operation(
        "sendExecutionNotice",
        "send",
        "inbox",
        ("executionNotice",),
        "The hub's own execution notices: registered on delivery, due soon, overdue.",
    ),
    Operation(
        "queueDelivery",
        "send",
        "outbound",
        ("delivery",),
        "A destination of an adapter that is not inline gets its copy through the adapter's "
        "work queue.",
    ),
    Operation(
        "takeDelivery",
        "receive",
        "outbound",
        ("delivery",),
        "The hub's delivery worker takes it: an attempt, then delivered, a retry or a dead letter.",
    ),
    Operation(
        "delayDelivery",
        "send",
        "delay",
        ("delivery",),
        "A retry waits in a delay queue and comes back through `hub.redeliver`.",
    ),
    Operation(
        "takeDeadLetter",
        "receive",
        "dead",
        ("deadLetter",),
        "The hub parks what the broker dead-lettered (`hub dlq`) and tells the sender.",
    ),
)
