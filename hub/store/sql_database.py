"""What the SQL store needs of an engine (sqlite_db.py, postgres_db.py): batched writes, reads
in one snapshot, single queries. The statements get a connection that takes ``?``
placeholders either way (sqlite3's own, or postgres_db.PgConnection)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Database(Protocol):
    """One database under the store."""

    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run fn in the next batched transaction; return once it is committed."""

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run fn in one read snapshot."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One query's rows."""

    async def close(self) -> None:
        """Finish the writes under way and let go of the connections."""
