"""The timeline, in SQLite: an event, and the message's state moved where the event moves it."""

from __future__ import annotations

import sqlite3

from hub.records import REASON_STATES, TIMELINE_ONLY, next_state
from hub.store.sql_archive import insert_events


def record_event(
    conn: sqlite3.Connection, message_id: str, state: str, detail: str, at: str
) -> None:
    """An event on the timeline, and the message's state moved where the event moves it."""
    insert_events(conn, [(message_id, state, at, detail)])
    if state in TIMELINE_ONLY:
        return
    row = conn.execute("SELECT state FROM messages WHERE message_id = ?", (message_id,)).fetchone()
    if row is None:
        return
    new = next_state(row[0], state)
    if new is None:
        return
    conn.execute(
        "UPDATE messages SET state = ?, updated_at = ?, reason = CASE WHEN ? THEN ? ELSE reason "
        "END WHERE message_id = ?",
        (new, at, new in REASON_STATES, detail, message_id),
    )
