"""The ``Store`` interface: the hub's durable record, in methods that say what they are for.

Every write returns only once it is durable. Implementations (``hub.store.sqlite`` today) keep
the shared rules of ``hub.records`` (how a state moves, what a new decision puts on its
timeline) and pass the same contract tests (tests/hub/store/).
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterable, Sequence

from hub.abc import Destination, Stage, State
from hub.archive.entries import Leaf, Source
from hub.archive.heads import PrivateKey, SignedHead
from hub.records import (
    Acknowledgement,
    ApiToken,
    AuditEntry,
    BlobRow,
    BreakerRow,
    ControlCounts,
    DayFigures,
    DeadLetter,
    DeliveryMark,
    DeliveryRow,
    DocumentCounts,
    DocumentListRow,
    DocumentQuery,
    DocumentRecord,
    Due,
    Event,
    Ingested,
    LeaseRow,
    LegalHold,
    MessageQuery,
    MessageRow,
    NodeBeat,
    NodeRow,
    Processed,
    PruneBatch,
    QueuedRow,
    Registration,
    RulesVersion,
    Submission,
    UiSession,
    UploadRow,
    UserRecord,
)


class Store(abc.ABC):
    """Messages, their timelines and deliveries, dead letters, breakers, rules versions,
    adapters' references, inbox bookkeeping, the nodes sharing the store and the embedded
    queues."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and let go of the database."""

    # ---------------------------------------------------------------------------- ingest
    @abc.abstractmethod
    async def record_ingest(
        self,
        decisions: Sequence[Processed],
        submissions: Sequence[str | None],
        hints: Sequence[str | None],
    ) -> list[Ingested]:
        """Store a batch of decisions in one transaction, idempotently by MessageId + digest.

        A new message is written in its final ingest state with its first events and pending
        deliveries; the same MessageId with the same digest is a duplicate (its pending
        deliveries come back), with another digest a conflict — unless the earlier one was
        rejected: then the corrected resubmission replaces it. A response marks its request
        ``answered``; ``hints`` are correlations an adapter found outside the signed envelope
        (a mail's In-Reply-To), honoured only for the request's own addressee. Each submission
        id gets the decision ``submission`` reports.
        """

    @abc.abstractmethod
    async def submission(self, submission_id: str) -> Submission | None:
        """The hub's decision on a submission, once there is one."""

    # ---------------------------------------------------------------------------- timelines
    @abc.abstractmethod
    async def record(self, message_id: str, state: State | str, detail: str = "") -> None:
        """Put an event on a message's timeline (and move its state, where the event does)."""

    @abc.abstractmethod
    async def record_many(self, events: Iterable[tuple[str, State | str, str]]) -> None:
        """Several events (message id, state, detail) in one write."""

    @abc.abstractmethod
    async def get_message(self, message_id: str) -> MessageRow | None:
        """A message with its envelope as received."""

    @abc.abstractmethod
    async def states(self, message_ids: Iterable[str]) -> dict[str, str]:
        """The current state of each known message among ``message_ids``."""

    @abc.abstractmethod
    async def timeline(self, message_id: str) -> list[Event]:
        """A message's events in the order they were written."""

    @abc.abstractmethod
    async def answers(self, message_id: str) -> list[str]:
        """The messages that answer ``message_id`` (CorrelationId), oldest first."""

    @abc.abstractmethod
    async def deliveries(self, message_id: str) -> list[DeliveryRow]:
        """A message's destinations and how far each got."""

    @abc.abstractmethod
    async def recent_messages(self, limit: int = 50) -> list[MessageRow]:
        """The latest messages received, newest first (without envelopes)."""

    # ---------------------------------------------------------------------------- deliveries
    @abc.abstractmethod
    async def mark_delivered(self, marks: Sequence[DeliveryMark]) -> list[Registration]:
        """A batch's inline deliveries and their events, in one transaction; documents whose
        recipient registers on delivery are registered in it (returned, to tell senders)."""

    @abc.abstractmethod
    async def settle_delivery(
        self, message_id: str, destination: Destination, state: str, detail: str
    ) -> Registration | None:
        """A queued delivery came to an end (``delivered`` or ``expired``), on the timeline;
        a registration on delivery, as ``mark_delivered``."""

    @abc.abstractmethod
    async def note_retry(self, message_id: str, destination: Destination, detail: str) -> None:
        """An attempt failed and another is scheduled (``retry_scheduled`` on the timeline)."""

    @abc.abstractmethod
    async def mark_failed_after_delivery(self, message_id: str, adapter: str, detail: str) -> None:
        """News after delivery (a mail bounce): the delivery and the message failed after all."""

    # ---------------------------------------------------------------------------- execution
    @abc.abstractmethod
    async def document(self, message_id: str) -> DocumentRecord | None:
        """A document's execution: its state under the rules, its card, deadline changes."""

    @abc.abstractmethod
    async def allocate_registration_number(
        self, message_id: str, department: str, journal: str | None = None
    ) -> Registration:
        """The next number of a department's journal for a document it received (the same
        number if asked again); the department's notice then registers it under that number.
        NoticeRefused for a document it did not receive, one registered or refused already."""

    @abc.abstractmethod
    async def journal(self, department: str, journal: str, year: int) -> list[Registration]:
        """A registration journal's entries for a year, in number order."""

    @abc.abstractmethod
    async def record_stage(self, message_id: str, stage: Stage, detail: str) -> bool:
        """A stage the hub asserts on a document's behalf (what an agency's answer or refusal
        means over SMEV or mail): no rules, no notice. False if there is no such document."""

    @abc.abstractmethod
    async def due_documents(self, until: dt.date, told: str) -> list[Due]:
        """Documents on control due by ``until`` not yet told of for their current deadline
        (``told``: "reminded" or "overdue")."""

    @abc.abstractmethod
    async def mark_told(self, item: Due, told: str, stage: Stage, detail: str) -> None:
        """On record: the reminder or the overdue notice for this deadline went out."""

    @abc.abstractmethod
    async def control_counts(self) -> dict[str, ControlCounts]:
        """Per department: documents on control now, due soon, overdue."""

    @abc.abstractmethod
    async def execution_summary(
        self,
        department: str | None = None,
        period_from: dt.date | None = None,
        period_to: dt.date | None = None,
    ) -> list[tuple[str, str | None, int, int, int, int, int]]:
        """Per department and executor: on control, due soon, overdue (now), executed on time,
        executed late (within the period)."""

    # ---------------------------------------------------------------------------- the HTTP API
    @abc.abstractmethod
    async def search_messages(self, query: MessageQuery) -> list[MessageRow]:
        """Messages matching ``query``, newest first (without envelopes)."""

    @abc.abstractmethod
    async def add_token(self, token: ApiToken) -> None:
        """Keep a new API token (its hash)."""

    @abc.abstractmethod
    async def token(self, token_id: str) -> ApiToken | None:
        """A token by its id (revoked ones too: they say when)."""

    @abc.abstractmethod
    async def tokens(self) -> list[ApiToken]:
        """Every token, oldest first."""

    @abc.abstractmethod
    async def revoke_token(self, token_id: str) -> bool:
        """Revoke a token for good; False if there is no such live token."""

    @abc.abstractmethod
    async def audit(
        self, actor: str, role: str, action: str, target: str, reason: str, detail: str
    ) -> None:
        """Put an administrator's action on record."""

    @abc.abstractmethod
    async def audit_log(self, since: str | None = None, limit: int = 200) -> list[AuditEntry]:
        """Administrators' actions, newest first (those after ``since`` if given)."""

    # ---------------------------------------------------------------------------- the page's lists
    @abc.abstractmethod
    async def search_documents(self, query: DocumentQuery) -> list[DocumentListRow]:
        """Documents as lines of a list: the query's view, scope and text, a page at a time."""

    @abc.abstractmethod
    async def document_counts(
        self, parties: tuple[str, ...], today: dt.date, due_until: dt.date
    ) -> DocumentCounts:
        """The overview's counters over the parties' incoming documents (everyone's if none)."""

    @abc.abstractmethod
    async def daily_figures(
        self, parties: tuple[str, ...], first: dt.date, last: dt.date, zone: dt.tzinfo
    ) -> list[DayFigures]:
        """Per day (in ``zone``): documents received, documents overdue at the day's end."""

    # ---------------------------------------------------------------------------- the page's users
    @abc.abstractmethod
    async def add_user(self, user: UserRecord) -> bool:
        """Keep a new user; False if the name is taken."""

    @abc.abstractmethod
    async def user(self, name: str) -> UserRecord | None:
        """A user by name (disabled ones too: they say when)."""

    @abc.abstractmethod
    async def users(self) -> list[UserRecord]:
        """Every user, by name."""

    @abc.abstractmethod
    async def set_password(self, name: str, hash_: str) -> bool:
        """A new password hash (unlocks the user, ends its sessions); False if no such user."""

    @abc.abstractmethod
    async def disable_user(self, name: str) -> bool:
        """Disable a user for good and end its sessions; False if none such is enabled."""

    @abc.abstractmethod
    async def login_failed(self, name: str, limit: int, locked_until: str) -> int:
        """Count a wrong password; at ``limit`` in a row the user is locked until
        ``locked_until`` (and the count starts over). The count now."""

    @abc.abstractmethod
    async def login_succeeded(self, name: str) -> None:
        """A right password: the count of wrong ones starts over."""

    @abc.abstractmethod
    async def open_session(self, session_id: str, user: str, csrf: str, expires_at: str) -> None:
        """Keep a new session (by the hash of its cookie); ended ones are cleared on the way."""

    @abc.abstractmethod
    async def session(self, session_id: str) -> UiSession | None:
        """A session with its user, unless the user is disabled (expiry is the caller's)."""

    @abc.abstractmethod
    async def touch_session(self, session_id: str, seen_at: str) -> None:
        """The session was used now (its idle time starts over)."""

    @abc.abstractmethod
    async def end_session(self, session_id: str) -> None:
        """Log out."""

    # ---------------------------------------------------------------------------- dead letters
    @abc.abstractmethod
    async def dead_letter(
        self,
        message_id: str,
        destination: Destination,
        reason: str,
        body: bytes,
        headers: dict[str, str],
    ) -> None:
        """Park a message the hub will not deliver (``failed`` and ``dead_lettered`` on record)."""

    @abc.abstractmethod
    async def dead_letters(self, ids: Sequence[str] | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first (only those of ``ids`` if given)."""

    @abc.abstractmethod
    async def dead_letter_body(self, letter: DeadLetter) -> bytes | None:
        """The parked message itself."""

    @abc.abstractmethod
    async def count_dead_letters(self) -> int:
        """How many dead letters there are now."""

    @abc.abstractmethod
    async def mark_replayed(self, letter: DeadLetter, detail: str) -> None:
        """On record that a dead letter is sent again (it stays listed until ``unlist``)."""

    @abc.abstractmethod
    async def unlist_dead_letter(self, letter: DeadLetter) -> None:
        """Take a replayed dead letter off the list."""

    @abc.abstractmethod
    async def discard_dead_letter(self, letter: DeadLetter, detail: str) -> None:
        """Give up on a dead letter for good, on record."""

    # ---------------------------------------------------------------------------- breakers
    @abc.abstractmethod
    async def save_breaker(
        self, destination: Destination, state: str, failures: int, last_error: str
    ) -> None:
        """A circuit breaker's state as the hub sees it now."""

    @abc.abstractmethod
    async def breakers(self) -> list[BreakerRow]:
        """Circuit breakers as last saved."""

    # ---------------------------------------------------------------------------- rules
    @abc.abstractmethod
    async def record_rules_version(
        self, version: str, summary: str, *, at_start: bool, at: str | None = None
    ) -> None:
        """A rules version came into force. At start, a version already on record keeps its row
        (a restart); by a reload, the row says when it last came into force and what it
        replaced (a revert updates it). ``at`` defaults to now."""

    @abc.abstractmethod
    async def rules_versions(self) -> list[RulesVersion]:
        """Every rules version applied, oldest first."""

    # ---------------------------------------------------------------------------- adapters
    @abc.abstractmethod
    async def remember(self, adapter: str, reference: str, message_id: str, data: str) -> None:
        """Map an adapter's own reference (SMEV MessageID, a mail's Message-ID…) to a message."""

    @abc.abstractmethod
    async def recall(self, adapter: str, reference: str) -> tuple[str, str] | None:
        """(message id, data) remembered for an adapter's reference."""

    @abc.abstractmethod
    async def recall_by_message(self, adapter: str, message_id: str) -> list[tuple[str, str]]:
        """[(reference, data)] an adapter remembered for a message, oldest first."""

    # ---------------------------------------------------------------------------- inboxes
    @abc.abstractmethod
    async def mark_seen(self, participant: str, message_id: str) -> bool:
        """Remember that a participant took a message from its inbox; False if it already had."""

    @abc.abstractmethod
    async def seen(self, participant: str, message_id: str) -> bool:
        """Whether a participant took a message from its inbox already."""

    # ---------------------------------------------------------------------------- state of things
    @abc.abstractmethod
    async def count_by_state(self) -> dict[str, int]:
        """How many messages are in each state (kept as they change: no table scan)."""

    async def fold_counts(self) -> None:
        """Fold the counts' recent changes into their totals (PostgreSQL keeps them apart so
        that the nodes' writes do not collide); any node, any time, as often as it likes."""
        return None  # nothing to fold where the totals are kept as they change

    @abc.abstractmethod
    async def oldest_undelivered_age(self) -> float:
        """Seconds since the oldest pending delivery last moved (0 if none)."""

    @abc.abstractmethod
    async def last_event_id(self) -> int:
        """The newest timeline event's position (where an acknowledgement scan starts)."""

    @abc.abstractmethod
    async def acknowledgements_since(self, event_id: int, limit: int) -> list[Acknowledgement]:
        """``acknowledged`` events after ``event_id``, with their nearest ``delivered`` events."""

    @abc.abstractmethod
    async def delivered_at(self, message_id: str) -> str | None:
        """When the message was last delivered, if it was."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """Whether the store answers a query now (for ``/readyz``)."""

    @abc.abstractmethod
    async def size_bytes(self) -> int:
        """The store's size on disk."""

    # ---------------------------------------------------------------------------- retention
    @abc.abstractmethod
    async def prune_batch(
        self,
        before: str,
        after: tuple[str, str] | None,
        limit: int,
        actor: str = "hub",
        reason: str = "",
    ) -> PruneBatch:
        """Delete up to ``limit`` messages received before ``before`` (ISO) whose life in the
        hub is over (not in flight, not on control, not held), with all their rows, in one
        short transaction; look from ``after`` (the previous batch's cursor) on. The archive
        records the run (``actor``, ``reason``) and keeps the messages' leaves."""

    @abc.abstractmethod
    async def hold_messages(self, message_ids: Sequence[str], reason: str, by: str) -> list[str]:
        """Keep these messages from retention; the ones newly held (unknown ones are not)."""

    @abc.abstractmethod
    async def release_holds(self, message_ids: Sequence[str]) -> list[str]:
        """Let retention have these messages again; the ones that were held."""

    @abc.abstractmethod
    async def legal_holds(self) -> list[LegalHold]:
        """Every message held, oldest hold first."""

    # ---------------------------------------------------------------------------- blobs
    @abc.abstractmethod
    async def add_upload(self, upload: UploadRow) -> None:
        """An upload begins: who makes it, and the SHA-256 and size it promised."""

    @abc.abstractmethod
    async def upload(self, upload_id: str) -> UploadRow | None:
        """An upload under way."""

    @abc.abstractmethod
    async def end_upload(self, upload_id: str) -> None:
        """An upload is finished or given up."""

    @abc.abstractmethod
    async def stale_uploads(self, before: str, limit: int = 500) -> list[str]:
        """Uploads begun before ``before`` (ISO) and never finished."""

    @abc.abstractmethod
    async def claim_blob(self, digest: str, size: int, owner: str) -> bool:
        """Before a blob's content is put in place: it is ``owner``'s, uploaded now. False
        while the collector is removing it (try again shortly)."""

    @abc.abstractmethod
    async def has_blobs(self) -> bool:
        """Whether any blob or upload was ever recorded (and not yet collected)."""

    @abc.abstractmethod
    async def blob(self, digest: str) -> BlobRow | None:
        """A blob's record."""

    @abc.abstractmethod
    async def may_read_blob(self, digest: str, parties: Sequence[str]) -> bool:
        """Whether a blob is stored and one of ``parties`` uploaded it or sent or received a
        message referring to it (no parties: anyone)."""

    @abc.abstractmethod
    async def blob_refs(self, message_id: str) -> list[str]:
        """The blobs a message refers to."""

    @abc.abstractmethod
    async def doom_blobs(self, before: str, limit: int = 500) -> list[str]:
        """Mark the blobs no message refers to and last uploaded before ``before`` for
        removal; return those marked (and those a run that died left marked)."""

    @abc.abstractmethod
    async def forget_blobs(self, digests: Iterable[str]) -> None:
        """The content of these marked blobs is removed: their records go too."""

    @abc.abstractmethod
    async def known_blobs(self, digests: Sequence[str]) -> set[str]:
        """Which of these blobs the store has a record of."""

    # ---------------------------------------------------------------------------- nodes
    @abc.abstractmethod
    async def node_seen(self, beat: NodeBeat) -> NodeRow | None:
        """A node's heartbeat (seen now, by the database's clock); its row as it was before,
        so that a node can tell another process writing under its name."""

    @abc.abstractmethod
    async def nodes(self, alive_within: float) -> list[NodeRow]:
        """The nodes seen within the last ``alive_within`` seconds, by name."""

    @abc.abstractmethod
    async def node_stopped(self, node: str, instance: str) -> None:
        """A node stopped: off the list, its leases free at once (unless another process
        writes under its name now)."""

    @abc.abstractmethod
    async def hold_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take the job ``name`` for ``seconds`` if it is free or its lease ran out, or renew
        it if ``holder`` has it; False if another holder has it (one statement: of holders
        that race, exactly one wins)."""

    @abc.abstractmethod
    async def leases(self) -> list[LeaseRow]:
        """Every lease and its holder (ones run out too: they say so), by name."""

    @abc.abstractmethod
    async def request_reload(self, request_id: str, alive_within: float) -> list[str]:
        """Ask every node alive to reload its routing rules; the nodes asked."""

    @abc.abstractmethod
    async def pending_reload(self, node: str) -> str | None:
        """The rules reload asked of ``node`` that it has not answered yet, if any."""

    @abc.abstractmethod
    async def answer_reload(self, node: str, request_id: str, answer: str) -> None:
        """A node's answer (JSON) to a rules reload asked of it."""

    # ---------------------------------------------------------------------------- embedded queues
    @abc.abstractmethod
    async def enqueue(
        self, queue: str, body: bytes, headers: dict[str, str], delay: float = 0
    ) -> int:
        """Put a message on an embedded queue (after ``delay`` seconds); its row id."""

    @abc.abstractmethod
    async def claim(self, queue: str, limit: int, lease: float) -> list[QueuedRow]:
        """Lock up to ``limit`` ready messages of ``queue`` for ``lease`` seconds, higher
        priority first; each claim counts as a delivery."""

    @abc.abstractmethod
    async def settle(self, row_id: int, *, requeue: bool, delay: float = 0) -> None:
        """Ack (delete) or give back a claimed message."""

    @abc.abstractmethod
    async def release_locks(self, queue: str) -> int:
        """Give back every claimed message of ``queue`` (its only consumer starts afresh)."""

    @abc.abstractmethod
    async def queue_depth(self, queue: str) -> int:
        """How many messages of ``queue`` are ready now."""

    # ------------------------------------------------------------- the archive (docs/archive.md)
    @abc.abstractmethod
    async def archive_size(self) -> int:
        """How many entries the log has integrated (pending ones are not numbered yet)."""

    @abc.abstractmethod
    async def archive_integrate(self, limit: int | None = None) -> int:
        """The sequencer's step: the pending leaves committed by now numbered, in their
        order, and in the tree (the first ``limit`` of them, if given); how many
        (docs/decisions/0024-archive-sequencer.md)."""

    @abc.abstractmethod
    async def archive_pending(self) -> list[Leaf]:
        """The leaves written but not integrated yet (``idx``: their place in the queue)."""

    @abc.abstractmethod
    async def archive_emitted(
        self, kind: str, ref: str, message_id: str, recipient: str, state: str, body: bytes
    ) -> None:
        """A signed receipt or notice the hub sends, logged by its bytes' digest."""

    @abc.abstractmethod
    async def archive_root(self, size: int) -> bytes:
        """The root hash of the log's first ``size`` entries."""

    @abc.abstractmethod
    async def archive_inclusion(self, index: int, size: int) -> tuple[Leaf, list[bytes]]:
        """Entry ``index``'s leaf and its inclusion proof in the tree of ``size`` (KeyError)."""

    @abc.abstractmethod
    async def archive_consistency(self, old: int, new: int) -> list[bytes]:
        """The proof that the tree of ``old`` is a prefix of the tree of ``new``."""

    @abc.abstractmethod
    async def archive_cover(
        self, gaps: Sequence[tuple[int, int]], size: int
    ) -> list[tuple[int, int, bytes]]:
        """A batch proof's nodes for these gaps [lo, hi) between entries, gap by gap."""

    @abc.abstractmethod
    async def archive_leaves(self, start: int, end: int) -> list[Leaf]:
        """Leaves ``start`` … ``end - 1``."""

    @abc.abstractmethod
    async def archive_leaves_of(self, message_ids: Sequence[str]) -> list[Leaf]:
        """Every leaf about these messages (envelopes, events), in log order."""

    @abc.abstractmethod
    async def archive_span(self, since: str | None, until: str | None) -> tuple[int, int] | None:
        """First and last numbers of the leaves appended in [since, until), or None."""

    @abc.abstractmethod
    async def add_head(self, head: SignedHead) -> None:
        """Keep a signed tree head."""

    @abc.abstractmethod
    async def sign_head(self, key: PrivateKey, at: str) -> SignedHead:
        """Sign and keep a head over the whole log as it is now (or return the latest, when
        nothing was appended since)."""

    @abc.abstractmethod
    async def heads(self) -> list[SignedHead]:
        """Every signed tree head, smallest first."""

    @abc.abstractmethod
    async def head(self, size: int | None = None) -> SignedHead | None:
        """The signed head of that size, or the latest."""

    @abc.abstractmethod
    async def archive_sources(self, leaves: Sequence[Leaf], bodies: bool = True) -> list[Source]:
        """Each leaf's entry recomputed from the rows it stands for, as they are now."""

    @abc.abstractmethod
    async def archive_start(self) -> tuple[int, int]:
        """The last timeline and audit-log rows that came before the log."""

    @abc.abstractmethod
    async def archive_rows(self, kind: str, after: int, limit: int) -> list[int]:
        """Ids of timeline (``event``), audit (``admin``) or sent receipts' and notices'
        (``receipt``) rows after ``after``, in order, up to ``limit``."""

    @abc.abstractmethod
    async def prune_bodies(self, message_ids: Sequence[str], actor: str, reason: str) -> list[str]:
        """Retention: delete these envelopes' bytes, keep their leaves; the run is logged."""
