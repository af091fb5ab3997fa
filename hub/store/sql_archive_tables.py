"""The archive's side of the store (a mixin of ``SqlStore``): proofs, heads, the rows that
leaves stand for (recomputed for audits and bundles), and retention of bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hub.archive import entries
from hub.archive.entries import Leaf, Source
from hub.archive.heads import PrivateKey, SignedHead, sign_head
from hub.archive.merkle import consistency_proof, cover, inclusion_proof
from hub.records import now_iso
from hub.store import sql_archive as log

if TYPE_CHECKING:
    from hub.store.sql_database import Database

_LEAF = "SELECT idx, kind, ref, message_id, at, hash FROM archive_leaves"
_HEAD = "SELECT size, root, at, signed, signature FROM archive_heads"


def _leaf(row: Sequence[Any]) -> Leaf:
    return Leaf(int(row[0]), row[1], row[2], row[3], row[4], bytes(row[5]))


def _head(row: Sequence[Any]) -> SignedHead:
    return SignedHead(int(row[0]), bytes(row[1]), row[2], bytes(row[3]), bytes(row[4]))


class ArchiveTables:
    """The log's size, roots and proofs; signed heads; sources; retention."""

    database: Database

    async def archive_size(self) -> int:
        return await self.database.read(log.size)

    async def archive_integrate(self, limit: int | None = None) -> int:
        """The sequencer's step: the pending leaves (the first ``limit``) numbered and in the
        tree; how many."""
        return await self.database.write_alone(lambda c: log.integrate(c, limit))

    async def archive_pending(self) -> list[Leaf]:
        """The leaves written but not integrated yet, in ``seq`` order (``idx`` is the seq)."""
        rows = await self.database.fetchall(
            "SELECT seq, kind, ref, message_id, at, hash FROM archive_pending ORDER BY seq"
        )
        return [_leaf(r) for r in rows]

    async def archive_emitted(
        self, kind: str, ref: str, message_id: str, recipient: str, state: str, body: bytes
    ) -> None:
        """A signed receipt or notice the hub sends, put on record by its digest."""
        at = now_iso()
        await self.database.write(
            lambda c: log.emit(c, kind, ref, message_id, recipient, state, at, body)
        )

    async def archive_root(self, size: int) -> bytes:
        return await self.database.read(lambda c: log.root(c, size))

    async def archive_inclusion(self, index: int, size: int) -> tuple[Leaf, list[bytes]]:
        def run(conn: Any) -> tuple[Leaf, list[bytes]]:
            row = conn.execute(f"{_LEAF} WHERE idx = ?", (index,)).fetchone()
            if row is None:
                raise KeyError(index)
            return _leaf(row), inclusion_proof(log.oracle(conn), index, size)

        return await self.database.read(run)

    async def archive_consistency(self, old: int, new: int) -> list[bytes]:
        return await self.database.read(lambda c: consistency_proof(log.oracle(c), old, new))

    async def archive_cover(
        self, gaps: Sequence[tuple[int, int]], size: int
    ) -> list[tuple[int, int, bytes]]:
        """The batch proof's nodes for these gaps between entries, in order (a bundle's proof,
        computed as its entries stream past: merkle.cover)."""
        wanted = list(gaps)
        return await self.database.read(
            lambda c: [n for lo, hi in wanted for n in cover(log.oracle(c), lo, hi, size)]
        )

    async def archive_leaves(self, start: int, end: int) -> list[Leaf]:
        rows = await self.database.fetchall(
            f"{_LEAF} WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [_leaf(r) for r in rows]

    async def archive_leaves_of(self, message_ids: Sequence[str]) -> list[Leaf]:
        found: list[Leaf] = []
        for m in message_ids:
            rows = await self.database.fetchall(f"{_LEAF} WHERE message_id = ? ORDER BY idx", (m,))
            found += [_leaf(r) for r in rows]
        return sorted(found, key=lambda leaf: leaf.idx)

    async def archive_span(self, since: str | None, until: str | None) -> tuple[int, int] | None:
        """The first and last numbers of the leaves appended in [since, until) (ISO times;
        None: open), or None. Times grow with numbers but for batches a commit apart."""
        rows = await self.database.fetchall(
            "SELECT MIN(idx), MAX(idx) FROM archive_leaves WHERE at >= ? AND at < ?",
            (since or "", until or "\uffff"),
        )
        first, last = rows[0]
        return None if first is None else (int(first), int(last))

    async def add_head(self, head: SignedHead) -> None:
        await self.database.write(
            lambda c: c.execute(
                "INSERT INTO archive_heads (size, root, at, signed, signature) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
                (head.size, head.root, head.at, head.signed, head.signature),
            )
        )

    async def sign_head(self, key: PrivateKey, at: str) -> SignedHead:
        """The pending leaves integrated, then a head over the whole log signed and kept, in
        one transaction of the sequencer's (the latest again when nothing was appended)."""

        def run(conn: Any) -> SignedHead:
            log.integrate(conn)  # the sequencer signs what it integrated, in one transaction
            size = log.size(conn)
            row = conn.execute(f"{_HEAD} ORDER BY size DESC LIMIT 1").fetchone()
            if row is not None and int(row[0]) == size:
                return _head(row)
            head = sign_head(key, size, log.root(conn, size), at)
            conn.execute(
                "INSERT INTO archive_heads (size, root, at, signed, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                (head.size, head.root, head.at, head.signed, head.signature),
            )
            return head

        return await self.database.write_alone(run)

    async def heads(self) -> list[SignedHead]:
        return [_head(r) for r in await self.database.fetchall(f"{_HEAD} ORDER BY size")]

    async def head(self, size: int | None = None) -> SignedHead | None:
        """The head of that size, or the latest."""
        if size is None:
            rows = await self.database.fetchall(f"{_HEAD} ORDER BY size DESC LIMIT 1")
        else:
            rows = await self.database.fetchall(f"{_HEAD} WHERE size = ?", (size,))
        return _head(rows[0]) if rows else None

    async def archive_sources(self, leaves: Sequence[Leaf], bodies: bool = True) -> list[Source]:
        """Each leaf's entry as the store's rows say it now."""
        return await self.database.read(lambda c: [_source(c, leaf, bodies) for leaf in leaves])

    async def archive_start(self) -> tuple[int, int]:
        """Where the log starts: the last timeline and audit-log rows that came before it."""
        rows = await self.database.fetchall(
            "SELECT events_seen, audit_seen FROM archive_state WHERE id = 0"
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    async def archive_rows(self, kind: str, after: int, limit: int) -> list[int]:
        """The ids of the timeline's (``event``), audit log's (``admin``) or sent receipts' and
        notices' (``receipt``) rows after ``after``, in order, up to ``limit``."""
        table = _TABLES[kind]
        rows = await self.database.fetchall(
            f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        )
        return [int(r[0]) for r in rows]

    async def prune_bodies(self, message_ids: Sequence[str], actor: str, reason: str) -> list[str]:
        """Retention's call (issue 18): the bodies go, the leaves and timelines stay."""
        at = now_iso()
        ids = list(message_ids)
        return await self.database.write(lambda c: log.prune_bodies(c, ids, actor, reason, at))


_TABLES = {entries.EVENT: "events", entries.ADMIN: "audit_log", entries.RECEIPT: "archive_emitted"}


def _source(conn: Any, leaf: Leaf, bodies: bool) -> Source:
    if leaf.kind == entries.ENVELOPE:
        row = conn.execute(
            "SELECT m.received_at, e.body FROM messages m LEFT JOIN envelopes e "
            "ON e.message_id = m.message_id WHERE m.message_id = ?",
            (leaf.ref,),
        ).fetchone()
        if row is not None and row[1] is not None:
            body = bytes(row[1])
            return Source(leaf, entries.envelope(leaf.ref, row[0], body).data, body)
        pruned = conn.execute(
            "SELECT p.sha256, p.size, r.at FROM archive_pruned p JOIN archive_prunes r "
            "ON r.run = p.run WHERE p.message_id = ?",
            (leaf.ref,),
        ).fetchone()
        if row is not None and pruned is not None:
            entry = entries.envelope_digest(leaf.ref, row[0], pruned[0], int(pruned[1]))
            return Source(leaf, entry.data, None, f"body removed by retention on {pruned[2]}")
        if pruned is not None:  # the whole message went (hub store prune): its digest stays
            entry = entries.envelope_digest(leaf.ref, leaf.at, pruned[0], int(pruned[1]))
            return Source(leaf, entry.data, None, f"message removed by retention on {pruned[2]}")
        return Source(leaf, None, None, "the message's row is gone" if row is None else
                      "the envelope's bytes are gone")  # fmt: skip
    if leaf.kind == entries.EVENT:
        row = conn.execute(
            "SELECT id, message_id, state, at, detail FROM events WHERE id = ?", (int(leaf.ref),)
        ).fetchone()
        if row is None and leaf.message_id is not None:
            gone = _pruned_at(conn, leaf.message_id)
            if gone is not None:
                return Source(leaf, None, None, f"removed by retention on {gone}", removed=True)
        return Source(leaf, entries.event(int(row[0]), *row[1:]).data if row else None)
    if leaf.kind == entries.ADMIN:
        row = conn.execute(
            "SELECT id, at, actor, role, action, target, reason, detail FROM audit_log "
            "WHERE id = ?",
            (int(leaf.ref),),
        ).fetchone()
        return Source(leaf, entries.admin(int(row[0]), *row[1:]).data if row else None)
    if leaf.kind == entries.PRUNE:
        run = conn.execute(
            "SELECT run, at, actor, reason FROM archive_prunes WHERE run = ?", (int(leaf.ref),)
        ).fetchone()
        if run is None:
            return Source(leaf, None)
        ids = [r[0] for r in conn.execute(
            "SELECT message_id FROM archive_pruned WHERE run = ?", (run[0],)
        ).fetchall()]  # fmt: skip
        return Source(leaf, entries.prune(int(run[0]), run[1], run[2], run[3], ids).data)
    if leaf.kind == entries.RULES:
        row = conn.execute(
            "SELECT applied_at, summary FROM rules_versions WHERE version = ?", (leaf.ref,)
        ).fetchone()
        return Source(leaf, entries.rules(leaf.ref, row[0], row[1]).data if row else None)
    if leaf.kind in entries.EMITTED:
        row = conn.execute(
            "SELECT id, ref, message_id, recipient, state, at, sha256, size "
            "FROM archive_emitted WHERE id = ? AND kind = ?",
            (int(leaf.ref), leaf.kind),
        ).fetchone()
        if row is None:
            return Source(leaf, None)
        entry = entries.emitted(
            leaf.kind, int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], int(row[7])
        )
        return Source(leaf, entry.data)
    return Source(leaf, None, None, f"unknown kind {leaf.kind!r}")


def _pruned_at(conn: Any, message_id: str) -> str | None:
    """When retention removed the message, if a run the log records did."""
    row = conn.execute(
        "SELECT r.at FROM archive_pruned p JOIN archive_prunes r ON r.run = p.run "
        "WHERE p.message_id = ?",
        (message_id,),
    ).fetchone()
    return str(row[0]) if row else None
