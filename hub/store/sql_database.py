"""What the SQL store needs of an engine (sqlite_db.py, postgres_db.py): batched writes, reads
in one snapshot, single queries. The statements get a connection that takes ``?``
placeholders either way (sqlite3's own, or postgres_db.PgConnection)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Database(Protocol):
    """One database under the store."""

    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run fn in the next batched transaction; return once it is committed."""

    async def write_alone(self, fn: Callable[[Any], T]) -> T:
        """Run fn in a transaction of its own, outside the batches: a job one node does for
        all (the archive's sequencer), which must not make the nodes' batches conflict."""

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run fn in one read snapshot."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One query's rows."""

    async def close(self) -> None:
        """Finish the writes under way and let go of the connections."""


BatchFn = Callable[[list[Callable[[Any], Any]]], Awaitable[list[tuple[bool, Any]]]]


class BatchingWriter:
    """The writer both engines share: writes queue up, and whatever has piled up (up to
    ``limit``) goes to the engine's ``run`` as one batch — one transaction, a savepoint per
    write; each write's awaitable returns once its batch is committed."""

    def __init__(
        self,
        run: BatchFn,
        limit: int = 512,
        failed: Callable[[Exception], Exception] = lambda exc: exc,
    ) -> None:
        self._run = run
        self._limit = limit
        self._failed = failed  # what a failed commit is reported as, to every write in it
        self._queue: asyncio.Queue[tuple[Callable[[Any], Any], asyncio.Future[Any]] | None] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="store-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def write(self, fn: Callable[[Any], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((fn, future))
        return await future

    async def _loop(self) -> None:
        stop = False
        while not stop:
            item = await self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._limit and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                results = await self._run([fn for fn, _ in batch])
            except Exception as exc:  # the commit itself failed: every write in it failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(self._failed(exc))
                continue
            self.batches += 1
            self.writes += len(batch)
            for (_, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
