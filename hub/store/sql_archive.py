"""The archive's log in SQL, for both engines (docs/archive.md): appending in the writer's own
transaction, the subtree oracle that proofs are built from, and what retention calls.

Appending costs per entry one hash (done by ``hub.archive.entries``) and one row; every 16th
leaf adds a node at level 4, every 256th one at level 8, and so on: subtrees are kept every
``STRIDE`` levels, the levels between are hashed again when a proof needs them (at most
2**(STRIDE-1) = 8 rows a lookup).
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

_LEAF_COLUMNS = "idx, kind, ref, message_id, at, hash"


def capture(conn: Any) -> int:
    """At the end of every write batch, inside its transaction: the timeline events and audit
    entries the batch wrote, appended to the log. Returns how many."""
    state = conn.execute(
        "SELECT size, events_seen, audit_seen FROM archive_state WHERE id = 0"
    ).fetchone()
    if state is None:
        return 0
    size, events_seen, audit_seen = state
    new: list[Entry] = [
        entries.event(int(r[0]), r[1], r[2], r[3], r[4])
        for r in conn.execute(
            "SELECT id, message_id, state, at, detail FROM events WHERE id > ? ORDER BY id",
            (events_seen,),
        ).fetchall()
    ]
    last_event = int(new[-1].ref) if new else events_seen
    actions = conn.execute(
        "SELECT id, at, actor, role, action, target, reason, detail FROM audit_log "
        "WHERE id > ? ORDER BY id",
        (audit_seen,),
    ).fetchall()
    new += [entries.admin(int(r[0]), *r[1:]) for r in actions]
    if not new:
        return 0
    last_audit = int(actions[-1][0]) if actions else audit_seen
    _append(conn, size, new, last_event, last_audit)
    return len(new)


def append(conn: Any, new: Sequence[Entry]) -> None:
    """Entries that no table's new rows say (envelopes, retention runs), appended now."""
    if not new:
        return
    size, events_seen, audit_seen = conn.execute(
        "SELECT size, events_seen, audit_seen FROM archive_state WHERE id = 0"
    ).fetchone()
    _append(conn, size, new, events_seen, audit_seen)


def _append(conn: Any, size: int, new: Sequence[Entry], events_seen: int, audit_seen: int) -> None:
    end = size + len(new)
    updated = conn.execute(
        "UPDATE archive_state SET size = ?, events_seen = ?, audit_seen = ? "
        "WHERE id = 0 AND size = ?",
        (end, events_seen, audit_seen, size),
    )
    if updated.rowcount != 1:
        raise StoreError("the archive's size moved under this transaction")
    conn.executemany(
        f"INSERT INTO archive_leaves ({_LEAF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        [(size + i, e.kind, e.ref, e.message_id, e.at, e.leaf) for i, e in enumerate(new)],
    )
    _grow(conn, size, end)


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
