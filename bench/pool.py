"""The crypto pool's cost to the event loop: ProcessPoolExecutor + run_in_executor against
CryptoPool's direct pipes (decision 0026).

    .venv/bin/python bench/pool.py [--calls 2000] [--rounds 3] [--workers 1] [--loop uvloop]

For a trivial call (``os.getpid``) and for ``process_batch`` of one real envelope, one after
another and 8 at a time: the CPU the event loop's process spends per call (``process_time``
after warm-up: the loop, and for the executor its manager and feeder threads too) and the
wall time per call. Both pools run in the same process, the order alternating per round (as
decision 0025 asks); the figure is the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envelopes.codec import new_envelope, to_bytes
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.config import HubConfig, load_config
from hub.pipeline import processor as proc
from hub.pipeline.pool import CryptoPool
from hub.routing import load_rules
from hub.scaffold import init_deployment, shipped

Call = Callable[..., Awaitable[Any]]


class Executor:
    """What CryptoPool was before: a spawn ProcessPoolExecutor behind run_in_executor."""

    def __init__(self, config: HubConfig) -> None:
        self.executor = ProcessPoolExecutor(
            max_workers=config.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=proc.init_worker,
            initargs=(config, frozenset()),
        )
        self.workers = config.workers

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def warm_up(self) -> None:
        seen: set[int] = set()
        while len(seen) < self.workers:
            seen.update(await asyncio.gather(*(self.run(proc.ready) for _ in range(self.workers))))

    def close(self) -> None:
        self.executor.shutdown(wait=True)


async def measure(
    run: Call, fn: Callable[..., Any], args: tuple[Any, ...], calls: int, at_once: int
) -> tuple[float, float]:
    """(parent CPU ms per call, wall ms per call) of ``calls`` calls, ``at_once`` in flight."""
    for _ in range(20):
        await run(fn, *args)
    cpu, wall = time.process_time(), time.perf_counter()
    if at_once == 1:
        for _ in range(calls):
            await run(fn, *args)
    else:
        left = calls

        async def lane() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await run(fn, *args)

        await asyncio.gather(*(lane() for _ in range(at_once)))
    return (time.process_time() - cpu) * 1e3 / calls, (time.perf_counter() - wall) * 1e3 / calls


def envelope(pki: Path) -> bytes:
    signer = Signer.from_files(str(pki / "dept.finance.key.pem"), str(pki / "dept.finance.pem"))
    payload = parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes())
    _, root = new_envelope("dept.finance", "dept.culture", payload)
    signer.sign(root)
    return to_bytes(root)


async def main(args: argparse.Namespace, directory: Path) -> None:
    path = init_deployment(directory / "deploy", ["dept.finance", "dept.culture"], "")
    config = load_config(path).model_copy(update={"workers": args.workers})
    rules = load_rules(config.path(config.paths.routing_rules))
    body = envelope(directory / "deploy" / "pki")
    cases: list[tuple[str, Callable[..., Any], tuple[Any, ...], int]] = [
        ("trivial, sequential", os.getpid, (), 1),
        ("trivial, 8 at once", os.getpid, (), 8),
        ("process_batch(1), sequential", proc.process_batch, ([body], rules, None), 1),
        ("process_batch(1), 8 at once", proc.process_batch, ([body], rules, None), 8),
    ]
    old, new = Executor(config), CryptoPool(config, frozenset())
    await old.warm_up()
    await new.warm_up()
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for round_ in range(args.rounds):
            pools: list[tuple[str, Call]] = [("executor", old.run), ("pipes", new.run)]
            if round_ % 2:
                pools.reverse()
            for name, fn, fargs, at_once in cases:
                for pool, run in pools:
                    figure = await measure(run, fn, fargs, args.calls, at_once)
                    figures.setdefault((name, pool), []).append(figure)
    finally:
        old.close()
        new.close()
    print(
        f"{args.calls} calls per case, {args.rounds} rounds (order alternating), "
        f"{args.workers} worker(s), loop {args.loop}; medians: parent CPU ms per call, wall ms"
    )
    for name, *_ in cases:
        (ecpu, ewall), (pcpu, pwall) = (
            tuple(statistics.median(v) for v in zip(*figures[(name, pool)], strict=True))
            for pool in ("executor", "pipes")
        )
        print(
            f"  {name:30} executor {ecpu:.3f} ms CPU ({ewall:.3f} wall)  "
            f"pipes {pcpu:.3f} ms CPU ({pwall:.3f} wall)  CPU ratio {pcpu / ecpu:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-bench-pool-") as tmp:
        if options.loop == "uvloop":
            import uvloop

            uvloop.run(main(options, Path(tmp)))
        else:
            asyncio.run(main(options, Path(tmp)))
