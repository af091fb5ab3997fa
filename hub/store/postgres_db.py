"""The PostgreSQL database under the store: a connection pool, migrations, the batching writer.

The store's statements are written once, for both engines (``?`` placeholders, standard
``ON CONFLICT``); :class:`PgConnection` hands them to psycopg (``%s``, SQLite's ``INDEXED BY``
hints dropped), so every rule the store keeps is one piece of code on either engine.

Writes go the way they go on SQLite: whatever has piled up runs in one transaction, each write
under its own savepoint. The transaction is SERIALIZABLE — several hub nodes write at once,
and each write must see the database as if it were alone, as on SQLite's single writer — and a
batch that PostgreSQL refuses as a serialization failure (or a deadlock) runs again whole.
Reads run in one REPEATABLE READ snapshot each. A job one node does for all (the archive's
sequencer) runs alone, READ COMMITTED, outside the batches (``write_alone``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool

from hub.errors import StoreError
from hub.store import sql_archive as archive
from hub.store.schema import migrations_for, statements
from hub.store.sql_database import BatchingWriter

log = logging.getLogger("hub.store")

T = TypeVar("T")
_INDEXED_BY = re.compile(r"\s+INDEXED BY \w+")
_RETRIED = (errors.SerializationFailure, errors.DeadlockDetected)
_MIGRATION_LOCK = 0x68756221  # advisory lock: one node migrates, the others wait
_translated: dict[tuple[str, bool], str] = {}


def translate(sql: str, with_params: bool) -> str:
    """A statement of the store in psycopg's dialect (cached: the statements are constants)."""
    key = (sql, with_params)
    found = _translated.get(key)
    if found is None:
        found = _INDEXED_BY.sub("", sql)
        if with_params:
            found = found.replace("%", "%%").replace("?", "%s")
        if len(_translated) > 10_000:  # statements built with varying text: keep it bounded
            _translated.clear()
        _translated[key] = found
    return found


class PgConnection:
    """A psycopg connection that takes the store's statements as sqlite3's does."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.raw.execute(translate(sql, bool(params)), params or None)  # type: ignore[arg-type]

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql, True), params)  # type: ignore[arg-type]
        return cursor


class PgDatabase:
    """One PostgreSQL database: a pool, a batching writer, snapshot reads."""

    def __init__(self, url: str, *, pool_size: int = 10, batch_limit: int = 512) -> None:
        self.url = url
        self.batch_limit = batch_limit
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, name="hub-store",
            kwargs={"autocommit": True}, timeout=60.0,
        )  # fmt: skip
        self.writer = BatchingWriter(
            lambda fns: asyncio.to_thread(self._run_batch, fns), batch_limit, _as_store_error
        )
        self.retries = 0

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10) -> PgDatabase:
        database = cls(url, pool_size=pool_size)
        try:
            await asyncio.to_thread(database._pool.open, True, 30.0)
            await asyncio.to_thread(database._migrate)
        except (psycopg.Error, TimeoutError, Exception) as exc:
            await asyncio.to_thread(database._pool.close)
            raise StoreError(f"{_safe(url)}: cannot open the store: {exc}") from exc
        database.writer.start()
        return database

    def _migrate(self) -> None:
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
                current = (row[0] if row else None) or 0
                for number, script in enumerate(migrations_for("postgresql"), start=1):
                    if number <= current:
                        continue
                    with conn.transaction():
                        for statement in statements(script):
                            conn.execute(statement.encode())
                        conn.execute("INSERT INTO schema_version VALUES (%s)", (number,))
                    log.info("store migrated to schema version %d", number)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))

    async def close(self) -> None:
        await self.writer.stop()
        await asyncio.to_thread(self._pool.close)

    # ------------------------------------------------------------------ writes
    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run fn inside the next batched transaction; returns once it is committed."""
        return await self.writer.write(fn)

    def _run_batch(self, fns: list[Callable[[Any], Any]]) -> list[tuple[bool, Any]]:
        """One SERIALIZABLE transaction for the batch, a savepoint per write; the whole batch
        again when PostgreSQL says another transaction got in the way."""
        delay = 0.005
        for attempt in range(30):
            try:
                with self._pool.connection() as raw:
                    return _batch_once(PgConnection(raw), fns)
            except _RETRIED:
                self.retries += 1
                time.sleep(delay * (1 + attempt % 4))
                delay = min(delay * 2, 0.2)
            except psycopg.OperationalError as exc:
                # the server went away (a restart): wait for it, then try again
                if attempt >= 29:
                    raise
                self._server_gone(exc, attempt)
        raise StoreError("the store kept refusing a write as a serialization failure")

    async def write_alone(self, fn: Callable[[Any], T]) -> T:
        """fn in a READ COMMITTED transaction of its own, outside the SERIALIZABLE batches:
        it takes row locks where it needs them (the archive's sequencer locks its state row),
        so the nodes' batches never conflict with it; again on a deadlock or lost server."""
        return await asyncio.to_thread(self._alone, fn)

    def _alone(self, fn: Callable[[Any], T]) -> T:
        for attempt in range(30):
            try:
                with self._pool.connection() as raw:
                    raw.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                    try:
                        result = fn(PgConnection(raw))
                    except BaseException:
                        if not raw.closed:
                            raw.execute("ROLLBACK")
                        raise
                    raw.execute("COMMIT")
                    return result
            except _RETRIED:
                self.retries += 1
                time.sleep(0.01 * (1 + attempt % 4))
            except psycopg.OperationalError as exc:
                if attempt >= 29:
                    raise
                self._server_gone(exc, attempt)
        raise StoreError("the store kept refusing a write as a deadlock")

    def _server_gone(self, exc: psycopg.OperationalError, attempt: int) -> None:
        """After a connection failed: drop every dead connection of the pool at once, then
        wait a little before the next try (the pool waits for the server to take new ones).

        A restarted server leaves the pool full of connections that look fine until used;
        taken one per try, each would cost a failed try and a pause (six took ten seconds
        before the first write went through)."""
        if attempt == 0:
            log.warning("store connection failed (%s); waiting for the server", exc)
        try:
            self._pool.check()
        except Exception as failed:  # the pool is closing, say: the next try will tell
            log.debug("pool check failed: %s", failed)
        time.sleep(min(0.2 * attempt, 2.0))

    # ------------------------------------------------------------------ reads
    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run fn in one REPEATABLE READ snapshot (reads that belong together agree)."""
        return await asyncio.to_thread(self._read, fn)

    def _read(self, fn: Callable[[Any], T]) -> T:
        for attempt in range(20):
            try:
                with self._pool.connection() as raw:
                    raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    try:
                        return fn(PgConnection(raw))
                    finally:
                        raw.execute("COMMIT") if not raw.closed else None
            except psycopg.OperationalError as exc:
                if attempt >= 19:
                    raise
                self._server_gone(exc, attempt)
        raise AssertionError("unreachable")

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        def run(conn: PgConnection) -> list[Any]:
            return conn.execute(sql, params).fetchall()

        return await asyncio.to_thread(self._fetch, run)

    def _fetch(self, fn: Callable[[PgConnection], list[Any]]) -> list[Any]:
        for attempt in range(20):
            try:
                with self._pool.connection() as raw:
                    return fn(PgConnection(raw))
            except psycopg.OperationalError as exc:
                if attempt >= 19:
                    raise
                self._server_gone(exc, attempt)
        raise AssertionError("unreachable")


def _batch_once(conn: PgConnection, fns: list[Callable[[Any], Any]]) -> list[tuple[bool, Any]]:
    raw = conn.raw
    results: list[tuple[bool, Any]] = []
    raw.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
    archive.begin(conn)
    try:
        for fn in fns:
            raw.execute("SAVEPOINT w")
            mark = archive.mark(conn)
            try:
                results.append((True, fn(conn)))
                raw.execute("RELEASE SAVEPOINT w")
            except _RETRIED:
                raise
            except Exception as exc:
                raw.execute("ROLLBACK TO SAVEPOINT w")
                raw.execute("RELEASE SAVEPOINT w")
                archive.undo(conn, mark)
                results.append((False, exc))
        archive.flush(conn)  # the archive's pending leaves, in this same transaction
        raw.execute("COMMIT")
    except BaseException:
        archive.discard(conn)
        if not raw.closed:
            raw.execute("ROLLBACK")
        raise
    return results


def _as_store_error(exc: Exception) -> Exception:
    if isinstance(exc, psycopg.Error):
        return StoreError(f"the store failed a write: {exc}")
    return exc


def _safe(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:…@", url)
