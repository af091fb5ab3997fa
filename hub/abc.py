"""Every interface of the hub in one place (as aio-pika's ``abc`` module does), and the few
value types they speak in.

- ``Transport``: durable queues with confirmed publish, manual ack/nack and delayed redelivery.
  RabbitMQ and the embedded SQLite transport both implement it and pass the same contract tests.
- ``Adapter``: delivers a countersigned envelope to a destination (shaped like httpx's transport:
  ``deliver`` + ``aclose``); adapters that receive from outside run their loops from ``start``
  and hand what they receive to ``AdapterContext.submit``.
- ``AdapterContext``: everything an adapter may ask of the hub. Adapters import this module
  (and ``envelopes``), nothing else of the hub.
- ``Outcome``: what a delivery attempt came to; adapters classify failures, the hub decides.
- ``Observer``: hears what the hub does (metrics hook in here; the core never imports them).
- ``Extension``: something ``hub serve`` runs beside the hub, found by an entry point.
- ``BlobStore``: attachments' content kept by reference, content-addressed by SHA-256, streamed
  both ways (``hub.blobs``: the filesystem, S3-compatible).

The ``Store`` interface lives with its implementations in ``hub.store``.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


class State(enum.StrEnum):
    """The vocabulary of timelines, receipts, metrics and ``hub trace``."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ROUTED = "routed"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    DISCARDED = "discarded"
    # timeline-only events that do not change the message's state
    NOTE = "note"


class Stage(enum.StrEnum):
    """The execution vocabulary: a document's life at its recipient (docs/execution.md).

    The transport states say where a message is; these say what its recipient did with it.
    Departments report them as signed execution notices; the hub adds ``due_soon`` and
    ``overdue``. Derived on top (never events): on control, executed on time or late.
    """

    REGISTERED = "registered"
    REGISTRATION_REFUSED = "registration_refused"
    EXECUTOR_ASSIGNED = "executor_assigned"
    DEADLINE_CHANGED = "deadline_changed"
    IN_PROGRESS = "in_progress"
    REPORT_PREPARED = "report_prepared"
    EXECUTED = "executed"
    CONTROL_CLOSED = "control_closed"
    DUE_SOON = "due_soon"  # the hub reminded the executor's department
    OVERDUE = "overdue"  # the hub found the deadline passed


@dataclass(frozen=True)
class Destination:
    """Where a route sends a message: an adapter by its configured name and an address."""

    adapter: str
    address: str

    def __str__(self) -> str:
        return f"{self.adapter}:{self.address}"


# ------------------------------------------------------------------------------------ transport
_NO_PROPERTIES: Mapping[str, str] = MappingProxyType({})


class Delivery(abc.ABC):
    """One message handed to a consumer; it stays owned by the consumer until ack or nack."""

    body: bytes
    headers: Mapping[str, str]
    redelivered: bool
    delivery_count: int

    @property
    def properties(self) -> Mapping[str, str]:
        """The message's AMQP properties the hub reads, by their AMQP names, where present:
        ``message_id``, ``user_id`` (the broker checked it against the connection's user),
        ``reply_to``. Read-only; a transport without AMQP properties has none (empty)."""
        return _NO_PROPERTIES

    @abc.abstractmethod
    async def ack(self) -> None:
        """Done with it: the transport forgets it."""

    @abc.abstractmethod
    async def nack(self, requeue: bool = True) -> None:
        """Give it back (requeue) or drop it to the dead-letter target (requeue=False)."""


Handler = Callable[[Delivery], Awaitable[None]]


class Transport(abc.ABC):
    """Durable queues. Every publish returns only once the message is safe (confirmed)."""

    name: str

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect and declare the topology."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consumers and disconnect; in-flight unacked messages go back to their queues."""

    @abc.abstractmethod
    async def declare_queue(self, queue: str) -> None:
        """Make sure a durable queue exists (e.g. ``inbox.<participant>``)."""

    @abc.abstractmethod
    async def publish(
        self, queue: str, body: bytes, headers: Mapping[str, str] | None = None, *, delay: float = 0
    ) -> None:
        """Put a message on ``queue``, after ``delay`` seconds if given; raise if not confirmed."""

    @abc.abstractmethod
    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 32) -> None:
        """Start handing messages of ``queue`` to ``handler`` (at most ``prefetch`` unacked)."""

    @abc.abstractmethod
    async def get(self, queue: str, hold: float | None = None) -> Delivery | None:
        """Take one message if there is one (pull: ``hub inbox``, the API's inbox). It is held
        for the taker until settled, or for ``hold`` seconds where the transport can bound it
        (embedded; RabbitMQ holds it until the channel closes)."""

    @abc.abstractmethod
    async def depth(self, queue: str) -> int:
        """How many messages wait in ``queue`` (ready ones)."""

    async def ping(self) -> bool:
        """Whether the transport is reachable (for ``/readyz``)."""
        return True


# -------------------------------------------------------------------------------------- adapter
class OutcomeKind(enum.StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery attempt."""

    kind: OutcomeKind
    detail: str = ""
    retry_after: float | None = None
    reference: str | None = None  # e.g. the SMEV MessageID or the SMTP Message-ID

    @classmethod
    def delivered(cls, detail: str = "", reference: str | None = None) -> Outcome:
        return cls(OutcomeKind.DELIVERED, detail, reference=reference)

    @classmethod
    def transient(cls, detail: str, retry_after: float | None = None) -> Outcome:
        return cls(OutcomeKind.TRANSIENT, detail, retry_after=retry_after)

    @classmethod
    def permanent(cls, detail: str) -> Outcome:
        return cls(OutcomeKind.PERMANENT, detail)


@dataclass(frozen=True)
class OutboundMessage:
    """What an adapter delivers: the countersigned envelope and the facts it may need."""

    message_id: str
    sender: str
    recipient: str
    message_type: str
    kind: str
    correlation_id: str | None
    body: bytes
    destination: Destination
    attempt: int = 1
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass
class InboundMessage:
    """An envelope (or a document to wrap into one) that an adapter received from outside."""

    body: bytes
    source: str
    headers: dict[str, str] = field(default_factory=dict)


class AdapterContext(abc.ABC):
    """What the hub lends an adapter: a transport, the store for timelines, the hub's signer."""

    transport: Transport
    hub_id: str

    @abc.abstractmethod
    async def record(self, message_id: str, state: State | str, detail: str = "") -> None:
        """Put an event on a message's timeline (e.g. a SMEV asynchronous status)."""

    @abc.abstractmethod
    async def submit(self, message: InboundMessage) -> str:
        """Hand a received envelope to the pipeline durably; returns its id once stored."""

    @abc.abstractmethod
    def sign_envelope(self, xml: bytes) -> bytes:
        """Sign an envelope the hub itself composed (e.g. from a SMEV response)."""

    @abc.abstractmethod
    async def remember(self, reference: str, message_id: str, data: str = "") -> None:
        """Durably map an adapter's own reference (SMEV MessageID, a mail's Message-ID, a
        ReplyTo token...) to a hub MessageId, with optional data (e.g. JSON)."""

    @abc.abstractmethod
    async def recall(self, reference: str) -> tuple[str, str] | None:
        """(hub MessageId, data) remembered for this adapter's reference, if any."""

    @abc.abstractmethod
    async def recall_by_message(self, message_id: str) -> list[tuple[str, str]]:
        """[(reference, data)] this adapter remembered for a hub MessageId."""

    @abc.abstractmethod
    async def notify_sender(
        self, message_id: str, state: State | str, reasons: list[tuple[str, str]]
    ) -> None:
        """Record ``state`` on the message's timeline and send its sender a signed receipt
        (e.g. a bounce that arrives after delivery, or SMEV's RequestRejected)."""

    @abc.abstractmethod
    def signed_receipt(
        self, recipient: str, message_id: str, state: str, reasons: list[tuple[str, str]]
    ) -> bytes:
        """A receipt envelope the hub signed, about ``message_id``, for ``recipient`` (e.g. to
        attach to a mail that answers a refused document); ValueError if it cannot be made."""

    @abc.abstractmethod
    async def receipt_sent(
        self, recipient: str, message_id: str, state: str, receipt: bytes
    ) -> None:
        """A receipt from ``signed_receipt`` is going out: the archive logs its digest."""

    @abc.abstractmethod
    def inbox_queue(self, participant: str) -> str:
        """The transport queue that is ``participant``'s inbox."""

    @abc.abstractmethod
    async def record_stage(self, document_id: str, stage: Stage, detail: str) -> None:
        """An execution stage a document reached at an agency, as the adapter's protocol says
        it (a SMEV rejection is a refused registration there, an answer is execution)."""

    def participant_attribute(self, key: str) -> dict[str, str]:
        """Participant id → the value of ``key`` in its routing_rules/participants.yaml entry
        (e.g. ``medo_uid``), for the participants that set it, as the rules in force say."""
        return {}

    def read_blob(self, digest: str) -> AsyncIterator[bytes]:
        """The content of an attachment by reference (``blob:sha256:<digest>``), in chunks:
        what an adapter delivering the envelope outside the hub sends with it. Check it
        against the signed digest. NotImplementedError where the hub keeps no blobs."""
        raise NotImplementedError("this hub keeps no blobs")

    async def keep_blob(self, chunks: AsyncIterable[bytes], owner: str) -> BlobInfo:
        """Keep content an adapter fetched from outside (SMEV's file storage) as ``owner``'s
        blob, streamed, so the envelope it composes for ``owner`` may refer to it; its digest
        and size. An exception from ``chunks`` keeps nothing. NotImplementedError where the
        hub keeps no blobs; OSError when it cannot be kept now."""
        raise NotImplementedError("this hub keeps no blobs")


class Adapter(abc.ABC):
    """Delivers envelopes to one kind of destination.

    ``inline`` adapters are cheap and local (the internal one): the hub calls them right after
    storing a message, without a work queue. Others get a durable work queue ``hub.out.<name>``.
    """

    name: str = ""
    inline: bool = False

    async def start(self, context: AdapterContext) -> None:  # noqa: B027 - optional hook
        """Connect; called once the hub is ready."""

    @abc.abstractmethod
    async def deliver(self, message: OutboundMessage) -> Outcome:
        """Deliver one message; never raise for the destination's failures: classify them."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def ping(self) -> bool:
        """Whether the destination side is reachable (for ``/readyz``)."""
        return True

    async def refused(  # noqa: B027 - optional hook
        self,
        message_id: str,
        state: str,
        reasons: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> None:
        """The hub refused (``rejected``) or let expire a document this adapter submitted:
        tell its sender this adapter's way (SMEV's RequestRejected, a mail), where there is one.

        Called once per refusal, after it is stored; ``headers`` are those the adapter submitted
        with it. Best effort: a failure is logged and noted on the timeline, not retried.
        """


# ------------------------------------------------------------------------------------ observers
class Observer:
    """Hears what the hub does, as dramatiq's middleware does: metrics, audit, tracing.

    Every hook is optional (a no-op here) and is called on the event loop, synchronously, on
    the hot path: keep it cheap and never raise. ``Hub(observers=[...])`` takes them.
    """

    def message_received(self, source: str) -> None:
        """An envelope was taken from the inbound queue (``source``: cli, amqp, smev:…)."""

    def stage_timed(self, stage: str, seconds: float) -> None:
        """A pipeline stage (parse, validate, verify, route, sign, store, deliver) took so long."""

    def message_decided(self, outcome: str, label: str) -> None:
        """accepted (label: the message type), rejected (label: the reason code) or duplicate
        (an identical resubmission; label empty). Expiry has a hook of its own."""

    def submissions_decided(self, submission_ids: list[str]) -> None:
        """The hub's decisions on these submissions (``submission-id`` headers) are on record,
        with what was delivered at once (the API wakes who waits for them)."""

    def delivery_attempted(self, destination: Destination, outcome: str) -> None:
        """One delivery attempt came to ``outcome`` (delivered, transient, permanent)."""

    def delivered(self, destination: Destination, seconds: float) -> None:
        """A message reached ``destination``, ``seconds`` after the hub took it."""

    def retry_scheduled(self, destination: Destination) -> None:
        """A delivery was put back for a later attempt."""

    def dead_lettered(self, destination: Destination, code: str) -> None:
        """A message was moved to the dead-letter store (code: permanent, poison, …)."""

    def expired(self) -> None:
        """A message's ExpiresAt passed before it could be delivered (at ingest or later)."""

    def receipt_sent(self, state: str) -> None:
        """A signed receipt went to a sender's inbox."""

    def breaker_changed(self, destination: Destination, state: int) -> None:
        """A circuit breaker changed state (0 closed, 1 half-open, 2 open)."""

    def rules_applied(self, version: str, previous: str | None) -> None:
        """A routing rules version came into force (``previous`` None: at start)."""

    def rules_refused(self) -> None:
        """A rules reload was refused; the rules in force stay."""

    def hub_started(self, transport: str) -> None:
        """The hub serves on ``transport`` (rabbitmq, embedded)."""

    def hub_stopped(self, transport: str) -> None:
        """The hub stopped."""


class Extension(abc.ABC):
    """Something ``hub serve`` runs beside the hub (the metrics endpoint, …).

    Found by the entry point group ``hub.extensions``: each entry point names a callable that
    takes the started hub and returns an Extension (or None to stay out, e.g. when disabled).
    """

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin (the hub is started)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """End (before the hub stops)."""


@dataclass(frozen=True)
class BlobInfo:
    """A blob: its key (the lower-case hex SHA-256 of its content) and its size in bytes."""

    digest: str
    size: int


class BlobMismatchError(Exception):
    """Content handed to a blob store is not what it was said to be (digest or size)."""

    code = "attachment_digest_mismatch"


class BlobStore(abc.ABC):
    """Attachments' content outside the envelopes (claim checks, decision 0023), keyed by its
    SHA-256. Everything streams in chunks: no blob is ever whole in memory. A blob is written
    once and never changed; what the hub refers to is decided in the store, not here."""

    @abc.abstractmethod
    async def put(
        self, chunks: AsyncIterable[bytes], *, sha256: str | None = None, size: int | None = None
    ) -> BlobInfo:
        """Store the chunks; return once they are durable. With ``sha256`` or ``size`` given,
        other content raises ``BlobMismatchError`` and nothing is kept."""

    @abc.abstractmethod
    async def put_file(self, path: Path, info: BlobInfo) -> None:
        """Take a finished, checked file (an upload) as the blob ``info`` (the file may be
        moved away or left for the caller to remove)."""

    @abc.abstractmethod
    def get(self, digest: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The blob's bytes ``start`` to ``end`` (exclusive; None: to the end), in chunks."""

    @abc.abstractmethod
    async def stat(self, digest: str) -> BlobInfo | None:
        """The blob, if it is stored."""

    @abc.abstractmethod
    async def delete(self, digest: str) -> bool:
        """Remove the blob; False if it was not there."""

    @abc.abstractmethod
    def digests(self) -> AsyncIterator[tuple[str, float]]:
        """Every blob stored, with the time it was written (seconds since the epoch): what a
        sweep compares with the store's records."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Let go of connections."""
