"""The plain data that passes between the pipeline, the store and the operations.

No behaviour beyond the rules every store shares: how a message's state moves on an event
(``next_state``) and what a newly stored decision puts on its timeline (``first_events``). Each
store implementation (hub/store/) keeps them the same way, so both pass the same contract tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from hub.abc import Destination, Stage, State

if TYPE_CHECKING:  # annotations only: the CLI's start-up does not load the models
    from envelopes.model import DocumentCard
    from hub.execution.notices import Notice
    from hub.execution.rules import Document


def now_iso() -> str:
    """The store's time stamps: UTC, ISO 8601 with microseconds (they sort as text)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


# ------------------------------------------------------------------------- what the store keeps
@dataclass
class Event:
    """One line of a message's timeline."""

    state: str
    at: str
    detail: str


@dataclass
class MessageRow:
    """A message as the store knows it (``envelope`` only where asked for)."""

    message_id: str
    digest: str | None
    sender: str | None
    recipient: str | None
    message_type: str | None
    kind: str | None
    correlation_id: str | None
    conversation_id: str | None
    expires_at: str | None
    state: str
    reason: str | None
    rules_version: str | None
    received_at: str
    updated_at: str
    envelope: bytes | None


class DeliveryRow(NamedTuple):
    """One destination of a message and how far its delivery got."""

    adapter: str
    address: str
    state: str
    attempts: int
    last_error: str | None


class Submission(NamedTuple):
    """The hub's decision on one submission (``hub send`` waits for it)."""

    message_id: str
    outcome: str  # a state, or "duplicate" / "conflict"
    reason: str | None


@dataclass
class QueuedRow:
    """A message claimed from an embedded queue."""

    id: int
    queue: str
    body: bytes
    headers: dict[str, str]
    deliveries: int


@dataclass
class DeadLetter:
    """A message the hub gave up delivering to one destination."""

    message_id: str
    adapter: str
    address: str
    error: str
    at: str
    headers: dict[str, str]
    size: int

    @property
    def destination(self) -> str:
        return f"{self.adapter}:{self.address}"


@dataclass
class BreakerRow:
    """A circuit breaker as the hub last saw it (for ``hub status``)."""

    adapter: str
    address: str
    state: str
    failures: int
    last_error: str
    updated_at: str


@dataclass
class RulesVersion:
    """A routing rules version the hub applied, with what it changed."""

    version: str
    applied_at: str
    summary: str


@dataclass(frozen=True)
class NodeBeat:
    """What a running hub node says of itself in each heartbeat."""

    node: str  # its id (hub.toml's ``node``)
    instance: str  # this process (two processes under one node id show up by it)
    started_at: str
    version: str  # the hub's software version
    api: str = ""  # where its HTTP API and metrics endpoint listen ("" if they do not)
    metrics: str = ""
    rules_version: str = ""  # the routing rules it has in force


@dataclass(frozen=True)
class NodeRow:
    """A node as its last heartbeat left it; ``seen_ago`` is by the database's clock."""

    node: str
    instance: str
    started_at: str
    seen_at: str
    seen_ago: float
    version: str
    api: str
    metrics: str
    rules_version: str
    reload_request: str | None  # the last rules reload asked of it …
    reload_answered: str | None  # … the last one it answered, and what it said (JSON)
    reload_answer: str | None


@dataclass(frozen=True)
class LeaseRow:
    """Who holds a job that one node does for all, until when (by the database's clock)."""

    name: str
    holder: str
    since: str
    expires_at: str
    expires_in: float  # seconds; negative: it has run out and anyone may take it


@dataclass
class Acknowledgement:
    """A recipient took a message from its inbox; ``delivered_before``/``after`` are the times
    of the nearest ``delivered`` events on either side (for the ack latency metric)."""

    event_id: int
    message_id: str
    at: str
    delivered_before: str | None
    delivered_after: str | None


# ----------------------------------------------------------------------- what the pipeline decided
@dataclass
class Outgoing:
    """A countersigned copy of the envelope for one destination."""

    adapter: str
    address: str
    body: bytes
    recipient: str | None = None  # as rewritten by the rules (None: the header's)
    settings: dict[str, str] = field(default_factory=dict)  # the route's overrides


@dataclass
class Processed:
    """What the pipeline decided about one raw envelope."""

    message_id: str
    state: str  # accepted | rejected | expired
    envelope: bytes
    code: str | None = None
    reasons: list[str] = field(default_factory=list)
    sender: str | None = None
    recipient: str | None = None
    message_type: str | None = None
    kind: str | None = None
    correlation_id: str | None = None
    conversation_id: str | None = None
    expires_at: str | None = None
    priority: int | None = None  # the sender's Header/Priority
    digest: str | None = None
    rule: str | None = None
    rules_version: str | None = None
    outgoing: list[Outgoing] = field(default_factory=list)
    receipt: bytes | None = None
    receipt_state: str | None = None
    signer: str | None = None  # who signed: the sender, or the hub when it wrapped a document
    card: DocumentCard | None = None  # the document card (envelope 1.1)
    notice: Notice | None = None  # what an execution notice says
    timings: dict[str, float] = field(default_factory=dict)
    # attachments by reference: (attachment id, SHA-256 hex, signed size), checked in the store
    blobs: list[tuple[str, str, int]] = field(default_factory=list)
    # inline attachments above [blobs] threshold that the hub keeps as blobs and forwards by
    # reference (their ids; the content is in ``envelope``)
    externalised: list[str] = field(default_factory=list)

    @property
    def destinations(self) -> list[Destination]:
        return [Destination(o.adapter, o.address) for o in self.outgoing]


@dataclass
class Ingested:
    """What storing one decision came to."""

    processed: Processed
    status: str  # new | duplicate | conflict
    pending: list[tuple[str, str]] = field(default_factory=list)  # (adapter, address) to deliver
    answered: str | None = None  # the request this response answers
    existing_state: str | None = None
    refusal: tuple[str, str] | None = None  # (code, reason): a notice the rules refused
    registered: list[Registration] = field(default_factory=list)  # by the hub, on delivery


@dataclass
class DeliveryMark:
    """A batch's inline deliveries for one message: what to mark delivered, and the events to
    record (message id, state, detail, at). ``at`` is when the message was handed over, not
    when this is written: the recipient may act on it in between, and its timeline must still
    read in causal order."""

    message_id: str
    delivered: list[Destination]
    events: list[tuple[str, State | str, str, str]]


# ----------------------------------------------------------------------------- execution
@dataclass(frozen=True)
class Registration:
    """A document entered in a registration journal (or a number allocated for it)."""

    message_id: str
    department: str
    journal: str
    number: str
    registered_on: dt.date
    state: str  # allocated | registered | annulled
    seq: int | None = None  # the journal's own sequence; None for a department's own number


@dataclass(frozen=True)
class DeadlineChange:
    """One extension of a deadline: who, from when to when, why."""

    assignment: str
    department: str
    person: str | None
    old: dt.date
    new: dt.date
    reason: str
    at: str


@dataclass
class DocumentRecord:
    """A document's execution as the store keeps it: the rules' state, the card, the history."""

    state: Document
    card: DocumentCard | None
    received_at: str
    changes: list[DeadlineChange] = field(default_factory=list)


@dataclass(frozen=True)
class Due:
    """A document on control whose deadline is near or past (for reminders and overdue)."""

    message_id: str
    sender: str
    recipient: str
    executor: str | None
    deadline: dt.date
    title: str | None


@dataclass(frozen=True)
class ControlCounts:
    """A department's documents on control now."""

    on_control: int = 0
    due_soon: int = 0
    overdue: int = 0


# ----------------------------------------------------------------------------- the HTTP API
@dataclass(frozen=True)
class ApiToken:
    """A bearer token as the store keeps it: never the token itself, a keyed hash of it."""

    id: str
    participant: str
    role: str  # participant | manager | admin | auditor
    department: str | None
    hash: str
    label: str
    created_at: str
    created_by: str
    revoked_at: str | None = None


@dataclass(frozen=True)
class UserRecord:
    """A person who logs in to the managers' page: never the password, an argon2 hash of it."""

    name: str
    role: str  # manager | admin | auditor
    department: str | None  # a manager's department
    display_name: str
    hash: str
    created_at: str
    created_by: str
    disabled_at: str | None = None
    failures: int = 0  # wrong passwords in a row
    locked_until: str | None = None


@dataclass(frozen=True)
class UiSession:
    """A logged-in browser: the store keeps a hash of the cookie, never the cookie."""

    id: str
    user: UserRecord
    csrf: str
    created_at: str
    seen_at: str
    expires_at: str


@dataclass(frozen=True)
class BlobRow:
    """A blob the hub keeps (attachments by reference): its SHA-256 (hex), size, first and
    last upload; the collector's marks."""

    digest: str
    size: int
    created_at: str
    touched_at: str
    doomed_at: str | None
    deleting: bool


@dataclass(frozen=True)
class UploadRow:
    """An upload under way: who makes it, and the content it promised."""

    upload_id: str
    owner: str
    sha256: str
    size: int
    created_at: str


@dataclass(frozen=True)
class LegalHold:
    """A message retention must keep, whatever its age: why, by whom, since when."""

    message_id: str
    reason: str
    held_by: str
    held_at: str


@dataclass(frozen=True)
class PruneBatch:
    """One batch of retention: messages deleted, messages looked at and kept (in flight, on
    control, held), and where the next batch goes on from (None: nothing was left)."""

    deleted: int
    kept: int
    cursor: tuple[str, str] | None


@dataclass(frozen=True)
class AuditEntry:
    """An administrator's action: who, what, on what, when, why."""

    id: int
    at: str
    actor: str
    role: str
    action: str
    target: str
    reason: str
    detail: str  # JSON


@dataclass(frozen=True)
class MessageQuery:
    """A search among messages: whose (a participant as sender or recipient), in what state,
    with whom, of what type, received when; ``after`` continues a page (a cursor)."""

    parties: tuple[str, ...] = ()  # any of these as sender or recipient (empty: everyone's)
    state: str | None = None
    counterpart: str | None = None
    message_type: str | None = None
    kind: str | None = None
    received_from: str | None = None  # ISO time stamps
    received_to: str | None = None
    after: tuple[str, str] | None = None  # (received_at, message_id) of the last one seen
    limit: int = 50


# ------------------------------------------------------------------------ the managers' page
DOCUMENT_VIEWS = (
    "all", "on_control", "due_soon", "overdue", "executed_late", "executed", "not_registered"
)  # fmt: skip
DIRECTIONS = ("any", "incoming", "outgoing")
# each view's order, as the names of the row's fields that make its cursor
_ORDER: dict[str, tuple[str, ...]] = {
    "on_control": ("deadline", "message_id"),
    "due_soon": ("deadline", "message_id"),
    "overdue": ("deadline", "message_id"),  # the longest overdue first
    "executed": ("executed_on", "message_id"),  # the latest executed first
    "executed_late": ("executed_on", "message_id"),
}
_BY_RECEIPT = ("received_at", "message_id")  # the newest first


@dataclass(frozen=True)
class DocumentQuery:
    """A search among documents for the managers' page: whose (a department's, incoming or
    outgoing), which view of execution control, what text (a registration number, a message
    id, a word of the title, a counterpart); ``after`` continues a page (the view's cursor)."""

    today: dt.date
    parties: tuple[str, ...] = ()  # these departments' documents (empty: everyone's)
    direction: str = "any"  # incoming: the parties are the recipients; outgoing: the senders
    view: str = "all"
    text: str | None = None
    counterparts: tuple[str, ...] = ()  # participants the text names (resolved by the caller)
    due_until: dt.date | None = None  # the due_soon view's last day
    executor: str | None = None
    after: tuple[str, ...] | None = None
    limit: int = 50

    def __post_init__(self) -> None:
        if self.view not in DOCUMENT_VIEWS:
            raise ValueError(f"unknown view {self.view!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}")
        if self.after is not None and len(self.after) != len(self.sort_key_names()):
            raise ValueError("a cursor of another view")

    def sort_key_names(self) -> tuple[str, ...]:
        """The fields a page is ordered by (and its cursor made of)."""
        return _ORDER.get(self.view, _BY_RECEIPT)

    def descending(self) -> bool:
        return self.view not in ("on_control", "due_soon", "overdue")

    def following(self, last: DocumentListRow) -> DocumentQuery:
        """The same search, on from ``last`` (the last row of this page)."""
        key = tuple(str(getattr(last, name) or "") for name in self.sort_key_names())
        return dataclasses.replace(self, after=key)


@dataclass(frozen=True)
class DocumentListRow:
    """A document as a line of a list: enough to say where it is, no envelope."""

    message_id: str
    sender: str
    recipient: str
    received_at: str
    title: str | None
    kind: str | None  # the card's kind of document (letter, order …)
    card_number: str | None  # the sender's number («исх. №») and date
    card_date: str | None
    number: str | None  # the recipient's registration number and date
    registered_on: str | None
    stage: str | None
    executor: str | None
    deadline: str | None
    executed_on: str | None
    executed_on_time: bool | None
    urgency: str | None
    overdue_days: int = 0  # days past the deadline today (0: not overdue)


@dataclass(frozen=True)
class DocumentCounts:
    """The overview's counters for some departments (their incoming documents) or all."""

    on_control: int = 0
    due_soon: int = 0
    overdue: int = 0
    executed_late: int = 0
    not_registered: int = 0


@dataclass(frozen=True)
class DayFigures:
    """One day of the charts: documents received that day, documents overdue at its end."""

    day: dt.date
    received: int
    overdue: int


# ------------------------------------------------------------------------ rules every store keeps
# How far along the main line a state is: a message's state only moves forward along it.
_RANK: dict[str, int] = {
    State.RECEIVED: 0,
    State.ACCEPTED: 1,
    State.ROUTED: 2,
    State.DELIVERING: 3,
    State.RETRY_SCHEDULED: 3,
    State.DELIVERED: 5,
    State.ACKNOWLEDGED: 6,
    State.ANSWERED: 7,
    State.REJECTED: 8,
    State.FAILED: 4,
    State.DEAD_LETTERED: 4,
    State.EXPIRED: 4,
    State.DISCARDED: 9,
    State.REPLAYED: 10,  # an operator's replay starts the delivery over
}
# execution stages go on a document's timeline; they never move its transport state
EXECUTION_STAGES = frozenset(s.value for s in Stage)
TIMELINE_ONLY = frozenset({State.NOTE.value}) | EXECUTION_STAGES
# states whose event detail becomes the message's reason
REASON_STATES = frozenset({"rejected", "failed", "dead_lettered", "expired", "discarded"})


def next_state(current: str, event: str) -> str | None:
    """The message's state after an event, or None when the event leaves it as it is."""
    if event in TIMELINE_ONLY:
        return None
    if event == State.REPLAYED:
        return State.DELIVERING.value
    if _RANK.get(event, 0) >= _RANK.get(current, 0) or current in (
        State.REPLAYED,
        State.RETRY_SCHEDULED,
    ):
        return event
    return None


def first_events(p: Processed) -> tuple[str, str | None, list[tuple[str, str]]]:
    """A new message's state, reason and first timeline events (state, detail)."""
    events = [(State.RECEIVED.value, f"{len(p.envelope)} bytes")]
    if p.state == State.ACCEPTED:
        signed = (
            f"signed by {p.sender}"
            if p.signer in (None, p.sender)
            else f"unsigned by {p.sender}: wrapped and signed by {p.signer}"
        )
        targets = ", ".join(str(d) for d in p.destinations)
        routed = f"rule {p.rule!r} (rules {p.rules_version}) → {targets}"
        if not p.destinations:
            routed = (
                f"kept by the hub: no route to {p.recipient} for it (rules {p.rules_version}); "
                "its sender follows it here"
            )
        events += [(State.ACCEPTED.value, signed), (State.ROUTED.value, routed)]
        return State.ROUTED.value, None, events
    reason = f"{p.code}: {'; '.join(p.reasons)}"
    events.append((str(p.state), reason))
    return str(p.state), reason, events


def submission_outcome(p: Processed, status: str) -> tuple[str, str | None]:
    """What a submission's sender is told: (outcome, reason)."""
    outcome = {"new": p.state, "duplicate": "duplicate", "conflict": "conflict"}[status]
    reason = "; ".join(p.reasons) if status == "new" else None
    if status == "conflict":
        reason = "conflict: this MessageId was already submitted with other content"
    return str(outcome), reason
