"""PostgreSQL for the tests: one database per test run (made on first use, dropped at the end),
one schema per test in it (fast to make and to drop), the URL that puts a store in it.

PostgreSQL on 127.0.0.1:5432 (user postgres, trust) is on every machine here; a laptop without
it skips the PostgreSQL variants, CI fails them. The restart test stops and starts the server
with ``HUB_TEST_POSTGRES_CTL`` (``pg_ctlcluster --skip-systemctl-redirect 15 main`` by default;
``stop`` and ``start`` are appended), and makes sure it is up again afterwards.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import socket
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SERVER = os.environ.get("HUB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
CONTROL = shlex.split(
    os.environ.get("HUB_TEST_POSTGRES_CTL", "pg_ctlcluster --skip-systemctl-redirect 15 main")
)
_database: str | None = None


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL on a laptop; in CI a missing server is a failure."""
    if postgres_available():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432, and CI requires it")
    pytest.skip("no PostgreSQL on 127.0.0.1:5432")


def _admin(sql: str, database: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        conn.execute(sql.encode())


def run_database() -> str:
    """This test run's database (made on first use, dropped when the run ends)."""
    global _database
    if _database is None:
        name = f"hub_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        _admin(f'CREATE DATABASE "{name}"')
        _database = name
        atexit.register(_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return _database


def schema_url(schema: str) -> str:
    """A store URL whose connections work in ``schema`` of the run's database."""
    options = urllib.parse.quote(f"-csearch_path={schema}")
    return f"{SERVER}/{run_database()}?options={options}"


def new_schema() -> tuple[str, str]:
    """A fresh schema in the run's database: (its name, the store URL for it)."""
    require_postgres()
    database = run_database()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE SCHEMA "{schema}"', database)
    return schema, schema_url(schema)


def drop_schema(schema: str) -> None:
    _admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', run_database())


@contextmanager
def postgres_store_url() -> Iterator[str]:
    """The URL of an empty store of its own, dropped afterwards."""
    schema, url = new_schema()
    try:
        yield url
    finally:
        drop_schema(schema)


# ------------------------------------------------------------------ stopping and starting it
def require_postgres_control() -> None:
    """Skip where this machine's PostgreSQL cannot be stopped and started (fail in CI)."""
    require_postgres()
    if shutil.which(CONTROL[0]) is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CONTROL[0]} is not installed, and CI requires the restart test")
    pytest.skip(f"no {CONTROL[0]} to restart PostgreSQL with")


def stop_postgres() -> None:
    """A fast shutdown: sessions are ended, the pool's connections die under the hub."""
    subprocess.run([*CONTROL, "stop"], check=True, capture_output=True, timeout=120)


def start_postgres(timeout: float = 60) -> None:
    """Start it and wait until it takes connections."""
    subprocess.run([*CONTROL, "start"], check=True, capture_output=True, timeout=120)
    wait_postgres(timeout)


def wait_postgres(timeout: float = 60) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(f"{SERVER}/postgres", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def ensure_postgres_up() -> None:
    """After a test that stopped it: start it again if it is down (others share it)."""
    try:
        wait_postgres(2)
    except Exception:
        start_postgres()
