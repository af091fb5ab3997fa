"""The hub's durable record: the ``Store`` interface and its implementations — the only place
with SQL (a test fails on SQL anywhere else).

- ``base.py``: the interface, in methods that say what they are for;
- ``sqlite.py``: SQLite (one file, one batching writer; the embedded default);
- ``schema.py``: the SQLite schema as numbered migrations.
"""

from __future__ import annotations

from pathlib import Path

from hub.config import HubConfig
from hub.store.base import Store

__all__ = ["Store", "open_store"]


async def open_store(config: HubConfig | Path) -> Store:
    """The deployment's store, opened (and migrated)."""
    from hub.store.sqlite import SqliteStore  # the one backend so far

    path = config if isinstance(config, Path) else config.database
    return await SqliteStore.open(path)
