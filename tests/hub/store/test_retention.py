"""Retention: old messages leave the store in small batches with every row they had, never one
in flight, on control or held; the counts by state follow; on SQLite the file shrinks.

Each test runs on both engines (the ``store_spot`` fixture).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from hub.abc import Stage, State
from hub.records import DocumentQuery, Processed, now_iso
from hub.store.base import Store
from tests.hub.store.test_documents import (
    CULTURE,
    FINANCE,
    POLICY,
    TODAY,
    _assign,
    _ingest,
    _notice,
    _register,
    _request,
    _work,
)
from tests.support.stores import StoreSpot

TABLES = (
    "messages", "events", "deliveries", "envelopes", "documents", "registrations",
    "assignments", "inbox_seen",
)  # fmt: skip


def plain(sender: str = FINANCE, recipient: str = CULTURE, size: int = 10) -> Processed:
    message_id = str(uuid.uuid4())
    return Processed(
        message_id=message_id, state=State.ACCEPTED, envelope=b"x" * size, sender=sender,
        recipient=recipient, kind="response", digest=message_id,
    )  # fmt: skip


async def rows_of(store: Store, message_id: str) -> dict[str, int]:
    """How many rows each table has for the message (read straight from the database)."""

    def run(conn: Any) -> dict[str, int]:
        return {
            t: int(
                conn.execute(
                    f"SELECT COUNT(*) FROM {t} WHERE message_id = ?", (message_id,)
                ).fetchone()[0]
            )
            for t in TABLES
        }

    return await store.database.read(run)  # type: ignore[attr-defined]


async def real_counts(store: Store) -> dict[str, int]:
    def run(conn: Any) -> dict[str, int]:
        rows = conn.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    return await store.database.read(run)  # type: ignore[attr-defined]


async def prune_all(store: Store, before: str, limit: int = 100) -> tuple[int, int, int]:
    """Batches until none is left, as ``hub store prune`` runs them: (deleted, kept, batches)."""
    deleted = kept = batches = 0
    after = None
    while True:
        batch = await store.prune_batch(before, after, limit)
        if batch.cursor is None:
            return deleted, kept, batches
        deleted, kept, batches = deleted + batch.deleted, kept + batch.kept, batches + 1
        after = batch.cursor


async def test_old_finished_messages_go_with_all_their_rows_the_rest_stays(
    store_spot: StoreSpot,
) -> None:
    store = await store_spot.open(POLICY)
    try:
        # finished long ago: a delivered and acknowledged message, a registered and executed
        # document, a rejected one
        done = plain()
        document = _request(FINANCE, CULTURE, "О ремонте кровли", "ФУ-1/26")
        on_control = _request(FINANCE, CULTURE, "О графике отпусков", "ФУ-2/26")
        in_flight, held = plain(), plain()
        await _ingest(store, done, document, on_control, in_flight, held)
        await store.record(done.message_id, State.DELIVERED, "internal:dept.culture")
        await store.mark_seen(CULTURE, done.message_id)
        await store.record(done.message_id, State.ACKNOWLEDGED, "taken")
        await store.record(held.message_id, State.DELIVERED, "internal:dept.culture")
        await _register(store, document.message_id, CULTURE, "01-1/1")
        await _assign(store, document.message_id, CULTURE, "Иванова А.А.", _work(5))
        report = _notice(document.message_id, CULTURE, Stage.REPORT_PREPARED, text="готово")
        await _ingest(store, report, _notice(document.message_id, CULTURE, Stage.EXECUTED))
        await _register(store, on_control.message_id, CULTURE, "01-1/2")
        await _assign(store, on_control.message_id, CULTURE, "Орлов О.О.", _work(5))
        assert await store.hold_messages([held.message_id, "no-such-id"], "суд", "admin") == [
            held.message_id
        ]
        cut = now_iso()
        recent = plain()
        await _ingest(store, recent)
        await store.record(recent.message_id, State.DELIVERED, "internal:dept.culture")
        before_rows = await rows_of(store, document.message_id)

        deleted, kept, _ = await prune_all(store, cut, limit=2)

        # gone, with every row they had (the document's registration and assignment too)
        for gone in (done, document):
            assert await store.get_message(gone.message_id) is None
            assert set((await rows_of(store, gone.message_id)).values()) == {0}
        assert before_rows["registrations"] == 1 and before_rows["assignments"] == 1
        # kept: in flight, on control, held, and the recent one; and their rows untouched
        for stays in (on_control, in_flight, held, recent):
            assert await store.get_message(stays.message_id) is not None
            assert (await rows_of(store, stays.message_id))["events"] > 0
        # kept besides: the six execution notices, still on their way (routed)
        assert deleted == 2 and kept == 3 + 6
        # the titles' search forgets the pruned document, not the kept one
        found = await store.search_documents(DocumentQuery(today=TODAY, text="кровли"))
        assert found == []
        kept_found = await store.search_documents(DocumentQuery(today=TODAY, text="отпусков"))
        assert [r.message_id for r in kept_found] == [on_control.message_id]
        # the counts by state follow every insert, move and delete
        await store.fold_counts()
        assert await store.count_by_state() == await real_counts(store)

        # released, the held one goes at the next run; a second run finds nothing more
        assert await store.release_holds([held.message_id]) == [held.message_id]
        assert await store.legal_holds() == []
        assert (await prune_all(store, cut))[0] == 1
        assert (await prune_all(store, cut))[0] == 0
        assert await store.count_by_state() == await real_counts(store)
    finally:
        await store.close()


async def test_holds_are_listed_with_reason_and_who(store_spot: StoreSpot) -> None:
    store = await store_spot.open(POLICY)
    try:
        a, b = plain(), plain()
        await _ingest(store, a, b)
        assert await store.hold_messages([a.message_id], "запрос прокуратуры", "ivanov") == [
            a.message_id
        ]
        assert await store.hold_messages([a.message_id], "again", "petrov") == []  # once
        (hold,) = await store.legal_holds()
        assert (hold.message_id, hold.reason, hold.held_by) == (
            a.message_id, "запрос прокуратуры", "ivanov"
        )  # fmt: skip
        assert await store.release_holds([b.message_id]) == []
    finally:
        await store.close()


async def test_the_counts_by_state_match_the_table_through_a_busy_life(
    store_spot: StoreSpot,
) -> None:
    """Inserts, duplicates, moves back and forth, rejections, deletions: the kept counts are
    the table's own at every step (and folding changes nothing)."""
    store = await store_spot.open(POLICY)
    try:
        items = [plain() for _ in range(30)]
        await _ingest(store, *items[:20])
        await store.record_ingest(items[:5], [None] * 5, [None] * 5)  # duplicates: no change
        for p in items[:10]:
            await store.record(p.message_id, State.DELIVERED, "x")
        for p in items[:4]:
            await store.record(p.message_id, State.ACKNOWLEDGED, "x")
            await store.record(p.message_id, State.NOTE, "a note moves nothing")
        assert await store.count_by_state() == await real_counts(store)
        await store.fold_counts()
        await store.fold_counts()
        assert await store.count_by_state() == await real_counts(store)
        await _ingest(store, *items[20:])
        await prune_all(store, now_iso())
        counts = await store.count_by_state()
        assert counts == await real_counts(store)
        assert counts.get("acknowledged", 0) == 0 and counts.get("delivered", 0) == 0
    finally:
        await store.close()


async def test_a_pruned_sqlite_store_gives_the_space_back(store_spot: StoreSpot) -> None:
    store = await store_spot.open(POLICY)
    try:
        items = [plain(size=8000) for _ in range(600)]
        for n in range(0, len(items), 100):
            await _ingest(store, *items[n : n + 100])
        for p in items:
            await store.record(p.message_id, State.DELIVERED, "x")
        full = await store.size_bytes()
        deleted, _, batches = await prune_all(store, now_iso(), limit=100)
        # all but the one with the newest event (SQLite would reuse its id: sql_retention)
        assert deleted == 599 and batches == 6
        assert sum((await real_counts(store)).values()) == 1
    finally:
        await store.close()
    if store_spot.kind == "sqlite":  # closed: the log is checkpointed into the file
        assert os.path.getsize(store_spot.target) < full / 2  # noqa: ASYNC240
    # PostgreSQL reuses the space (autovacuum) rather than giving it back


async def test_the_archive_proves_the_rest_after_a_prune_and_the_audit_finds_nothing(
    store_spot: StoreSpot, tmp_path: Path
) -> None:
    """Retention removes whole messages; the archive keeps their leaves and records the run,
    so the audit names no tampering and a kept message's proof still holds."""
    from hub.ops.archive import audit, sign_now
    from tests.hub.harness import make_deployment

    deployment = make_deployment(tmp_path / "d")
    config = deployment.config
    store = await store_spot.open(POLICY)
    try:
        old = [plain() for _ in range(5)]
        await _ingest(store, *old)
        for p in old:
            await store.record(p.message_id, State.DELIVERED, "x")
        await sign_now(store, config)
        cut = now_iso()
        await _ingest(store, plain())
        deleted, _, _ = await prune_all(store, cut)
        assert deleted == 5
        await sign_now(store, config)
        report = await audit(store, config)
    finally:
        await store.close()
    assert report.findings == [], report.findings
    assert any("removed by retention" in n for n in report.notes)
