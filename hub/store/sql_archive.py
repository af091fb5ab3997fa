"""The archive's log in SQL, for both engines (docs/archive.md): what a write queues, what the
sequencer integrates, the subtree oracle that proofs are built from, and what retention calls.

A write only inserts its entries' leaves — hashed already — into ``archive_pending``, in its
own transaction: no row every node moves (docs/decisions/0024-archive-sequencer.md). The
sequencer (``integrate``) gives them their numbers, in ``seq`` order among the rows committed
when it looks, and grows the tree: every 16th leaf adds a node at level 4, every 256th one at
level 8, and so on: subtrees are kept every ``STRIDE`` levels, the levels between are hashed
again when a proof needs them (at most 2**(STRIDE-1) = 8 rows a lookup).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from hub.archive import entries
from hub.archive.entries import Entry
from hub.archive.merkle import mth, root_of
from hub.errors import StoreError

STRIDE = 4
FAN = 1 << STRIDE
CHUNK = 20_000  # pending leaves integrated per statement round

_LEAF_COLUMNS = "idx, kind, ref, message_id, at, hash"
_EVENT_COLUMNS = "id, message_id, state, at, detail"


# the entries of the batch a connection is running, inserted at its end in one statement (on
# PostgreSQL a statement per write cost a round trip each: 100 µs an entry)
_batches: dict[int, list[Entry]] = {}


def append(conn: Any, new: Sequence[Entry]) -> None:
    """The entries of this write, queued for the sequencer in the write's own transaction
    (a write that fails takes them with it: see ``mark`` and ``undo``)."""
    batch = _batches.get(id(conn))
    if batch is not None:
        batch.extend(new)
    elif new:
        _insert_pending(conn, new)


def begin(conn: Any) -> None:
    """A batch starts on ``conn``: its writes' entries wait for ``flush``."""
    _batches[id(conn)] = []


def mark(conn: Any) -> int:
    """Where the batch's entries stand before a write (its savepoint)."""
    return len(_batches.get(id(conn), ()))


def undo(conn: Any, at: int) -> None:
    """A write rolled back to its savepoint: its entries go too."""
    del _batches.get(id(conn), [])[at:]


def flush(conn: Any) -> None:
    """The batch's entries into ``archive_pending``, before its commit (and when the batch
    failed, dropped: ``discard``)."""
    batch = _batches.pop(id(conn), None)
    if batch:
        _insert_pending(conn, batch)


def discard(conn: Any) -> None:
    _batches.pop(id(conn), None)


def _insert_pending(conn: Any, new: Sequence[Entry]) -> None:
    conn.executemany(
        "INSERT INTO archive_pending (kind, ref, message_id, at, hash) VALUES (?, ?, ?, ?, ?)",
        [(e.kind, e.ref, e.message_id, e.at, e.leaf) for e in new],
    )


def insert_events(conn: Any, rows: Sequence[tuple[str, str, str, str]]) -> None:
    """Timeline events (message id, state, at, detail) written and queued for the log: each
    entry is made from the row as the database returns it (its number included)."""
    if not rows:
        return
    values = ", ".join(["(?, ?, ?, ?)"] * len(rows))
    written = conn.execute(
        f"INSERT INTO events (message_id, state, at, detail) VALUES {values} "
        f"RETURNING {_EVENT_COLUMNS}",
        [v for row in rows for v in row],
    ).fetchall()
    append(conn, [entries.event(int(r[0]), r[1], r[2], r[3], r[4]) for r in written])


def insert_audit(conn: Any, row: tuple[str, str, str, str, str, str, str]) -> None:
    """An administrator's action (at, actor, role, action, target, reason, detail) written
    and queued for the log."""
    written = conn.execute(
        "INSERT INTO audit_log (at, actor, role, action, target, reason, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id, at, actor, role, action, target, reason, detail",
        row,
    ).fetchone()
    append(conn, [entries.admin(int(written[0]), *written[1:])])


def emit(
    conn: Any, kind: str, ref: str, message_id: str, recipient: str, state: str, at: str,
    body: bytes,
) -> None:  # fmt: skip
    """A signed receipt or notice the hub sends (``ref``: its MessageId), on record by its
    bytes' digest and queued for the log (each sending an entry: the hub signs anew each time,
    so the bytes differ)."""
    digest, size = hashlib.sha256(body).hexdigest(), len(body)
    row = conn.execute(
        "INSERT INTO archive_emitted (kind, ref, message_id, recipient, state, at, sha256, size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (kind, ref, message_id, recipient, state, at, digest, size),
    ).fetchone()
    entry = entries.emitted(kind, int(row[0]), ref, message_id, recipient, state, at, digest, size)
    append(conn, [entry])


def integrate(conn: Any, limit: int | None = None) -> int:
    """The sequencer's step, in a transaction of its own (READ COMMITTED on PostgreSQL): the
    pending leaves committed by now take the next numbers, in ``seq`` order, and leave the
    queue (the first ``limit`` of them, if given). A leaf committed later with a lower ``seq``
    is taken by the next step: it is never skipped, it is numbered later. Returns how many
    were integrated."""
    # moving the row first: a second sequencer (a lease handed over) waits here, then sees
    # what this one did
    row = conn.execute(
        "UPDATE archive_state SET size = size WHERE id = 0 RETURNING size"
    ).fetchone()
    if row is None:
        return 0
    size = start = int(row[0])
    while True:
        take = CHUNK if limit is None else min(CHUNK, start + limit - size)
        if take <= 0:
            break
        pending = conn.execute(
            f"SELECT seq, kind, ref, message_id, at, hash FROM archive_pending "
            f"ORDER BY seq LIMIT {take}"
        ).fetchall()
        if not pending:
            break
        conn.executemany(
            f"INSERT INTO archive_leaves ({_LEAF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            [(size + i, r[1], r[2], r[3], r[4], bytes(r[5])) for i, r in enumerate(pending)],
        )
        seqs = [int(r[0]) for r in pending]
        for lo in range(0, len(seqs), 500):
            part = seqs[lo : lo + 500]
            conn.execute(
                f"DELETE FROM archive_pending WHERE seq IN ({', '.join('?' * len(part))})", part
            )
        _grow(conn, size, size + len(pending))
        size += len(pending)
        if len(pending) < take:
            break
    if size != start:
        conn.execute("UPDATE archive_state SET size = ? WHERE id = 0", (size,))
    return size - start


def place(conn: Any, size: int, new: Sequence[Entry]) -> None:
    """Leaves numbered ``size`` on, with their subtrees, straight into the tree (the bench's
    synthetic logs; the hub's writes go through ``append`` and ``integrate``)."""
    conn.executemany(
        f"INSERT INTO archive_leaves ({_LEAF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        [(size + i, e.kind, e.ref, e.message_id, e.at, e.leaf) for i, e in enumerate(new)],
    )
    _grow(conn, size, size + len(new))
    conn.execute("UPDATE archive_state SET size = ? WHERE id = 0", (size + len(new),))


def _grow(conn: Any, lo: int, hi: int) -> None:
    """The stored subtrees completed by leaves [lo, hi)."""
    level = 0
    while True:
        first, last = lo // FAN, hi // FAN  # parents [first, last) are complete now
        if first >= last:
            return
        children = level_range(conn, level, first * FAN, last * FAN)
        conn.executemany(
            "INSERT INTO archive_nodes (level, idx, hash) VALUES (?, ?, ?)",
            [
                (level + STRIDE, first + p, root_of(children[p * FAN : (p + 1) * FAN]))
                for p in range(last - first)
            ],
        )
        lo, hi, level = first, last, level + STRIDE


def level_range(conn: Any, level: int, start: int, end: int) -> list[bytes]:
    """The hashes of subtrees ``start..end-1`` at a stored level (0: the leaves)."""
    if level == 0:
        rows = conn.execute(
            "SELECT hash FROM archive_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, end),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT hash FROM archive_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
            (level, start, end),
        ).fetchall()
    if len(rows) != end - start:
        raise StoreError(
            f"the archive lacks rows at level {level} between {start} and {end}: "
            "run `hub archive audit`"
        )
    return [bytes(r[0]) for r in rows]


def oracle(conn: Any) -> Callable[[int, int], bytes]:
    """MTH of a complete aligned range, from the nearest stored level at or below it."""
    cache: dict[tuple[int, int], bytes] = {}

    def subtree(start: int, end: int) -> bytes:
        found = cache.get((start, end))
        if found is None:
            height = (end - start).bit_length() - 1
            base = height - height % STRIDE
            first = start >> base
            found = root_of(level_range(conn, base, first, first + (1 << (height - base))))
            cache[(start, end)] = found
        return found

    return subtree


def size(conn: Any) -> int:
    """Leaves integrated (pending ones are not numbered yet)."""
    row = conn.execute("SELECT size FROM archive_state WHERE id = 0").fetchone()
    return int(row[0]) if row else 0


def root(conn: Any, tree_size: int) -> bytes:
    return mth(oracle(conn), 0, tree_size)


def prune_bodies(
    conn: Any, message_ids: Sequence[str], actor: str, reason: str, at: str
) -> list[str]:
    """What retention calls, inside its own write: the envelopes' bytes of ``message_ids``
    deleted, their leaves (and every other row) kept, the run put on record and in the log.
    The caller leaves out messages under legal hold. Returns the ids whose bodies went."""
    bodies = {
        m: bytes(row[0])
        for m in message_ids
        if (row := conn.execute("SELECT body FROM envelopes WHERE message_id = ?", (m,)).fetchone())
    }
    present = list(bodies)
    if not present:
        return []
    row = conn.execute("SELECT COALESCE(MAX(run), 0) + 1 FROM archive_prunes").fetchone()
    run = int(row[0])
    conn.execute(
        "INSERT INTO archive_prunes (run, at, actor, reason) VALUES (?, ?, ?, ?)",
        (run, at, actor, reason),
    )
    conn.executemany(
        "INSERT INTO archive_pruned (message_id, run, sha256, size) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (message_id) DO NOTHING",
        [(m, run, hashlib.sha256(b).hexdigest(), len(b)) for m, b in bodies.items()],
    )
    conn.executemany("DELETE FROM envelopes WHERE message_id = ?", [(m,) for m in present])
    append(conn, [entries.prune(run, at, actor, reason, present)])
    return present
