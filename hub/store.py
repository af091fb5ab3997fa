"""The durable record: messages, their timelines, deliveries, dead letters, the embedded queues.

One writer connection takes every write through one queue and commits whatever has piled up in
one transaction (WAL, ``synchronous=FULL``): a write's awaitable returns only once it is on disk.
Readers use a connection of their own, so ``hub trace`` or the metrics never wait on the writer.
Other processes (the CLI next to ``hub serve``) open the same file: SQLite serialises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from hub.abc import State, header_priority

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]

MIGRATIONS: list[str] = [
    # 1: messages, timelines, deliveries, embedded queues
    """
    CREATE TABLE messages (
        message_id      TEXT PRIMARY KEY,
        digest          TEXT,
        sender          TEXT,
        recipient       TEXT,
        message_type    TEXT,
        kind            TEXT,
        correlation_id  TEXT,
        conversation_id TEXT,
        expires_at      TEXT,
        state           TEXT NOT NULL,
        reason          TEXT,
        rules_version   TEXT,
        received_at     TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        envelope        BLOB
    );
    CREATE INDEX messages_correlation ON messages(correlation_id);
    CREATE INDEX messages_state ON messages(state, updated_at);
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY,
        message_id  TEXT NOT NULL,
        state       TEXT NOT NULL,
        at          TEXT NOT NULL,
        detail      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX events_message ON events(message_id, id);
    CREATE TABLE deliveries (
        message_id  TEXT NOT NULL,
        adapter     TEXT NOT NULL,
        address     TEXT NOT NULL,
        state       TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (message_id, adapter, address)
    );
    CREATE INDEX deliveries_state ON deliveries(state, updated_at);
    CREATE TABLE queue (
        id            INTEGER PRIMARY KEY,
        queue         TEXT NOT NULL,
        body          BLOB NOT NULL,
        headers       TEXT NOT NULL,
        available_at  REAL NOT NULL,
        locked_until  REAL NOT NULL DEFAULT 0,
        deliveries    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX queue_ready ON queue(queue, available_at, id);
    CREATE TABLE submissions (
        submission_id TEXT PRIMARY KEY,
        message_id    TEXT NOT NULL,
        outcome       TEXT NOT NULL,
        reason        TEXT,
        at            TEXT NOT NULL
    );
    CREATE TABLE inbox_seen (
        participant TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        at          TEXT NOT NULL,
        PRIMARY KEY (participant, message_id)
    );
    """,
    # 2: dead letters and rules versions
    """
    CREATE TABLE dead_letters (
        message_id  TEXT NOT NULL,
        adapter     TEXT NOT NULL,
        address     TEXT NOT NULL,
        error       TEXT NOT NULL,
        at          TEXT NOT NULL,
        body        BLOB NOT NULL,
        headers     TEXT NOT NULL,
        PRIMARY KEY (message_id, adapter, address)
    );
    CREATE TABLE rules_versions (
        version     TEXT PRIMARY KEY,
        applied_at  TEXT NOT NULL,
        summary     TEXT NOT NULL
    );
    """,
    # 3: adapters' references (SMEV MessageIDs, mail Message-IDs, ReplyTo tokens)
    """
    CREATE TABLE adapter_refs (
        adapter     TEXT NOT NULL,
        reference   TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        data        TEXT NOT NULL DEFAULT '',
        at          TEXT NOT NULL,
        PRIMARY KEY (adapter, reference)
    );
    CREATE INDEX adapter_refs_message ON adapter_refs(adapter, message_id);
    """,
    # 4: circuit breakers as the hub last saw them (for `hub status`)
    """
    CREATE TABLE breakers (
        adapter     TEXT NOT NULL,
        address     TEXT NOT NULL,
        state       TEXT NOT NULL,
        failures    INTEGER NOT NULL,
        last_error  TEXT NOT NULL DEFAULT '',
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (adapter, address)
    );
    """,
    # 5: envelopes in a table of their own. A 5 KB blob in the messages row made every state
    # change rewrite a whole page per message (a second commit per batch cost as much as the
    # first); now a message row is small. messages.envelope stays (older rows are moved out
    # of it here) only because DROP COLUMN needs SQLite 3.35.
    """
    CREATE TABLE envelopes (
        message_id  TEXT PRIMARY KEY,
        body        BLOB NOT NULL
    );
    INSERT INTO envelopes (message_id, body)
        SELECT message_id, envelope FROM messages WHERE envelope IS NOT NULL;
    UPDATE messages SET envelope = NULL WHERE envelope IS NOT NULL;
    """,
    # 6: priorities in the embedded queues (a message's `priority` header, 0-9, higher first)
    """
    ALTER TABLE queue ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX queue_by_priority ON queue(queue, priority DESC, id);
    """,
]

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
_TIMELINE_ONLY = {State.NOTE}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass
class Event:
    state: str
    at: str
    detail: str


@dataclass
class MessageRow:
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


@dataclass
class QueuedRow:
    id: int
    queue: str
    body: bytes
    headers: dict[str, str]
    deliveries: int


def _record(conn: sqlite3.Connection, message_id: str, state: str, detail: str, at: str) -> None:
    conn.execute(
        "INSERT INTO events (message_id, state, at, detail) VALUES (?, ?, ?, ?)",
        (message_id, state, at, detail),
    )
    if state in _TIMELINE_ONLY:
        return
    row = conn.execute("SELECT state FROM messages WHERE message_id = ?", (message_id,)).fetchone()
    if row is None:
        return
    current = row[0]
    if state == State.REPLAYED:
        new = State.DELIVERING.value
    elif _RANK.get(state, 0) >= _RANK.get(current, 0) or current in (
        State.REPLAYED,
        State.RETRY_SCHEDULED,
    ):
        new = state
    else:
        return
    conn.execute(
        "UPDATE messages SET state = ?, updated_at = ?, reason = CASE WHEN ? IN "
        "('rejected', 'failed', 'dead_lettered', 'expired', 'discarded') THEN ? ELSE reason END "
        "WHERE message_id = ?",
        (new, at, new, detail, message_id),
    )


class Store:
    """Async access to the hub's SQLite database."""

    def __init__(self, path: Path, *, batch_limit: int = 512) -> None:
        self.path = path
        self.batch_limit = batch_limit
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[tuple[WriteFn, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(cls, path: Path) -> Store:
        store = cls(path)
        await store._open()
        return store

    async def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self._writer.execute("PRAGMA synchronous=FULL")
        await self._writer.execute("PRAGMA busy_timeout=30000")
        await self._writer.execute("PRAGMA foreign_keys=ON")
        await self._migrate()
        self._reader = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        await self._reader.execute("PRAGMA busy_timeout=30000")
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")

    async def _migrate(self) -> None:
        assert self._writer is not None
        await self._writer.execute("BEGIN IMMEDIATE")
        try:
            await self._writer.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            cursor = await self._writer.execute("SELECT MAX(version) FROM schema_version")
            row = await cursor.fetchone()
            current = (row[0] if row else None) or 0
            for number, script in enumerate(MIGRATIONS, start=1):
                if number <= current:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        await self._writer.execute(statement)
                await self._writer.execute("INSERT INTO schema_version VALUES (?)", (number,))
                log.info("store migrated to schema version %d", number)
            await self._writer.execute("COMMIT")
        except BaseException:
            await self._writer.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                await conn.close()
        self._writer = self._reader = None

    # ------------------------------------------------------------------ writing
    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn inside the next batched transaction; returns once it is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((fn, future))
        return await future

    async def _write_loop(self) -> None:
        assert self._writer is not None
        stop = False
        while not stop:
            item = await self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self.batch_limit and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                results = await self._writer._execute(  # type: ignore[no-untyped-call]
                    _run_batch, self._writer._conn, batch
                )
            except Exception as exc:  # the commit itself failed: every write in it failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.writes += len(batch)
            for (_, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    # ------------------------------------------------------------------ reading
    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        assert self._reader is not None
        cursor = await self._reader.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def get_message(self, message_id: str) -> MessageRow | None:
        rows = await self._fetchall(
            "SELECT message_id, digest, sender, recipient, message_type, kind, correlation_id, "
            "conversation_id, expires_at, state, reason, rules_version, received_at, updated_at, "
            "(SELECT body FROM envelopes e WHERE e.message_id = m.message_id) "
            "FROM messages m WHERE message_id = ?",
            (message_id,),
        )
        return MessageRow(*rows[0]) if rows else None

    async def timeline(self, message_id: str) -> list[Event]:
        rows = await self._fetchall(
            "SELECT state, at, detail FROM events WHERE message_id = ? ORDER BY id", (message_id,)
        )
        return [Event(*r) for r in rows]

    async def find_by_correlation(self, correlation_id: str) -> list[str]:
        rows = await self._fetchall(
            "SELECT message_id FROM messages WHERE correlation_id = ? ORDER BY received_at",
            (correlation_id,),
        )
        return [r[0] for r in rows]

    async def deliveries(self, message_id: str) -> list[tuple[str, str, str, int, str | None]]:
        rows = await self._fetchall(
            "SELECT adapter, address, state, attempts, last_error FROM deliveries "
            "WHERE message_id = ? ORDER BY adapter, address",
            (message_id,),
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]

    async def count_by_state(self) -> dict[str, int]:
        rows = await self._fetchall("SELECT state, COUNT(*) FROM messages GROUP BY state")
        return {r[0]: r[1] for r in rows}

    async def oldest_undelivered_age(self) -> float:
        rows = await self._fetchall(
            "SELECT MIN(updated_at) FROM deliveries WHERE state IN ('pending', 'retry_scheduled')"
        )
        if not rows or rows[0][0] is None:
            return 0.0
        oldest = dt.datetime.fromisoformat(rows[0][0])
        return max(0.0, (dt.datetime.now(dt.UTC) - oldest).total_seconds())

    async def recent_messages(self, limit: int = 50) -> list[MessageRow]:
        rows = await self._fetchall(
            "SELECT message_id, digest, sender, recipient, message_type, kind, correlation_id, "
            "conversation_id, expires_at, state, reason, rules_version, received_at, updated_at, "
            "NULL FROM messages ORDER BY received_at DESC LIMIT ?",
            (limit,),
        )
        return [MessageRow(*r) for r in rows]

    async def submission(self, submission_id: str) -> tuple[str, str, str | None] | None:
        """(message id, outcome, reason) of one submission, once the hub has decided on it."""
        rows = await self._fetchall(
            "SELECT message_id, outcome, reason FROM submissions WHERE submission_id = ?",
            (submission_id,),
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    async def remember(self, adapter: str, reference: str, message_id: str, data: str) -> None:
        at = now_iso()
        await self.write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO adapter_refs (adapter, reference, message_id, data, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (adapter, reference, message_id, data, at),
            )
        )

    async def recall(self, adapter: str, reference: str) -> tuple[str, str] | None:
        rows = await self._fetchall(
            "SELECT message_id, data FROM adapter_refs WHERE adapter = ? AND reference = ?",
            (adapter, reference),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    async def recall_by_message(self, adapter: str, message_id: str) -> list[tuple[str, str]]:
        rows = await self._fetchall(
            "SELECT reference, data FROM adapter_refs WHERE adapter = ? AND message_id = ? "
            "ORDER BY at",
            (adapter, message_id),
        )
        return [(r[0], r[1]) for r in rows]

    async def mark_seen(self, participant: str, message_id: str) -> bool:
        """Remember that participant took message_id from its inbox; False if it already had."""
        at = now_iso()

        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO inbox_seen (participant, message_id, at) VALUES (?, ?, ?)",
                (participant, message_id, at),
            )
            return cursor.rowcount == 1

        return await self.write(run)

    async def size_bytes(self) -> int:
        def measure() -> int:
            total = 0
            for suffix in ("", "-wal"):
                with contextlib.suppress(OSError):
                    total += Path(str(self.path) + suffix).stat().st_size
            return total

        return await asyncio.to_thread(measure)

    # ------------------------------------------------------------------ common writes
    async def record(self, message_id: str, state: State | str, detail: str = "") -> None:
        at = now_iso()
        await self.write(lambda c: _record(c, message_id, str(state), detail, at))

    async def record_many(self, events: Iterable[tuple[str, State | str, str]]) -> None:
        items = [(m, str(s), d) for m, s, d in events]
        at = now_iso()

        def run(conn: sqlite3.Connection) -> None:
            for message_id, state, detail in items:
                _record(conn, message_id, state, detail, at)

        await self.write(run)

    # ------------------------------------------------------------------ embedded queues
    async def enqueue(
        self, queue: str, body: bytes, headers: dict[str, str], delay: float = 0
    ) -> int:
        available = time.time() + delay
        payload = json.dumps(headers)
        priority = header_priority(headers) or 0

        def run(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "INSERT INTO queue (queue, body, headers, available_at, priority) "
                "VALUES (?, ?, ?, ?, ?)",
                (queue, body, payload, available, priority),
            )
            return int(cursor.lastrowid or 0)

        return await self.write(run)

    async def claim(self, queue: str, limit: int, lease: float) -> list[QueuedRow]:
        """Lock up to ``limit`` ready messages of ``queue`` for ``lease`` seconds."""
        now = time.time()

        def run(conn: sqlite3.Connection) -> list[QueuedRow]:
            rows = conn.execute(
                "SELECT id, queue, body, headers, deliveries FROM queue "
                "WHERE queue = ? AND available_at <= ? AND locked_until <= ? "
                "ORDER BY priority DESC, id LIMIT ?",
                (queue, now, now, limit),
            ).fetchall()
            if rows:
                conn.executemany(
                    "UPDATE queue SET locked_until = ?, deliveries = deliveries + 1 WHERE id = ?",
                    [(now + lease, r[0]) for r in rows],
                )
            return [QueuedRow(r[0], r[1], r[2], json.loads(r[3]), r[4] + 1) for r in rows]

        return await self.write(run)

    async def settle(self, row_id: int, *, requeue: bool, delay: float = 0) -> None:
        """Ack (delete) or give back a claimed queue row."""
        if requeue:
            available = time.time() + delay
            await self.write(
                lambda c: c.execute(
                    "UPDATE queue SET locked_until = 0, available_at = ? WHERE id = ?",
                    (available, row_id),
                )
            )
        else:
            await self.write(lambda c: c.execute("DELETE FROM queue WHERE id = ?", (row_id,)))

    async def release_locks(self, queue: str) -> int:
        """Give back every claimed message of queue (its only consumer is starting afresh)."""

        def run(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "UPDATE queue SET locked_until = 0 WHERE queue = ? AND locked_until > 0", (queue,)
            )
            return cursor.rowcount

        return await self.write(run)

    async def queue_depth(self, queue: str) -> int:
        rows = await self._fetchall(
            "SELECT COUNT(*) FROM queue WHERE queue = ? AND locked_until <= ? "
            "AND available_at <= ?",
            (queue, time.time(), time.time()),
        )
        return int(rows[0][0])


def _run_batch(
    conn: sqlite3.Connection, batch: list[tuple[WriteFn, asyncio.Future[Any]]]
) -> list[tuple[bool, Any]]:
    """One transaction for the whole batch; a failing write rolls back only itself."""
    results: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, _ in batch:
            conn.execute("SAVEPOINT w")
            try:
                results.append((True, fn(conn)))
                conn.execute("RELEASE w")
            except Exception as exc:
                conn.execute("ROLLBACK TO w")
                conn.execute("RELEASE w")
                results.append((False, exc))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results
