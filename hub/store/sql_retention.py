"""Retention: old messages leave the store in small batches, and legal holds keep named ones.

A batch is one short write transaction (a few hundred messages and their rows in every table),
so the hub's own writes never wait long behind it (a month deleted at once held SQLite's write
lock for 100 s). What goes: messages received before the cut-off whose life in the hub is over
— not in flight (received, routed, retrying, dead-lettered and not yet settled: a delivery
still pending), not a document on control (a deadline, neither executed nor closed), not held.
The batches walk the messages in the order they came, from a cursor, so that the ones kept
are looked at once per run, not again in every batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from hub.records import LegalHold, PruneBatch, now_iso
from hub.store.sql_archive import prune_bodies
from hub.store.sql_database import Database


class RetentionTables:
    """The store's retention and legal holds (SqlStore's; SQLite adds giving pages back)."""

    database: Database

    async def prune_batch(
        self,
        before: str,
        after: tuple[str, str] | None,
        limit: int,
        actor: str = "hub",
        reason: str = "",
    ) -> PruneBatch:
        cut = Cut(before, after, limit, actor, reason)
        return await self.database.write(lambda c: self._prune(c, cut))

    def _prune(self, conn: Any, cut: Cut) -> PruneBatch:
        return prune_batch(conn, *cut)

    async def hold_messages(self, message_ids: Sequence[str], reason: str, by: str) -> list[str]:
        if not message_ids:
            return []
        return await self.database.write(lambda c: hold(c, message_ids, reason, by))

    async def release_holds(self, message_ids: Sequence[str]) -> list[str]:
        return await self.database.write(lambda c: release(c, message_ids))

    async def legal_holds(self) -> list[LegalHold]:
        return await self.database.read(holds)


class Cut(NamedTuple):
    """One retention batch's arguments (``prune_batch``)."""

    before: str
    after: tuple[str, str] | None
    limit: int
    actor: str
    reason: str


# states in which a message's life in the hub is not over
IN_FLIGHT = (
    "received", "accepted", "routed", "delivering", "retry_scheduled", "dead_lettered"
)  # fmt: skip
_LIVE_DELIVERIES = ("pending", "delivering", "retry_scheduled")

# the rows of a message, table by table (the messages row last: its trigger counts it out);
# the archive keeps its leaves and what retention removed (sql_archive.prune_bodies)
_BY_MESSAGE = (
    "events", "deliveries", "envelopes", "submissions", "inbox_seen", "adapter_refs",
    "dead_letters", "assignments", "deadline_changes", "registrations", "blob_refs",
)  # fmt: skip


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def prune_batch(
    conn: sqlite3.Connection,
    before: str,
    after: tuple[str, str] | None,
    limit: int,
    actor: str = "hub",
    reason: str = "",
) -> PruneBatch:
    """Delete up to ``limit`` prunable messages received before ``before``, looking from
    ``after`` (the cursor of the previous batch) on. The archive records the run and each
    envelope's digest first (its leaves stay: every proof still holds)."""
    cursor_clause, params = "", [before]
    if after is not None:
        cursor_clause = " AND received_at >= ? AND (received_at > ? OR message_id > ?)"
        params += [after[0], after[0], after[1]]
    rows = conn.execute(
        "SELECT message_id, received_at, state FROM messages INDEXED BY messages_received "
        f"WHERE received_at < ?{cursor_clause} ORDER BY received_at, message_id LIMIT ?",
        [*params, limit],
    ).fetchall()
    if not rows:
        return PruneBatch(0, 0, None)
    looked = [str(r[0]) for r in rows]
    last = (str(rows[-1][1]), str(rows[-1][0]))
    kept = _kept(conn, looked, {str(r[0]) for r in rows if r[2] in IN_FLIGHT})
    gone = [m for m in looked if m not in kept]
    if gone:
        prune_bodies(conn, gone, actor, reason, now_iso())
        _delete(conn, gone)
    return PruneBatch(len(gone), len(looked) - len(gone), last)


def _kept(conn: Any, ids: list[str], in_flight: set[str]) -> set[str]:
    marks = _marks(ids)
    kept = set(in_flight)
    for sql, params in (
        (f"SELECT message_id FROM legal_holds WHERE message_id IN ({marks})", ids),
        (
            f"SELECT message_id FROM documents WHERE message_id IN ({marks}) "
            "AND deadline IS NOT NULL AND executed_on IS NULL AND closed_on IS NULL",
            ids,
        ),
        (  # the newest event stays: SQLite would hand its id out again, and the archive
            # takes the timeline in by id
            f"SELECT message_id FROM events WHERE id = (SELECT MAX(id) FROM events) "
            f"AND message_id IN ({marks})",
            ids,
        ),
        (
            f"SELECT message_id FROM deliveries WHERE message_id IN ({marks}) "
            f"AND state IN ({_marks(_LIVE_DELIVERIES)})",
            [*ids, *_LIVE_DELIVERIES],
        ),
    ):
        kept.update(str(r[0]) for r in conn.execute(sql, params).fetchall())
    return kept


def _delete(conn: Any, ids: list[str]) -> None:
    marks = _marks(ids)
    if getattr(conn, "dialect", "sqlite") == "sqlite":
        # the titles' index keeps its own row ids (its message_id column is not indexed)
        conn.execute(
            "DELETE FROM document_titles WHERE rowid IN (SELECT title_row FROM documents "
            f"WHERE message_id IN ({marks}) AND title_row IS NOT NULL)",
            ids,
        )
    else:
        conn.execute(f"DELETE FROM document_titles WHERE message_id IN ({marks})", ids)
    for table in _BY_MESSAGE:
        conn.execute(f"DELETE FROM {table} WHERE message_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM documents WHERE message_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM messages WHERE message_id IN ({marks})", ids)


# ------------------------------------------------------------------------------ legal holds
def hold(conn: Any, message_ids: Sequence[str], reason: str, by: str) -> list[str]:
    """Hold messages (those known to the store); the ones newly held."""
    marks = _marks(message_ids)
    known = {
        str(r[0])
        for r in conn.execute(
            f"SELECT message_id FROM messages WHERE message_id IN ({marks})", list(message_ids)
        ).fetchall()
    }
    held = []
    at = now_iso()
    for message_id in dict.fromkeys(message_ids):
        if message_id not in known:
            continue
        cursor = conn.execute(
            "INSERT INTO legal_holds (message_id, reason, held_by, held_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (message_id) DO NOTHING",
            (message_id, reason, by, at),
        )
        if cursor.rowcount:
            held.append(message_id)
    return held


def release(conn: Any, message_ids: Sequence[str]) -> list[str]:
    """Let go of holds; the messages that were held."""
    released = []
    for message_id in dict.fromkeys(message_ids):
        cursor = conn.execute("DELETE FROM legal_holds WHERE message_id = ?", (message_id,))
        if cursor.rowcount:
            released.append(message_id)
    return released


def holds(conn: Any) -> list[LegalHold]:
    rows = conn.execute(
        "SELECT message_id, reason, held_by, held_at FROM legal_holds ORDER BY held_at, message_id"
    ).fetchall()
    return [LegalHold(*r) for r in rows]
