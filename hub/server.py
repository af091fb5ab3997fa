"""The running hub: takes envelopes from the inbound queue, decides, records, delivers.

inbound → (worker processes) parse, validate, verify, route, countersign → store → deliver
(inline adapters now, others through ``hub.out.<adapter>``) → receipts → ack the inbound.

The inbound message is acknowledged only after the decision is durable and the deliveries are
confirmed, so a crash anywhere replays it; replay is idempotent (same MessageId and content: no
second acceptance; pending deliveries are redone, carrying the same MessageId).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

from envelopes.codec import to_bytes
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.abc import (
    Adapter,
    AdapterContext,
    Delivery,
    Destination,
    InboundMessage,
    OutboundMessage,
    Outcome,
    OutcomeKind,
    State,
    Transport,
)
from hub.adapters import create_adapter
from hub.breaker import Breaker, Breakers, BreakerState
from hub.config import HubConfig
from hub.embedded import EmbeddedTransport
from hub.pool import CryptoPool
from hub.processor import Outgoing, Processed
from hub.routing import RulesError, RuleSet, load_rules, version_summary
from hub.routing.watch import RulesWatcher
from hub.store import Store, _record, now_iso
from monitoring.metrics import Metrics

log = logging.getLogger("hub")

INBOUND_QUEUE = "hub.inbound"
OUT_PREFIX = "hub.out."
POISON_LIMIT = 8
DEAD_QUEUE = "hub.dead"
ROUTE_SETTING_HEADERS = (
    "retry-max-attempts",
    "retry-base-delay",
    "retry-max-delay",
    "retry-max-age",
)
# Exceptions that can only mean the network or the peer is troubled: retried, never a crash.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)


def out_queue(adapter: str) -> str:
    return OUT_PREFIX + adapter


def inbox_queue(participant: str) -> str:
    return "inbox." + participant


@dataclass
class IngestOutcome:
    """What storing a processed envelope came to."""

    processed: Processed
    status: str  # new | duplicate | conflict
    pending: list[tuple[str, str]] = field(default_factory=list)  # (adapter, address) to deliver
    answered: str | None = None  # the request this response answers
    existing_state: str | None = None


def _ingest_txn(
    conn: sqlite3.Connection,
    results: list[Processed],
    submissions: list[str | None],
    at: str,
    hints: list[str | None] | None = None,
) -> list[IngestOutcome]:
    """Store a batch of decisions in one transaction, idempotently by MessageId + digest.

    ``hints`` are correlations an adapter found outside the signed envelope (a mail's
    In-Reply-To): they link a response to its request when the envelope names none.
    """
    outcomes: list[IngestOutcome] = []
    hints = hints or [None] * len(results)
    for p, submission, hint in zip(results, submissions, hints, strict=True):
        before = len(outcomes)
        _store_one(conn, p, at, outcomes, hint)
        if submission:
            o = outcomes[before]
            outcome = {"new": p.state, "duplicate": "duplicate", "conflict": "conflict"}[o.status]
            reason = "; ".join(p.reasons) if o.status == "new" else None
            if o.status == "conflict":
                reason = "conflict: this MessageId was already submitted with other content"
            conn.execute(
                "INSERT OR REPLACE INTO submissions (submission_id, message_id, outcome, reason, "
                "at) VALUES (?, ?, ?, ?, ?)",
                (submission, p.message_id, str(outcome), reason, at),
            )
    return outcomes


def _store_one(
    conn: sqlite3.Connection,
    p: Processed,
    at: str,
    outcomes: list[IngestOutcome],
    hint: str | None = None,
) -> None:
    row = conn.execute(
        "SELECT digest, state FROM messages WHERE message_id = ?", (p.message_id,)
    ).fetchone()
    if row is not None and row[1] == State.REJECTED and row[0] != p.digest:
        # a corrected resubmission of something we refused: nothing of it was delivered, so
        # it gets a fresh decision (the old timeline stays, with a note)
        _record(
            conn, p.message_id, State.NOTE, "resubmitted with other content after rejection", at
        )
        conn.execute("DELETE FROM messages WHERE message_id = ?", (p.message_id,))
        conn.execute("DELETE FROM envelopes WHERE message_id = ?", (p.message_id,))
        row = None
    if row is not None:
        digest, state = row
        if digest == p.digest:
            pending = conn.execute(
                "SELECT adapter, address FROM deliveries WHERE message_id = ? AND state = "
                "'pending'",
                (p.message_id,),
            ).fetchall()
            outcomes.append(
                IngestOutcome(p, "duplicate", [tuple(r) for r in pending], existing_state=state)
            )
            _record(conn, p.message_id, State.NOTE, "resubmitted: same content, ignored", at)
        else:
            outcomes.append(IngestOutcome(p, "conflict", existing_state=state))
            _record(
                conn,
                p.message_id,
                State.NOTE,
                "rejected a resubmission: same MessageId with other content (conflict)",
                at,
            )
        return
    # A new message is written in its final ingest state at once, with its first events
    # (the same rows _record would leave, in three statements instead of eleven).
    events = [(p.message_id, State.RECEIVED.value, at, f"{len(p.envelope)} bytes")]
    if p.state == State.ACCEPTED:
        signed = (
            f"signed by {p.sender}"
            if p.signer in (None, p.sender)
            else f"unsigned by {p.sender}: wrapped and signed by {p.signer}"
        )
        targets = ", ".join(str(d) for d in p.destinations)
        routed = f"rule {p.rule!r} (rules {p.rules_version}) → {targets}"
        events += [
            (p.message_id, State.ACCEPTED.value, at, signed),
            (p.message_id, State.ROUTED.value, at, routed),
        ]
        state, reason = State.ROUTED.value, None
    else:
        reason = f"{p.code}: {'; '.join(p.reasons)}"
        events.append((p.message_id, str(p.state), at, reason))
        state = str(p.state)
    conn.execute(
        "INSERT INTO messages (message_id, digest, sender, recipient, message_type, kind, "
        "correlation_id, conversation_id, expires_at, state, reason, rules_version, "
        "received_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            p.message_id,
            p.digest,
            p.sender,
            p.recipient,
            p.message_type,
            p.kind,
            p.correlation_id,
            p.conversation_id,
            p.expires_at,
            state,
            reason,
            p.rules_version,
            at,
            at,
        ),
    )
    conn.execute(
        "INSERT INTO envelopes (message_id, body) VALUES (?, ?)", (p.message_id, p.envelope)
    )
    conn.executemany(
        "INSERT INTO events (message_id, state, at, detail) VALUES (?, ?, ?, ?)", events
    )
    outcome = IngestOutcome(p, "new")
    if p.state == State.ACCEPTED:
        conn.executemany(
            "INSERT INTO deliveries (message_id, adapter, address, state, updated_at) "
            "VALUES (?, ?, ?, 'pending', ?)",
            [(p.message_id, o.adapter, o.address, at) for o in p.outgoing],
        )
        outcome.pending = [(o.adapter, o.address) for o in p.outgoing]
        if p.correlation_id:
            found = conn.execute(
                "SELECT 1 FROM messages WHERE message_id = ?", (p.correlation_id,)
            ).fetchone()
            if found:
                _record(
                    conn,
                    p.correlation_id,
                    State.ANSWERED,
                    f"answered by {p.message_id} ({p.kind} from {p.sender})",
                    at,
                )
                outcome.answered = p.correlation_id
        elif hint:
            row = conn.execute(
                "SELECT recipient FROM messages WHERE message_id = ?", (hint,)
            ).fetchone()
            if row is not None and row[0] == p.sender:  # only the addressee may answer it
                _record(
                    conn,
                    hint,
                    State.ANSWERED,
                    f"answered by {p.message_id} ({p.kind} from {p.sender}; matched by the "
                    "transport's reply reference)",
                    at,
                )
                outcome.answered = hint
    outcomes.append(outcome)


class _Context(AdapterContext):
    def __init__(self, hub: Hub, adapter: str) -> None:
        self._hub = hub
        self._adapter = adapter
        self.transport = hub.transport
        self.hub_id = hub.config.id

    async def remember(self, reference: str, message_id: str, data: str = "") -> None:
        await self._hub.store.remember(self._adapter, reference, message_id, data)

    async def recall(self, reference: str) -> tuple[str, str] | None:
        return await self._hub.store.recall(self._adapter, reference)

    async def recall_by_message(self, message_id: str) -> list[tuple[str, str]]:
        return await self._hub.store.recall_by_message(self._adapter, message_id)

    async def notify_sender(
        self, message_id: str, state: State | str, reasons: list[tuple[str, str]]
    ) -> None:
        detail = "; ".join(text for _, text in reasons) or str(state)
        await self._hub.store.record(message_id, state, f"{self._adapter}: {detail}")
        if str(state) == State.FAILED:  # news after delivery (a mail bounce) overrides it
            at = now_iso()
            adapter = self._adapter

            def run(c: sqlite3.Connection) -> None:
                c.execute(
                    "UPDATE deliveries SET state = 'failed', last_error = ?, updated_at = ? "
                    "WHERE message_id = ? AND adapter = ? AND state = 'delivered'",
                    (detail, at, message_id, adapter),
                )
                c.execute(
                    "UPDATE messages SET state = 'failed', reason = ?, updated_at = ? "
                    "WHERE message_id = ? AND state IN ('delivering', 'delivered', "
                    "'retry_scheduled', 'routed')",
                    (detail, at, message_id),
                )

            await self._hub.store.write(run)
        row = await self._hub.store.get_message(message_id)
        if row is not None and row.sender:
            await self._hub._send_receipt(
                row.sender, message_id, str(state), row.digest, [], reasons
            )

    async def record(self, message_id: str, state: State | str, detail: str = "") -> None:
        await self._hub.store.record(message_id, state, detail)

    async def submit(self, message: InboundMessage) -> str:
        headers = dict(message.headers)
        headers["source"] = message.source
        headers["adapter"] = self._adapter  # whom to tell if the hub refuses it
        await self._hub.transport.publish(INBOUND_QUEUE, message.body, headers)
        return headers.get("message-id", "")

    def sign_envelope(self, xml: bytes) -> bytes:
        return self._hub.sign_envelope(xml)


class Hub:
    """One hub process: transport, store, worker pool, adapters and the pipeline between them."""

    def __init__(
        self,
        config: HubConfig,
        *,
        transport: Transport | None = None,
        adapters: dict[str, Adapter] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self._given_transport = transport
        self._given_adapters = adapters
        self.store: Store
        self.transport: Transport
        self.adapters: dict[str, Adapter] = {}
        self.pool: CryptoPool | None = None
        self.rules: RuleSet = RuleSet()
        self._batch: list[tuple[Delivery, asyncio.Future[None]]] = []
        self._batch_ready = asyncio.Event()
        self._batch_slots = asyncio.Semaphore(max(1, config.workers) + 1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.started = asyncio.Event()
        self._signer: Signer | None = None
        self._reload_lock = asyncio.Lock()
        self.breakers = Breakers(
            config.breaker.failure_threshold,
            config.breaker.probe_interval,
            on_change=self._breaker_changed,
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.rules = load_rules(self.config.path(self.config.paths.routing_rules))
        self.store = await Store.open(self.config.database)
        if self._given_transport is not None:
            self.transport = self._given_transport
        elif self.config.embedded:
            self.transport = EmbeddedTransport(self.store)
        else:
            from hub.rabbitmq import RabbitTransport

            self.transport = RabbitTransport(self.config.broker_url)
        await self.transport.start()
        if self._given_adapters is not None:
            self.adapters = dict(self._given_adapters)
        else:
            self.adapters = {
                name: create_adapter(name, settings, str(self.config.base_dir))
                for name, settings in self.config.adapters.items()
            }
        self._check_adapters(self.rules)
        inline = frozenset(n for n, a in self.adapters.items() if a.inline)
        self.pool = CryptoPool(self.config, inline)
        await self.pool.warm_up()
        for name, adapter in self.adapters.items():
            await adapter.start(_Context(self, name))
        for department in self.config.departments:
            await self.transport.declare_queue(inbox_queue(department))
        self.metrics.rules_version.labels(self.rules.version).set(1)
        await self._record_rules_version(self.rules, None)
        self.metrics.up.labels(self.transport.name).set(1)
        self._tasks.add(asyncio.create_task(self._batch_loop(), name="ingest-batches"))
        watcher = RulesWatcher(
            self.config.path(self.config.paths.routing_rules),
            self.reload_rules,
            lambda: self.rules.version,
            lambda: self.rules.sources,
            lambda: self.rules.source_digest,
            data_dir=self.config.path(self.config.data_dir),
        )
        self._tasks.add(asyncio.create_task(watcher.run(), name="rules-watch"))
        await self.transport.consume(INBOUND_QUEUE, self._on_inbound, prefetch=self.config.prefetch)
        for name in self.adapters:
            await self.transport.consume(out_queue(name), self._on_outbound, prefetch=16)
        await self.transport.consume(DEAD_QUEUE, self._on_dead, prefetch=16)
        self.started.set()
        log.info(
            "hub %s serving on %s transport, rules %s",
            self.config.id,
            self.transport.name,
            self.rules.version,
        )

    async def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(Exception):
            await self.transport.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for _, future in self._batch:
            if not future.done():
                future.cancel()
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.aclose()
        if self.pool is not None:
            self.pool.close()
        await self.store.close()
        self.metrics.up.labels(self.transport.name).set(0)

    def sign_envelope(self, xml: bytes) -> bytes:
        """Sign, as the hub, an envelope the hub composed itself (wrapping an unsigned document)."""
        if self._signer is None:
            self._signer = Signer.from_files(
                str(self.config.path(self.config.pki.key)),
                str(self.config.path(self.config.pki.cert)),
            )
        root = parse_xml(xml)
        self._signer.sign(root)
        return to_bytes(root)

    async def reload_rules(self) -> bool:
        """Load the rule files again; swap atomically if valid, keep the old set if not."""
        async with self._reload_lock:  # SIGHUP, the file watch and `hub routes reload` may race
            return await self._reload_rules()

    async def _reload_rules(self) -> bool:
        directory = self.config.path(self.config.paths.routing_rules)
        try:
            rules = await asyncio.to_thread(load_rules, directory)
        except Exception as exc:
            self.metrics.rules_reloads.labels("refused").inc()
            log.error("routing rules reload refused, keeping %s: %s", self.rules.version, exc)
            return False
        try:
            self._check_adapters(rules)
        except RulesError as exc:
            self.metrics.rules_reloads.labels("refused").inc()
            log.error("routing rules reload refused, keeping %s: %s", self.rules.version, exc)
            return False
        if rules.version == self.rules.version:
            return True
        old = self.rules
        self.rules = rules  # batches read self.rules once, so none sees a half-loaded set
        self.metrics.rules_reloads.labels("applied").inc()
        self.metrics.rules_version.remove(old.version)
        self.metrics.rules_version.labels(rules.version).set(1)
        await self._record_rules_version(rules, old)
        log.info("routing rules %s applied (was %s)", rules.version, old.version)
        return True

    def _check_adapters(self, rules: RuleSet) -> None:
        """Rules must only name configured adapters: else their messages would wait forever."""
        missing = sorted(rules.adapters() - set(self.adapters))
        if missing:
            raise RulesError(
                f"routing rules deliver through {', '.join(missing)}, which hub.toml does not "
                f"configure (configured: {', '.join(sorted(self.adapters))})"
            )

    async def _record_rules_version(self, rules: RuleSet, old: RuleSet | None) -> None:
        """One row per version: applying a version again by a reload (a revert) updates its time
        and summary; a restart with an already recorded version keeps the row as it is."""

        def record(conn: sqlite3.Connection) -> None:
            row = (rules.version, now_iso(), version_summary(rules, old))
            if old is None:
                conn.execute(
                    "INSERT OR IGNORE INTO rules_versions (version, applied_at, summary) "
                    "VALUES (?, ?, ?)",
                    row,
                )
            else:
                conn.execute(
                    "INSERT INTO rules_versions (version, applied_at, summary) VALUES (?, ?, ?) "
                    "ON CONFLICT(version) DO UPDATE SET applied_at = excluded.applied_at, "
                    "summary = excluded.summary",
                    row,
                )

        await self.store.write(record)

    # ------------------------------------------------------------------ ingest
    async def _on_inbound(self, delivery: Delivery) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((delivery, future))
        self._batch_ready.set()
        await future

    async def _batch_loop(self) -> None:
        while not self._stopping:
            await self._batch_ready.wait()
            if len(self._batch) < self.config.batch_size:
                await asyncio.sleep(0.002)  # let a few more arrive: one pool call, one commit
            await self._batch_slots.acquire()
            items = self._batch[: self.config.batch_size]
            del self._batch[: self.config.batch_size]
            if not self._batch:
                self._batch_ready.clear()
            if not items:
                self._batch_slots.release()
                continue
            task = asyncio.create_task(self._run_batch(items))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, items: list[tuple[Delivery, asyncio.Future[None]]]) -> None:
        try:
            await self._ingest_isolated(items)
        finally:
            self._batch_slots.release()

    async def _ingest_isolated(self, items: list[tuple[Delivery, asyncio.Future[None]]]) -> None:
        """Ingest a batch; if it fails, one message at a time, so a poison message fails alone.

        A failed message goes back to the inbound queue; the broker's delivery limit moves one
        that keeps failing to ``hub.dead`` (and from there to the dead-letter store).
        """
        try:
            await self._ingest(items)
        except Exception as exc:
            if len(items) > 1 and not self._stopping and await self.transport.ping():
                log.warning("ingest batch of %d failed (%s); retrying one by one", len(items), exc)
                for item in items:
                    await self._ingest_isolated([item])
                return
            log.exception("ingest failed; the message goes back to the inbound queue")
            for delivery, future in items:
                with contextlib.suppress(Exception):
                    await delivery.nack(requeue=True)
                if not future.done():
                    future.set_exception(exc)
        else:
            for _, future in items:
                if not future.done():
                    future.set_result(None)

    async def _ingest(self, items: list[tuple[Delivery, asyncio.Future[None]]]) -> None:
        assert self.pool is not None
        started = time.perf_counter()
        bodies = [d.body for d, _ in items]
        for d, _ in items:
            self.metrics.received.labels(d.headers.get("source", "amqp")).inc()
        results = await self.pool.process(bodies, self.rules)
        for p in results:
            for stage, seconds in p.timings.items():
                self.metrics.stage.labels(stage).observe(seconds)
        t_store = time.perf_counter()
        at = now_iso()
        submissions = [d.headers.get("submission-id") for d, _ in items]
        hints = [d.headers.get("correlation-hint") for d, _ in items]
        outcomes = await self.store.write(lambda c: _ingest_txn(c, results, submissions, at, hints))
        store_seconds = (time.perf_counter() - t_store) / max(1, len(results))
        self.metrics.stage.labels("store").observe(store_seconds)
        marks = await asyncio.gather(*(self._dispatch(o, started) for o in outcomes))
        if any(delivered or events for delivered, events in marks):
            # one transaction for the batch: a delivery row and its event never disagree
            await self.store.write(
                lambda c: self._mark_delivered(
                    c, [(o.processed.message_id, *m) for o, m in zip(outcomes, marks, strict=True)]
                )
            )
        await asyncio.gather(
            *(self._tell_sender(o, m[0]) for o, m in zip(outcomes, marks, strict=True))
        )
        await asyncio.gather(
            *(self._tell_adapter(d, o) for (d, _), o in zip(items, outcomes, strict=True))
        )
        await asyncio.gather(*(d.ack() for d, _ in items))

    async def _dispatch(
        self, outcome: IngestOutcome, started: float
    ) -> tuple[list[Destination], list[tuple[str, State | str, str]]]:
        """Deliver what a stored decision asks for; says what to mark delivered or retrying."""
        p = outcome.processed
        delivered: list[Destination] = []
        events: list[tuple[str, State | str, str]] = []
        if outcome.status == "conflict":
            self.metrics.rejected.labels("conflict").inc()
        elif outcome.status == "duplicate":
            self.metrics.duplicates.inc()
        elif p.state == State.REJECTED:
            self.metrics.rejected.labels(p.code or "invalid").inc()
        elif p.state == State.EXPIRED:
            self.metrics.expired.inc()
        else:
            self.metrics.accepted.labels(p.message_type or "").inc()
        outgoing = {(o.adapter, o.address): o for o in p.outgoing}
        for adapter_name, address in outcome.pending:
            out = outgoing.get((adapter_name, address))
            if out is None:
                continue
            adapter = self.adapters.get(adapter_name)
            message = self._outbound(p, out, attempt=1)
            if adapter is not None and adapter.inline:
                t = time.perf_counter()
                result = await adapter.deliver(message)
                self.metrics.stage.labels("deliver").observe(time.perf_counter() - t)
                self.metrics.deliveries.labels(adapter_name, address, result.kind.value).inc()
                if result.kind == OutcomeKind.DELIVERED:
                    delivered.append(Destination(adapter_name, address))
                    events.append((p.message_id, State.DELIVERED, f"{adapter_name}:{address}"))
                    self.metrics.end_to_end.labels(adapter_name).observe(
                        time.perf_counter() - started
                    )
                    continue
                # not now: the work queue takes it over, with its retry policy
                events.append(
                    (
                        p.message_id,
                        State.RETRY_SCHEDULED,
                        f"{adapter_name}:{address}: {result.detail}",
                    )
                )
                await self.transport.publish(
                    out_queue(adapter_name), out.body, self._headers(message), delay=1
                )
            else:
                await self.transport.publish(
                    out_queue(adapter_name), out.body, self._headers(message)
                )
        return delivered, events

    async def _tell_sender(self, outcome: IngestOutcome, delivered: list[Destination]) -> None:
        """The receipt for a stored (and, where inline, delivered) decision."""
        p = outcome.processed
        if outcome.status == "conflict":
            if p.sender:
                await self._send_receipt(
                    p.sender,
                    p.message_id,
                    State.REJECTED,
                    p.digest,
                    [],
                    [
                        (
                            "conflict",
                            f"MessageId {p.message_id} was already submitted with other content",
                        )
                    ],
                )
            return
        if outcome.status == "duplicate":
            # the first try may have died before telling the sender: tell again (a receipt's
            # MessageId is derived from what it says, so the inbox shows it once)
            if p.receipt is not None and p.sender and p.receipt_state:
                await self._publish_receipt(p.sender, p.receipt, p.receipt_state)
            return
        if p.receipt is not None and p.sender and p.receipt_state:
            if p.receipt_state == State.DELIVERED and len(delivered) != len(p.outgoing):
                # some destination is not there yet: say "accepted" now, "delivered" later
                await self._send_receipt(
                    p.sender, p.message_id, State.ACCEPTED, p.digest, p.destinations, []
                )
            else:
                await self._publish_receipt(p.sender, p.receipt, p.receipt_state)

    async def _tell_adapter(self, delivery: Delivery, outcome: IngestOutcome) -> None:
        """A refused document an adapter brought in: the adapter answers its sender."""
        p = outcome.processed
        if outcome.status != "new" or p.state not in (State.REJECTED, State.EXPIRED):
            return
        name = delivery.headers.get("adapter", "")
        adapter = self.adapters.get(name)
        if adapter is None:
            return
        reasons = [(p.code or str(p.state), reason) for reason in p.reasons]
        try:
            await adapter.refused(p.message_id, str(p.state), reasons, dict(delivery.headers))
        except Exception as exc:  # best effort: the refusal itself is stored and on record
            log.warning(
                "%s could not tell the sender of %s that it was %s: %r",
                name,
                p.message_id,
                p.state,
                exc,
                extra={"message_id": p.message_id},
            )
            detail = f"{name}: the sender could not be told ({exc!r})"[:1000]
            await self.store.write(
                lambda c: _record(c, p.message_id, State.NOTE, detail, now_iso())
            )

    @staticmethod
    def _mark_delivered(
        conn: sqlite3.Connection,
        marks: list[tuple[str, list[Destination], list[tuple[str, State | str, str]]]],
    ) -> None:
        """Delivery rows and their events, for (message_id, delivered, events) of a batch."""
        at = now_iso()
        conn.executemany(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, updated_at = ? "
            "WHERE message_id = ? AND adapter = ? AND address = ?",
            [(at, m, d.adapter, d.address) for m, delivered, _ in marks for d in delivered],
        )
        for _, _, events in marks:
            for event_id, state, detail in events:
                _record(conn, event_id, str(state), detail, at)

    def _outbound(self, p: Processed, out: Outgoing, attempt: int) -> OutboundMessage:
        extra = {
            "digest": p.digest or "",
            "expires-at": p.expires_at or "",
            "first-attempt-at": f"{time.time():.3f}",
        }
        extra.update(
            {
                f"retry-{key.replace('_', '-')}": value
                for key, value in out.settings.items()
                if key in ("max_attempts", "base_delay", "max_delay", "max_age")
            }
        )
        # the route's priority, else the sender's Header/Priority: the queues hand out higher first
        priority = out.settings.get("priority") or (
            str(p.priority) if p.priority is not None else ""
        )
        if priority:
            extra["priority"] = priority
        return OutboundMessage(
            message_id=p.message_id,
            sender=p.sender or "",
            recipient=out.recipient or p.recipient or "",
            message_type=p.message_type or "",
            kind=p.kind or "",
            correlation_id=p.correlation_id,
            body=out.body,
            destination=Destination(out.adapter, out.address),
            attempt=attempt,
            extra=extra,
        )

    @staticmethod
    def _headers(message: OutboundMessage) -> dict[str, str]:
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

    @staticmethod
    def _from_headers(body: bytes, headers: dict[str, str]) -> OutboundMessage:
        extra_keys = (
            "digest",
            "expires-at",
            "first-attempt-at",
            "priority",
            *ROUTE_SETTING_HEADERS,
        )
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
            extra={k: headers[k] for k in extra_keys if k in headers},
        )

    # ------------------------------------------------------------------ receipts
    async def _send_receipt(
        self,
        recipient: str,
        message_id: str,
        state: str,
        digest: str | None,
        destinations: list[Destination],
        reasons: list[tuple[str, str]],
    ) -> None:
        assert self.pool is not None
        body = await self.pool.sign_receipt(
            recipient, message_id, str(state), digest, destinations, reasons
        )
        if body is not None:
            await self._publish_receipt(recipient, body, str(state))

    async def _publish_receipt(self, recipient: str, body: bytes, state: str) -> None:
        receipt_id = body.split(b"<hub:MessageId>", 1)[-1].split(b"<", 1)[0].decode()
        await self.transport.publish(
            inbox_queue(recipient),
            body,
            {
                "message-id": receipt_id,
                "sender": self.config.id,
                "kind": "receipt",
                "receipt-state": state,
            },
        )
        self.metrics.receipts.labels(state).inc()

    # ------------------------------------------------------------------ queued deliveries
    async def _on_outbound(self, delivery: Delivery) -> None:
        # the broker's x-death bookkeeping must not travel with a message we send again
        headers = {k: v for k, v in delivery.headers.items() if not k.startswith("x-")}
        message = self._from_headers(delivery.body, headers)
        adapter = self.adapters.get(message.destination.adapter)
        destination = message.destination
        if adapter is None:
            await self._dead_letter(
                delivery, message, f"no adapter {destination.adapter!r}", "no_adapter"
            )
            return
        if delivery.delivery_count > POISON_LIMIT:
            await self._dead_letter(
                delivery,
                message,
                f"poison message: handed out {delivery.delivery_count} times without an answer",
                "poison",
            )
            return
        expires = message.extra.get("expires-at")
        if expires and dt.datetime.fromisoformat(expires) <= dt.datetime.now(dt.UTC):
            await self._expire(delivery, message, expires)
            return
        wait = self.breakers.wait_time(destination)
        if wait > 0:  # the destination is down or asked us to wait: keep it queued, untried
            await self.transport.publish(
                out_queue(destination.adapter), delivery.body, headers, delay=max(1.0, wait)
            )
            await delivery.ack()
            return
        await self.store.record(
            message.message_id, State.DELIVERING, f"attempt {message.attempt} to {destination}"
        )
        t = time.perf_counter()
        outcome = await self._attempt(adapter, message)
        self.metrics.stage.labels("deliver").observe(time.perf_counter() - t)
        if outcome.kind == OutcomeKind.TRANSIENT:
            self.breakers.failure(destination, outcome.detail, outcome.retry_after)
        else:  # delivered, or refused for this message's own sake: the destination is up
            self.breakers.success(destination)
        if outcome.kind == OutcomeKind.DELIVERED:
            detail = f"{destination}" + (f" ({outcome.reference})" if outcome.reference else "")
            await self.store.write(lambda c: self._settle_delivery(c, message, "delivered", detail))
            first = float(message.extra.get("first-attempt-at", "0") or 0)
            if first:
                self.metrics.end_to_end.labels(destination.adapter).observe(time.time() - first)
            await self._send_receipt(
                message.sender,
                message.message_id,
                State.DELIVERED,
                message.extra.get("digest"),
                [destination],
                [],
            )
            await delivery.ack()
            return
        if outcome.kind == OutcomeKind.TRANSIENT and self._may_retry(message):
            delay = self._backoff(message, outcome.retry_after)
            retry = dict(headers)
            retry["attempt"] = str(message.attempt + 1)
            await self.transport.publish(
                out_queue(destination.adapter), delivery.body, retry, delay=delay
            )
            self.metrics.retries.labels(destination.adapter, destination.address).inc()
            await self.store.write(
                lambda c: self._note_attempt(
                    c,
                    message,
                    f"attempt {message.attempt} failed: {outcome.detail}; next in {delay:.0f}s",
                )
            )
            await delivery.ack()
            return
        if outcome.kind == OutcomeKind.PERMANENT:
            await self._dead_letter(delivery, message, outcome.detail, "permanent")
        else:
            await self._dead_letter(
                delivery,
                message,
                f"gave up after {message.attempt} attempts: {outcome.detail}",
                "retries_exhausted",
            )

    async def _attempt(self, adapter: Adapter, message: OutboundMessage) -> Outcome:
        """One delivery, with a few quick in-process retries for a flaky call (tenacity).

        Longer waits go through the broker instead, so that they survive a restart and hold
        no consumer. An adapter should classify its failures; the few exception types that
        can only mean the network is troubled count as transient, anything else propagates
        (the message goes back to its queue and, if it keeps crashing us, to the dead letters).
        """
        policy = self.config.retry

        destination = message.destination

        async def once() -> Outcome:
            try:
                outcome = await adapter.deliver(message)
            except TRANSIENT_ERRORS as exc:
                outcome = Outcome.transient(f"{type(exc).__name__}: {exc}")
            self.metrics.deliveries.labels(
                destination.adapter, destination.address, outcome.kind.value
            ).inc()
            return outcome

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.inline_attempts),
            wait=wait_exponential_jitter(multiplier=0.2, max=2.0),
            retry=retry_if_result(
                lambda o: o.kind == OutcomeKind.TRANSIENT and o.retry_after is None
            ),
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )
        result: Outcome = await retrying(once)
        return result

    async def _on_dead(self, delivery: Delivery) -> None:
        """What the broker dead-lettered (delivery limit reached): into the dead-letter store."""
        headers = dict(delivery.headers)
        origin = headers.get("x-first-death-queue") or headers.get("x-dead-from") or "?"
        if headers.get("adapter"):
            message = self._from_headers(delivery.body, headers)
            await self._dead_letter(
                delivery, message, f"poison: delivery limit reached in {origin}", "poison"
            )
            return
        from hub.client import header_facts

        message_id, sender, kind = header_facts(delivery.body)
        message = OutboundMessage(
            message_id=message_id,
            sender=sender if sender != "-" else "",
            recipient="",
            message_type="",
            kind=kind,
            correlation_id=None,
            body=delivery.body,
            destination=Destination("inbound", origin),
            extra={},
        )
        await self._dead_letter(
            delivery, message, f"poison: delivery limit reached in {origin}", "poison"
        )

    def _breaker_changed(self, destination: Destination, breaker: Breaker) -> None:
        self.metrics.breaker_state.labels(destination.adapter, destination.address).set(
            int(breaker.state)
        )
        log.log(
            logging.INFO if breaker.state == BreakerState.HALF_OPEN else logging.WARNING,
            "circuit breaker for %s is %s (%s)",
            destination,
            breaker.state.name.lower(),
            breaker.last_error or "ok",
            extra={"destination": str(destination)},
        )
        state, failures, error = breaker.state.name.lower(), breaker.failures, breaker.last_error
        at = now_iso()

        def persist(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO breakers (adapter, address, state, failures, "
                "last_error, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (destination.adapter, destination.address, state, failures, error, at),
            )

        task = asyncio.ensure_future(self.store.write(persist))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _expire(self, delivery: Delivery, message: OutboundMessage, expires: str) -> None:
        self.metrics.expired.inc()
        await self.store.write(
            lambda c: self._settle_delivery(c, message, "expired", f"ExpiresAt {expires} passed")
        )
        await self._send_receipt(
            message.sender,
            message.message_id,
            State.EXPIRED,
            message.extra.get("digest"),
            [message.destination],
            [("expired", f"ExpiresAt {expires} passed before delivery")],
        )
        await delivery.ack()

    def _policy(self, message: OutboundMessage, key: str) -> float:
        """A retry setting: the route's override (in the message's headers) or hub.toml's."""
        override = message.extra.get(f"retry-{key.replace('_', '-')}")
        return float(override) if override else float(getattr(self.config.retry, key))

    def _may_retry(self, message: OutboundMessage) -> bool:
        first = float(message.extra.get("first-attempt-at", "0") or 0)
        too_old = bool(first) and time.time() - first > self._policy(message, "max_age")
        return message.attempt < self._policy(message, "max_attempts") and not too_old

    def _backoff(self, message: OutboundMessage, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a destination's Retry-After wins if longer."""
        base = self._policy(message, "base_delay")
        jitter = self.config.retry.jitter
        delay = base * 2 ** (message.attempt - 1) * (1 + random.uniform(-jitter, jitter))
        delay = min(self._policy(message, "max_delay"), delay)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return float(max(0.5, delay))

    @staticmethod
    def _note_attempt(conn: sqlite3.Connection, message: OutboundMessage, detail: str) -> None:
        at = now_iso()
        d = message.destination
        conn.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, state = 'pending', "
            "updated_at = updated_at WHERE message_id = ? AND adapter = ? AND address = ?",
            (detail, message.message_id, d.adapter, d.address),
        )
        _record(conn, message.message_id, State.RETRY_SCHEDULED, f"{d}: {detail}", at)

    @staticmethod
    def _settle_delivery(
        conn: sqlite3.Connection, message: OutboundMessage, state: str, detail: str
    ) -> None:
        at = now_iso()
        d = message.destination
        conn.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, updated_at = ?, "
            "last_error = CASE WHEN ? = 'delivered' THEN last_error ELSE ? END "
            "WHERE message_id = ? AND adapter = ? AND address = ?",
            (state, at, state, detail, message.message_id, d.adapter, d.address),
        )
        _record(conn, message.message_id, state, detail, at)

    async def _dead_letter(
        self, delivery: Delivery, message: OutboundMessage, reason: str, code: str
    ) -> None:
        """Park a message we will not deliver, with its last error; tell its sender."""
        d = message.destination
        headers = json.dumps(dict(delivery.headers))

        def run(conn: sqlite3.Connection) -> None:
            at = now_iso()
            conn.execute(
                "INSERT OR REPLACE INTO dead_letters (message_id, adapter, address, error, at, "
                "body, headers) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message.message_id, d.adapter, d.address, reason, at, delivery.body, headers),
            )
            conn.execute(
                "UPDATE deliveries SET state = 'dead_lettered', last_error = ?, updated_at = ? "
                "WHERE message_id = ? AND adapter = ? AND address = ?",
                (reason, at, message.message_id, d.adapter, d.address),
            )
            _record(conn, message.message_id, State.FAILED, f"{d}: {reason}", at)
            _record(conn, message.message_id, State.DEAD_LETTERED, f"{d}: {reason}", at)

        await self.store.write(run)
        self.metrics.dead_letters.labels(d.adapter, code).inc()
        log.warning(
            "dead-lettered: %s",
            reason,
            extra={
                "message_id": message.message_id,
                "destination": str(d),
                "state": "dead_lettered",
            },
        )
        await self._send_receipt(
            message.sender,
            message.message_id,
            State.FAILED,
            message.extra.get("digest"),
            [d],
            [("delivery_failed", reason)],
        )
        await delivery.ack()


async def run_until_stopped(
    hub: Hub, stop: asyncio.Event, on_started: Callable[[], Awaitable[Any]] | None = None
) -> None:
    await hub.start()
    try:
        if on_started is not None:
            await on_started()
        await stop.wait()
    finally:
        await hub.stop()
