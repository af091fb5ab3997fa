"""An archived deployment on each store engine, and a way to tamper with its rows directly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.config import HubConfig, load_config
from tests.hub.harness import Deployment, make_deployment
from tests.support.stores import StoreSpot


@dataclass
class Archived:
    deployment: Deployment
    spot: StoreSpot

    @property
    def config(self) -> HubConfig:
        return load_config(self.deployment.config_path)

    @property
    def config_path(self) -> str:
        return str(self.deployment.config_path)

    @property
    def hub_cert(self) -> str:
        return str(self.deployment.pki / "hub.main.pem")

    def tamper(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """One statement behind the hub's back (``?`` placeholders); rows it touched."""
        if self.spot.kind == "sqlite":
            import sqlite3

            with sqlite3.connect(self.spot.target) as conn:
                return conn.execute(sql, params).rowcount
        import psycopg

        with psycopg.connect(self.spot.target, autocommit=True) as conn:
            return conn.execute(sql.replace("?", "%s"), params).rowcount  # type: ignore[arg-type]


@pytest.fixture
def archived(
    tmp_path: Path, store_spot: StoreSpot, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Archived]:
    monkeypatch.setenv("HUB_STORE__URL", store_spot.url)
    yield Archived(make_deployment(tmp_path / "deploy"), store_spot)
