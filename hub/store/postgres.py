"""The store on PostgreSQL: several hub nodes on one database (docs/deployment.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hub.store.postgres_db import PgDatabase
from hub.store.sql import SqlStore

if TYPE_CHECKING:
    from hub.execution.policy import ExecutionPolicy


class PostgresStore(SqlStore):
    """The hub's PostgreSQL database (a pool per node, SERIALIZABLE batched writes)."""

    dialect = "postgresql"

    def __init__(
        self,
        database: PgDatabase,
        policy: ExecutionPolicy | Callable[[], ExecutionPolicy] | None = None,
    ) -> None:
        super().__init__(database, policy)
        self.url = database.url

    @classmethod
    async def open(
        cls,
        url: str,
        policy: ExecutionPolicy | Callable[[], ExecutionPolicy] | None = None,
        *,
        pool_size: int = 10,
    ) -> PostgresStore:
        return cls(await PgDatabase.open(url, pool_size=pool_size), policy)

    async def fold_counts(self) -> None:
        # one statement, READ COMMITTED: two nodes folding at once each move other rows
        await self.database.fetchall(
            "WITH moved AS (DELETE FROM state_deltas RETURNING state, delta), "
            "folded AS (INSERT INTO state_counts (state, n) "
            "SELECT state, SUM(delta) FROM moved GROUP BY state "
            "ON CONFLICT (state) DO UPDATE SET n = state_counts.n + excluded.n RETURNING state) "
            "SELECT COUNT(*) FROM folded"
        )

    async def size_bytes(self) -> int:
        rows = await self.database.fetchall("SELECT pg_database_size(current_database())")
        return int(rows[0][0])
