"""What a bundle's writer or verifier must hold until the end — each message's events, the
members' digests, the proof's nodes — kept in a temporary SQLite file instead of memory, so a
bundle of any size is written and checked in bounded memory (docs/archive.md, "Bundles")."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path


class Spool:
    """A temporary database on disk, gone when closed."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="hub-bundle-")
        self.db = sqlite3.connect(Path(self._dir.name) / "spool.sqlite", isolation_level=None)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            BEGIN;
            CREATE TABLE events (message_id TEXT NOT NULL, idx INTEGER NOT NULL, data TEXT);
            CREATE TABLE files (name TEXT PRIMARY KEY, digest TEXT NOT NULL, type TEXT);
            CREATE TABLE nodes (n INTEGER PRIMARY KEY, start INTEGER, end_ INTEGER, hash BLOB);
            CREATE TABLE messages (message_id TEXT PRIMARY KEY);
            """
        )

    def event(self, message_id: str, idx: int, data: str) -> None:
        self.db.execute("INSERT INTO events VALUES (?, ?, ?)", (message_id, idx, data))

    def timelines(self) -> Iterator[tuple[str, list[str]]]:
        """Each message's events, by message, in log order."""
        self.db.execute("CREATE INDEX IF NOT EXISTS events_by ON events(message_id, idx)")
        current: str | None = None
        events: list[str] = []
        for message_id, data in self.db.execute(
            "SELECT message_id, data FROM events ORDER BY message_id, idx"
        ):
            if message_id != current:
                if current is not None:
                    yield current, events
                current, events = message_id, []
            events.append(data)
        if current is not None:
            yield current, events

    def message(self, message_id: str) -> int:
        """A message in the bundle: 1 the first time, 0 after."""
        cursor = self.db.execute(
            "INSERT INTO messages VALUES (?) ON CONFLICT DO NOTHING", (message_id,)
        )
        return cursor.rowcount

    def messages(self) -> Iterator[str]:
        for (message_id,) in self.db.execute("SELECT message_id FROM messages ORDER BY 1"):
            yield str(message_id)

    def file(self, name: str, digest: str, media_type: str) -> None:
        self.db.execute("INSERT INTO files VALUES (?, ?, ?)", (name, digest, media_type))

    def files(self) -> Iterator[tuple[str, str, str]]:
        """(name, SHA-256 hex, media type) of every member put, by name."""
        yield from self.db.execute("SELECT name, digest, type FROM files ORDER BY name")

    def node(self, start: int, end: int, value: bytes) -> None:
        self.db.execute(
            "INSERT INTO nodes (start, end_, hash) VALUES (?, ?, ?)", (start, end, value)
        )

    def nodes(self) -> Iterator[tuple[int, int, bytes]]:
        for start, end, value in self.db.execute("SELECT start, end_, hash FROM nodes ORDER BY n"):
            yield int(start), int(end), bytes(value)

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()
