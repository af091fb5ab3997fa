"""CryptoPool on its own pipes: answers as inline, big messages, errors, dead and stuck workers."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from hub.config import HubConfig
from hub.pipeline import processor as proc
from hub.pipeline.pool import CryptoPool
from hub.records import Processed
from hub.routing import load_rules
from tests.hub.harness import Deployment, make_deployment
from tests.hub.pipeline import pool_helpers as helpers


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("pool") / "deploy", workers=1)


def config_with(deployment: Deployment, workers: int) -> HubConfig:
    return deployment.config.model_copy(update={"workers": workers})


@pytest.fixture
async def pool(deployment: Deployment) -> AsyncIterator[CryptoPool]:
    p = CryptoPool(config_with(deployment, 1), frozenset())
    await p.warm_up()
    yield p
    p.close()


@pytest.fixture
def inline(deployment: Deployment) -> Iterator[CryptoPool]:
    yield CryptoPool(config_with(deployment, 0), frozenset())


def crypto_pids(name: str) -> set[int | None]:
    return {p.pid for p in multiprocessing.active_children() if p.name == name}


def same_but_signatures(p: Processed) -> Processed:
    """ECDSA signatures and signing times differ from call to call; the rest must not."""
    outgoing = [dataclasses.replace(o, body=b"") for o in p.outgoing]
    return dataclasses.replace(p, timings={}, outgoing=outgoing, receipt=None)


async def test_answers_equal_inline(
    deployment: Deployment, pool: CryptoPool, inline: CryptoPool
) -> None:
    rules = load_rules(deployment.config.path(deployment.config.paths.routing_rules))
    bodies = [deployment.envelope()[1] for _ in range(3)] + [b"<not-an-envelope/>"]
    ours = await pool.process(bodies, rules)
    theirs = await inline.process(bodies, rules)
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs, strict=True):
        assert same_but_signatures(a) == same_but_signatures(b)
        assert (a.receipt is None) == (b.receipt is None)
        assert [len(o.body) for o in a.outgoing] == [len(o.body) for o in b.outgoing]
    assert [r.message_id for r in ours[:3]] and ours[0].envelope == bodies[0]
    signed = await pool.sign_envelope(bodies[0])
    assert len(signed) == len(await inline.sign_envelope(bodies[0]))


async def test_five_megabytes_each_way(pool: CryptoPool) -> None:
    big = os.urandom(5 << 20)
    assert await pool.run(helpers.echo, big) == big
    back = await pool.run(helpers.blob, 5 << 20)
    assert isinstance(back, bytes) and len(back) == 5 << 20
    assert await pool.run(helpers.echo, b"small") == b"small"


async def test_an_exception_comes_back_with_its_type_and_message(pool: CryptoPool) -> None:
    with pytest.raises(ValueError, match="boom 42"):
        await pool.run(helpers.fail, "boom 42")
    with pytest.raises(RuntimeError, match="Stubborn"):  # pickles, does not load: as text
        await pool.run(helpers.fail_stubborn)
    assert await pool.run(helpers.echo, b"still here") == b"still here"


async def test_a_worker_killed_mid_call_fails_that_call_and_is_replaced(pool: CryptoPool) -> None:
    victim = await pool.run(helpers.pid)
    call = asyncio.ensure_future(pool.run(helpers.nap, 30))
    waiting = asyncio.ensure_future(pool.run(helpers.echo, b"queued"))  # waits for the worker
    await asyncio.sleep(0.3)
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        await asyncio.wait_for(call, 10)
    assert await asyncio.wait_for(waiting, 30) == b"queued"  # not lost: the new worker took it
    assert await pool.run(helpers.pid) != victim


async def test_the_other_worker_goes_on_when_one_dies(deployment: Deployment) -> None:
    pool = CryptoPool(config_with(deployment, 2), frozenset())
    try:
        await pool.warm_up()
        calls = [asyncio.ensure_future(pool.run(helpers.nap, 1.0, n)) for n in range(2)]
        await asyncio.sleep(0.3)
        victim = None
        for process in multiprocessing.active_children():
            if process.name == "hub-crypto-0":
                victim = process.pid
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        first, second = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(first, BrokenProcessPool)
        assert not isinstance(second, BaseException) and second[3] == 1
        assert crypto_pids("hub-crypto-0") - {victim}  # replaced at once, before any call
        assert victim not in {
            a[0] for a in await asyncio.gather(*(pool.run(helpers.nap, 0.2) for _ in range(2)))
        }
    finally:
        pool.close()
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("hub-crypto")]


async def test_a_terminated_worker_is_replaced_when_a_call_needs_it(pool: CryptoPool) -> None:
    victim = await pool.run(helpers.pid)
    os.kill(victim, signal.SIGTERM)  # as `kill` of the process group when the hub stops
    await asyncio.sleep(0.5)
    assert not crypto_pids("hub-crypto-0")
    assert await pool.run(helpers.pid) != victim


async def test_two_workers_run_two_calls_at_once(deployment: Deployment) -> None:
    pool = CryptoPool(config_with(deployment, 2), frozenset())
    try:
        await pool.warm_up()
        started = time.monotonic()
        calls = [pool.run(helpers.nap, 0.5, n) for n in range(4)]
        answers = await asyncio.gather(*calls)
        elapsed = time.monotonic() - started
        assert [a[3] for a in answers] == [0, 1, 2, 3]
        assert len({a[0] for a in answers}) == 2
        first, second = answers[0], answers[1]
        overlap = min(first[2], second[2]) - max(first[1], second[1])
        assert overlap > 0.4, answers
        assert 0.95 < elapsed < 1.6, elapsed  # 4 naps of 0.5 s two at a time
        assert answers[2][1] >= min(first[2], second[2]) - 0.01  # the third waited its turn
    finally:
        pool.close()


async def test_a_cancelled_call_does_not_break_the_next(pool: CryptoPool) -> None:
    call = asyncio.ensure_future(pool.run(helpers.nap, 0.3, "stale"))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    answer = await pool.run(helpers.nap, 0, "fresh")
    assert answer[3] == "fresh"
    waiting = asyncio.ensure_future(pool.run(helpers.nap, 0.2, "a"))
    cancelled = asyncio.ensure_future(pool.run(helpers.echo, b"never"))  # still waiting
    await asyncio.sleep(0.05)
    cancelled.cancel()
    assert (await waiting)[3] == "a"
    assert await pool.run(helpers.echo, b"next") == b"next"


async def test_close_returns_promptly_with_a_stuck_worker(deployment: Deployment) -> None:
    pool = CryptoPool(config_with(deployment, 2), frozenset())
    await pool.warm_up()
    stuck = asyncio.ensure_future(pool.run(helpers.nap, 60))
    queued = [asyncio.ensure_future(pool.run(helpers.nap, 60)) for _ in range(2)]
    await asyncio.sleep(0.3)
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 3
    for call in [stuck, *queued]:
        with pytest.raises(BrokenProcessPool):
            await call
    pool.close()  # twice is fine
    with pytest.raises(BrokenProcessPool):
        await pool.run(helpers.pid)


async def test_warm_up_starts_every_worker(deployment: Deployment) -> None:
    pool = CryptoPool(config_with(deployment, 2), frozenset())
    try:
        await pool.warm_up()
        answers = await asyncio.gather(*(pool.run(helpers.nap, 0.2) for _ in range(2)))
        assert len({a[0] for a in answers}) == 2
        assert await pool.run(proc.ready) in {a[0] for a in answers}
    finally:
        pool.close()


def test_inline_when_no_workers(inline: CryptoPool, tmp_path: Path) -> None:
    assert inline.workers == 0
    inline.close()
    inline.close()
