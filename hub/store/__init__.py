"""The hub's durable record: the ``Store`` interface and its implementations — the only place
with SQL (a test fails on SQL anywhere else).

- ``base.py``: the interface, in methods that say what they are for;
- ``sqlite.py``: SQLite (one file; the embedded default), over ``sqlite_db.py`` (connections,
  migrations, the batching writer), with ``sqlite_timeline.py`` (events) and
  ``sqlite_execution.py`` (documents, resolutions, journals);
- ``schema.py``: the SQLite schema as numbered migrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import HubConfig
from hub.store.base import Store

if TYPE_CHECKING:
    from hub.execution.policy import ExecutionPolicy

__all__ = ["Store", "open_store"]


async def open_store(config: HubConfig | Path) -> Store:
    """The deployment's store, opened (and migrated); a bare path gets default settings."""
    from hub.store.sqlite import SqliteStore  # the one backend so far

    if isinstance(config, Path):
        return await SqliteStore.open(config)

    def policy() -> ExecutionPolicy:  # built when first needed: reading needs none of it
        from hub.execution.policy import ExecutionPolicy

        return ExecutionPolicy.from_config(config.execution, config.departments)

    return await SqliteStore.open(config.database, policy)
