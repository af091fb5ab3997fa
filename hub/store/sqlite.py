"""The store on SQLite: one file, nothing to install (the embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.records import PruneBatch
from hub.store.sql import SqlStore
from hub.store.sql_retention import Cut
from hub.store.sqlite_db import SqliteDatabase

if TYPE_CHECKING:
    from hub.execution.policy import ExecutionPolicy


class SqliteStore(SqlStore):
    """The hub's SQLite file, written by one batching writer."""

    dialect = "sqlite"

    def __init__(
        self,
        database: SqliteDatabase,
        policy: ExecutionPolicy | Callable[[], ExecutionPolicy] | None = None,
    ) -> None:
        super().__init__(database, policy)
        self.path = database.path

    @classmethod
    async def open(
        cls, path: Path, policy: ExecutionPolicy | Callable[[], ExecutionPolicy] | None = None
    ) -> SqliteStore:
        return cls(await SqliteDatabase.open(path), policy)

    def _prune(self, conn: Any, cut: Cut) -> PruneBatch:
        batch = super()._prune(conn, cut)
        if batch.deleted:  # the pages freed go back to the file system (new stores: see open)
            # sqlite3 steps a statement without rows once: a page per call
            (free,) = conn.execute("PRAGMA freelist_count").fetchone()
            for _ in range(free):
                conn.execute("PRAGMA incremental_vacuum")
        return batch

    async def size_bytes(self) -> int:
        def measure() -> int:
            total = 0
            for suffix in ("", "-wal"):
                with contextlib.suppress(OSError):
                    total += Path(str(self.path) + suffix).stat().st_size
            return total

        return await asyncio.to_thread(measure)
