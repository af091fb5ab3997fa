"""Where a test's store lives, on each backend: the same test bodies on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hub.store import Store, open_store

if TYPE_CHECKING:
    from hub.execution.policy import ExecutionPolicy

# the store backends every store test and pipeline test runs on
STORE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@dataclass(frozen=True)
class StoreSpot:
    """An empty store's place: a file, or a schema of the run's PostgreSQL database."""

    kind: str  # sqlite | postgresql
    target: str  # the file's path or the URL (what a subprocess is given)

    async def open(
        self, policy: ExecutionPolicy | Callable[[], ExecutionPolicy] | None = None
    ) -> Store:
        if self.kind == "postgresql":
            from hub.store.postgres import PostgresStore

            return await PostgresStore.open(self.target, policy)
        from hub.store.sqlite import SqliteStore

        if policy is None:
            return await open_store(Path(self.target))
        return await SqliteStore.open(Path(self.target), policy)

    @property
    def url(self) -> str:
        """As hub.toml's ``[store] url`` says it."""
        return self.target if self.kind == "postgresql" else f"sqlite:///{self.target}"
