"""Registration numbers never skip and never repeat: under concurrent registration, across
processes sharing the store, and when one of them is killed mid-way (kill -9)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from hub.abc import State
from hub.execution.policy import ExecutionPolicy
from hub.execution.settings import ExecutionConfig
from hub.records import Outgoing, Processed
from hub.store import Store
from tests.support.stores import StoreSpot

DEPARTMENT = "dept.culture"
POLICY = ExecutionPolicy.from_config(
    ExecutionConfig.model_validate(
        {"registration": {DEPARTMENT: {"index": "01-12", "journals": {"incoming": ""}}}}
    )
)


async def _documents(store: Store, count: int) -> list[str]:
    """``count`` delivered documents for dept.culture."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    decisions = [
        Processed(
            message_id=m,
            state=State.ACCEPTED,
            envelope=b"<e/>",
            sender="dept.finance",
            recipient=DEPARTMENT,
            kind="request",
            digest=m,
            outgoing=[Outgoing("internal", DEPARTMENT, b"<e/>")],
        )
        for m in ids
    ]
    await store.record_ingest(decisions, [None] * count, [None] * count)
    await store.record_many([(m, State.DELIVERED, "internal") for m in ids])
    return ids


def _check(entries: list[tuple[int | None, str, str]], year: int) -> None:
    seqs = [seq for seq, _, _ in entries]
    assert seqs == list(range(1, len(entries) + 1)), "a gap or a repeat in the sequence"
    numbers = [number for _, number, _ in entries]
    assert len(set(numbers)) == len(numbers)
    assert numbers == [f"01-12-{seq}/{year % 100:02d}" for seq in seqs]
    assert len({doc for _, _, doc in entries}) == len(entries), "a document numbered twice"


async def test_many_concurrent_registrations_in_one_journal(store_spot: StoreSpot) -> None:
    store = await store_spot.open(POLICY)
    try:
        ids = await _documents(store, 200)
        # every document asked for twice, all at once: the same number each time
        first, again = await asyncio.gather(
            asyncio.gather(*(store.allocate_registration_number(m, DEPARTMENT) for m in ids)),
            asyncio.gather(*(store.allocate_registration_number(m, DEPARTMENT) for m in ids)),
        )
        assert [r.number for r in first] == [r.number for r in again]
        year = POLICY.today().year
        entries = await store.journal(DEPARTMENT, "incoming", year)
    finally:
        await store.close()
    assert len(entries) == 200
    _check([(e.seq, e.number, e.message_id) for e in entries], year)


WORKER = """
import asyncio, sys
from pathlib import Path
from tests.hub.store.test_journals import POLICY, DEPARTMENT
from tests.support.stores import StoreSpot

async def main(kind, target, ids):
    store = await StoreSpot(kind, target).open(POLICY)
    try:
        for message_id in ids:
            got = await store.allocate_registration_number(message_id, DEPARTMENT)
            print(message_id, got.number, flush=True)
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
"""


def test_processes_share_a_journal_and_a_killed_one_hands_out_nothing_twice(
    store_spot: StoreSpot,
) -> None:
    async def prepare() -> list[str]:
        store = await store_spot.open(POLICY)
        try:
            return await _documents(store, 240)
        finally:
            await store.close()

    ids = asyncio.run(prepare())
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root)}
    slices = [ids[i::4] for i in range(4)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, store_spot.kind, store_spot.target, *chunk],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            env=env,
        )
        for chunk in slices
    ]
    # kill one of them -9 while it is handing numbers out
    victim = workers[0]
    assert victim.stdout is not None
    for _ in range(5):
        victim.stdout.readline()
    os.kill(victim.pid, signal.SIGKILL)
    printed: dict[str, str] = {}
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        for line in out.splitlines():
            message_id, number = line.split()
            printed[message_id] = number
    assert victim.returncode == -signal.SIGKILL
    assert all(w.returncode == 0 for w in workers[1:])

    async def read() -> list[tuple[int | None, str, str]]:
        store = await store_spot.open(POLICY)
        try:
            entries = await store.journal(DEPARTMENT, "incoming", POLICY.today().year)
            # the killed one's documents are numbered afterwards, continuing the sequence
            for message_id in slices[0]:
                await store.allocate_registration_number(message_id, DEPARTMENT)
            after = await store.journal(DEPARTMENT, "incoming", POLICY.today().year)
            return [(e.seq, e.number, e.message_id) for e in after] + [
                (None, str(len(entries)), "")
            ]
        finally:
            await store.close()

    *entries, (_, count_before, _) = asyncio.run(read())
    year = POLICY.today().year
    _check(entries, year)
    assert len(entries) == 240
    journal = {doc: number for _, number, doc in entries}
    for message_id, number in printed.items():  # what a process was told is what was kept
        assert journal[message_id] == number
    assert int(count_before) >= len(printed)
