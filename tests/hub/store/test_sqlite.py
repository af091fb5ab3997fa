"""The store: migrations carry an older database forward without losing an envelope."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.store.schema import MIGRATIONS
from hub.store.sqlite import SqliteStore as Store


def old_database(path: Path, version: int) -> None:
    """A database as a hub at schema ``version`` left it, with one stored message."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        conn.executescript(script)
        conn.execute("INSERT INTO schema_version VALUES (?)", (number,))
    conn.execute(
        "INSERT INTO messages (message_id, digest, sender, recipient, message_type, kind, state, "
        "received_at, updated_at, envelope) VALUES ('m-1', 'd', 'dept.a', 'dept.b', 't', "
        "'request', 'delivered', '2026-01-01', '2026-01-01', ?)",
        (b"<Envelope>old</Envelope>",),
    )
    conn.close()


async def test_envelopes_of_a_schema_4_database_move_to_their_own_table(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    old_database(path, 4)
    store = await Store.open(path)
    try:
        message = await store.get_message("m-1")
        assert message is not None
        assert message.envelope == b"<Envelope>old</Envelope>"
        assert message.state == "delivered"
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_version")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
        (inline,) = conn.execute(
            "SELECT envelope FROM messages WHERE message_id = 'm-1'"
        ).fetchone()
        assert inline is None  # moved, not copied
    finally:
        conn.close()


async def test_queued_rows_of_a_schema_5_database_get_the_default_priority(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.sqlite"
    old_database(path, 5)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "INSERT INTO queue (queue, body, headers, available_at) VALUES ('q', x'00', '{}', 0)"
    )
    conn.close()
    store = await Store.open(path)
    try:
        (row,) = await store.claim("q", 10, 5.0)
        assert row.body == b"\x00"
        await store.enqueue("q", b"urgent", {"priority": "9"})
        await store.settle(row.id, requeue=True)
        assert [r.body for r in await store.claim("q", 10, 5.0)] == [b"urgent", b"\x00"]
    finally:
        await store.close()


async def test_a_fresh_store_keeps_envelopes_apart_from_message_rows(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "hub.sqlite")
    try:

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO messages (message_id, state, received_at, updated_at) "
                "VALUES ('m-2', 'received', 'now', 'now')"
            )
            conn.execute("INSERT INTO envelopes (message_id, body) VALUES ('m-2', x'3c612f3e')")

        await store._write(insert)
        message = await store.get_message("m-2")
        assert message is not None and message.envelope == b"<a/>"
        assert await store.get_message("m-3") is None
    finally:
        await store.close()


async def test_a_schema_13_archive_gets_its_sequencer_and_keeps_its_leaves(
    tmp_path: Path,
) -> None:
    from hub.archive import entries

    path = tmp_path / "hub.sqlite"
    old_database(path, 12)
    conn = sqlite3.connect(path, isolation_level=None)
    for n in (1, 2):  # timeline rows from before the archive
        conn.execute(
            "INSERT INTO events (message_id, state, at, detail) VALUES ('m-1', 'note', 'x', ?)",
            (f"old {n}",),
        )
    conn.executescript(MIGRATIONS[12])  # 13: the archive; then a batch logged event 3
    conn.execute("INSERT INTO schema_version VALUES (13)")
    conn.execute(
        "INSERT INTO events (message_id, state, at, detail) VALUES ('m-1', 'note', 'y', 'new')"
    )
    leaf = entries.event(3, "m-1", "note", "y", "new")
    conn.execute(
        "INSERT INTO archive_leaves (idx, kind, ref, message_id, at, hash) "
        "VALUES (0, ?, ?, ?, ?, ?)",
        (leaf.kind, leaf.ref, leaf.message_id, leaf.at, leaf.leaf),
    )
    conn.execute("UPDATE archive_state SET size = 1, events_seen = 3")
    conn.close()
    store = await Store.open(path)
    try:
        # the log starts after row 2 (not after 3, where the old cursor stood)
        assert await store.archive_start() == (2, 0)
        await store.record("m-1", "note", "after the migration")
        assert [x.kind for x in await store.archive_pending()] == ["event"]
        assert await store.archive_integrate() == 1
        leaves = await store.archive_leaves(0, await store.archive_size())
        assert [x.ref for x in leaves] == ["3", "4"]
        assert await store.archive_rows("event", 2, 10) == [3, 4]  # both logged: none unlogged
    finally:
        await store.close()
