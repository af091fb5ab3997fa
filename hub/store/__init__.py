"""The hub's durable record: the ``Store`` interface and its implementations — the only place
with SQL (a test fails on SQL anywhere else).

- ``base.py``: the interface, in methods that say what they are for;
- ``sqlite.py``: SQLite (one file; the embedded default), over ``sqlite_db.py`` (connections,
  migrations, the batching writer), with ``sql_timeline.py`` (events) and
  ``sql_execution.py`` (documents, resolutions, journals);
- ``schema.py``: the SQLite schema as numbered migrations;
- ``sql_nodes.py``: the nodes sharing the store — heartbeats, leases, rules reload requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import HubConfig
from hub.store.base import Store

if TYPE_CHECKING:
    from hub.execution.policy import ExecutionPolicy

__all__ = ["Store", "open_store"]


async def open_store(config: HubConfig | Path | str) -> Store:
    """The deployment's store, opened (and migrated): by hub.toml's ``[store]``, or at a path
    or URL (with default settings)."""
    url = config if isinstance(config, str) else ""
    if url.startswith(("postgresql://", "postgres://")):
        from hub.store.postgres import PostgresStore

        return await PostgresStore.open(url)
    if isinstance(config, (str, Path)):
        from hub.store.sqlite import SqliteStore

        return await SqliteStore.open(Path(config))

    def policy() -> ExecutionPolicy:  # built when first needed: reading needs none of it
        from hub.execution.policy import ExecutionPolicy

        return ExecutionPolicy.from_config(config.execution, config.departments)

    if config.postgres:
        from hub.store.postgres import PostgresStore

        return await PostgresStore.open(config.store.url, policy, pool_size=config.store.pool_size)
    from hub.store.sqlite import SqliteStore

    return await SqliteStore.open(config.database, policy)
