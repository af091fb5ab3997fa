"""Runs the Processor in worker processes so that crypto never blocks the event loop.

``workers = 0`` runs it inline (tests, tiny deployments); otherwise a process pool whose workers
each load the schemas, trust store and hub key once at start.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from hub.abc import Destination
from hub.config import HubConfig
from hub.pipeline import processor as proc
from hub.records import Processed
from hub.routing import RuleSet


class CryptoPool:
    def __init__(self, config: HubConfig, inline_adapters: frozenset[str]) -> None:
        self.workers = config.workers
        self._config = config
        self._inline = inline_adapters
        self._executor: ProcessPoolExecutor | None = None
        if self.workers > 0:
            self._executor = self._new_executor()
        else:
            proc.init_worker(config, inline_adapters)

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=proc.init_worker,
            initargs=(self._config, self._inline),
        )

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            return fn(*args)
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool:
            # a worker died (killed, or crashed on some input): start a fresh pool; the caller's
            # messages go back to the queue and are retried one by one
            if self._executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
            raise

    async def warm_up(self) -> None:
        """Start every worker now (loading keys and schemas), not on the first message."""
        if self._executor is None:
            return
        seen: set[int] = set()
        for _ in range(50):  # until every worker has answered (each loads its keys once)
            seen.update(await asyncio.gather(*(self._run(proc.ready) for _ in range(self.workers))))
            if len(seen) >= self.workers:
                break

    async def process(
        self, bodies: list[bytes], rules: RuleSet, publishers: list[str | None] | None = None
    ) -> list[Processed]:
        """Decide a batch; ``publishers``: each submission's AMQP user_id."""
        results: list[Processed] = await self._run(proc.process_batch, bodies, rules, publishers)
        for body, result in zip(bodies, results, strict=True):
            result.envelope = body
        return results

    async def sign_receipt(
        self,
        recipient: str,
        message_id: str,
        state: str,
        digest: str | None,
        destinations: list[Destination],
        reasons: list[tuple[str, str]],
    ) -> bytes | None:
        result: bytes | None = await self._run(
            proc.sign_receipt, recipient, message_id, state, digest, destinations, reasons
        )
        return result

    async def sign_envelope(self, xml: bytes) -> bytes:
        result: bytes = await self._run(proc.sign_envelope, xml)
        return result

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
