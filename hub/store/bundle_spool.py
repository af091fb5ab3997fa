"""The archive's bundle spool (``hub.archive.spool.Spool``) in a temporary SQLite file: what a
bundle's writer or verifier must hold until the end — each message's events, the members and
their digests, the proof's nodes — kept on disk instead of in memory, so a bundle of any size is
written and checked in bounded memory (docs/archive.md, "Bundles"). Here because SQL lives in
the store's package; it is not the hub's store (a file of its own, gone when closed)."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hub.archive.zipstream import Member


class SqliteSpool:
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
            CREATE TABLE members (name TEXT PRIMARY KEY, method INTEGER, crc INTEGER,
                                  compressed INTEGER, size INTEGER, offset_ INTEGER);
            CREATE TABLE listed (name TEXT PRIMARY KEY, digest TEXT);
            CREATE TABLE pruned (message_id TEXT PRIMARY KEY);
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

    # ---------------------------------------------------------------- the verifier's side
    def member(self, member: Member) -> bool:
        """A member of the bundle read from its central directory; False: a second of that
        name."""
        cursor = self.db.execute(
            "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (member.name, member.method, member.crc, member.compressed, member.size,
             member.offset),
        )  # fmt: skip
        return cursor.rowcount == 1

    def find(self, name: str) -> Member | None:
        row = self.db.execute(
            "SELECT name, method, crc, compressed, size, offset_ FROM members WHERE name = ?",
            (name,),
        ).fetchone()
        return Member(*row) if row else None

    def listed(self, name: str | None, digest: object) -> None:
        """A member and its digest as the manifest lists them."""
        if name is None or not isinstance(digest, str):
            raise ValueError("the manifest's files are not name: digest pairs")
        self.db.execute(
            "INSERT INTO listed VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET digest = "
            "excluded.digest",
            (name, digest),
        )

    def listed_files(self) -> Iterator[tuple[str, str]]:
        yield from self.db.execute("SELECT name, digest FROM listed ORDER BY name")

    def unlisted(self, besides: tuple[str, ...]) -> str | None:
        """The first member the manifest does not list (but for ``besides``)."""
        row = self.db.execute(
            f"SELECT name FROM members WHERE name NOT IN (SELECT name FROM listed) "
            f"AND name NOT IN ({', '.join('?' * len(besides))}) ORDER BY name LIMIT 1",
            besides,
        ).fetchone()
        return str(row[0]) if row else None

    def prune(self, _: str | None, message_id: object) -> None:
        """A message the manifest says retention removed the body of."""
        self.db.execute("INSERT INTO pruned VALUES (?) ON CONFLICT DO NOTHING", (str(message_id),))

    def is_pruned(self, message_id: str) -> bool:
        found = self.db.execute("SELECT 1 FROM pruned WHERE message_id = ?", (message_id,))
        return found.fetchone() is not None

    def pruned(self) -> list[str]:
        return [str(r[0]) for r in self.db.execute("SELECT message_id FROM pruned ORDER BY 1")]

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()
