"""The archive's sequencer (docs/decisions/0024-archive-sequencer.md) on both store engines:
two nodes writing at once lose and double no leaf, two sequencers at once number each leaf once,
the tree stays consistent, and a pending leaf deleted before it was numbered is still found."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hub.archive import entries
from hub.archive.merkle import root_of, verify_consistency
from hub.cli import main
from hub.ops.archive import audit, sign_now
from hub.pipeline import archive_heads
from hub.store import Store, open_store
from tests.hub.archive.conftest import Archived
from tests.hub.store.test_contract import decision, ingest

NODES = 2
MESSAGES = 40  # per node


def _audit(archived: Archived) -> Result:
    return CliRunner().invoke(main, ["archive", "audit", "--config", archived.config_path])


async def _node_traffic(store: Store, node: int) -> list[str]:
    """One node's writes: messages (an envelope and three events each), notes on them, an
    administrator's action, a receipt sent — concurrently with the other node's."""
    ids = []
    for n in range(MESSAGES):
        p = decision()
        p.envelope = f"<Конверт узел='{node}' n='{n}'/>".encode()
        await ingest(store, p)
        ids.append(p.message_id)
        if n % 5 == 0:
            await store.record(p.message_id, "note", f"узел {node}")
            await store.archive_emitted(
                entries.RECEIPT, f"r-{p.message_id}", p.message_id, "dept.finance", "accepted",
                f"<receipt {n}/>".encode(),
            )  # fmt: skip
    await store.audit(f"admin{node}@host", "cli", "token.create", f"t{node}", "приказ", "{}")
    return ids


async def _sequencer(store: Store, stop: asyncio.Event) -> int:
    """A sequencer integrating as fast as it can until told to stop (two run at once: a lease
    handed over while the old holder is still at it)."""
    done = 0
    while not stop.is_set():
        done += await store.archive_integrate()
        await asyncio.sleep(0)
    return done


async def test_two_nodes_append_at_once_and_the_tree_holds(archived: Archived) -> None:
    stores = [await open_store(archived.config) for _ in range(NODES)]
    try:
        stop = asyncio.Event()
        sequencers = [asyncio.create_task(_sequencer(s, stop)) for s in stores]
        traffic = await asyncio.gather(*(_node_traffic(s, n) for n, s in enumerate(stores)))
        first = await sign_now(stores[0], archived.config)  # integrates what is pending, too
        stop.set()
        integrated = sum(await asyncio.gather(*sequencers))
        last = await sign_now(stores[1], archived.config)
        store = stores[0]
        size = await store.archive_size()
        assert await store.archive_pending() == []
        leaves = await store.archive_leaves(0, size)
        # numbered without a gap, each row's leaf exactly once
        assert [leaf.idx for leaf in leaves] == list(range(size))
        refs = Counter((leaf.kind, leaf.ref) for leaf in leaves)
        assert max(refs.values()) == 1
        messages = [m for ids in traffic for m in ids]
        kinds = Counter(leaf.kind for leaf in leaves)
        notes = NODES * len(range(0, MESSAGES, 5))
        assert kinds == {
            "envelope": len(messages),
            "event": 3 * len(messages) + notes,
            "receipt": notes,
            "admin": NODES,
        }
        assert {leaf.ref for leaf in leaves if leaf.kind == "envelope"} == set(messages)
        assert integrated <= size  # the two sequencers numbered each leaf once
        # the tree: the stored nodes, the leaves and both signed heads agree
        assert last.size == size and last.root == root_of([leaf.hash for leaf in leaves])
        assert await store.archive_root(size) == last.root
        if first.size:
            proof = await store.archive_consistency(first.size, last.size)
            verify_consistency(first.size, last.size, first.root, last.root, proof)
        report = await audit(store, archived.config)
        assert report.clean, report.findings
    finally:
        for s in stores:
            await s.close()


async def test_a_limited_step_numbers_the_first_pending_leaves_and_the_next_goes_on(
    archived: Archived,
) -> None:
    # the sequencer numbers a backlog in steps, so that the hub's commits get in between
    # (SQLite has one writer): the steps must number what one step would, in the same order
    store = await open_store(archived.config)
    try:
        for _ in range(3):
            await ingest(store, decision())  # an envelope and three events each: 12 leaves
        pending = await store.archive_pending()
        assert len(pending) == 12
        steps = [await store.archive_integrate(5) for _ in range(4)]
        assert steps == [5, 5, 2, 0]
        leaves = await store.archive_leaves(0, await store.archive_size())
        assert [leaf.idx for leaf in leaves] == list(range(12))
        assert [(leaf.kind, leaf.ref, leaf.hash) for leaf in leaves] == [
            (leaf.kind, leaf.ref, leaf.hash) for leaf in pending
        ]
        assert await store.archive_root(12) == root_of([leaf.hash for leaf in pending])
        assert await store.archive_pending() == []
    finally:
        await store.close()


async def test_the_sequencer_takes_a_backlog_larger_than_its_step_in_one_round(
    archived: Archived, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_heads, "STEP", 5)
    store = await open_store(archived.config)
    integrate = store.archive_integrate
    steps: list[tuple[float, int]] = []  # (when, how many)

    async def timed(limit: int | None = None) -> int:
        done = await integrate(limit)
        steps.append((asyncio.get_running_loop().time(), done))
        return done

    monkeypatch.setattr(store, "archive_integrate", timed)
    holding = asyncio.Event()
    holding.set()
    try:
        for _ in range(3):
            await ingest(store, decision())
        every = 1.0
        job = asyncio.create_task(archive_heads.sequence(store, holding, every))
        try:
            for _ in range(300):
                if await store.archive_size() == 12:
                    break
                await asyncio.sleep(0.01)
        finally:
            job.cancel()
        assert await store.archive_pending() == []
        assert [n for _, n in steps] == [5, 5, 2]
        # one after the other, not a round (a second) apart
        assert steps[-1][0] - steps[0][0] < every
    finally:
        await store.close()


def test_a_deleted_pending_leaf_is_found(archived: Archived) -> None:
    async def write() -> tuple[str, list[entries.Leaf]]:
        store = await open_store(archived.config)
        try:
            kept, lost = decision(), decision()
            await ingest(store, kept)
            await sign_now(store, archived.config)
            await ingest(store, lost)
            await store.record(kept.message_id, "note", "изменено потом")
            return kept.message_id, await store.archive_pending()
        finally:
            await store.close()

    async def integrate_and_sign() -> None:
        store = await open_store(archived.config)
        try:
            await sign_now(store, archived.config)
        finally:
            await store.close()

    kept, pending = asyncio.run(write())
    assert [leaf.kind for leaf in pending] == ["envelope", "event", "event", "event", "event"]
    # a pending leaf's row changed, and another pending leaf deleted, before they were numbered
    note = pending[-1]
    archived.tamper("UPDATE events SET detail = 'подменено' WHERE id = ?", (int(note.ref),))
    assert archived.tamper("DELETE FROM archive_pending WHERE seq = ?", (pending[1].idx,)) == 1
    found = _audit(archived)
    assert found.exit_code == 1
    assert f"pending entry {note.idx} (event {note.ref} of message {kept})" in found.stderr
    assert "its row was changed after it was logged" in found.stderr
    assert f"events row {pending[1].ref}: inserted, not in the log" in found.stderr
    # the next head covers the rest: the deleted one is still named, the changed one too
    asyncio.run(integrate_and_sign())
    again = _audit(archived)
    assert again.exit_code == 1
    assert f"events row {pending[1].ref}: inserted, not in the log" in again.stderr
    assert f"(event {note.ref} of message {kept}): its row was changed" in again.stderr
    assert "pending entry" not in again.stderr


async def test_only_the_lease_holder_numbers_and_signs(
    archived: Archived, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = archived.config
    # a lease of 30 s (three head intervals): no late renewal on a loaded machine hands it over
    config.archive.head_interval = 10
    config.archive.sequence_interval = 0.05
    stores = [await open_store(config) for _ in range(NODES)]
    calls = [0] * NODES
    for n, store in enumerate(stores):
        integrate = store.archive_integrate

        async def counted(
            limit: int | None = None, *, n: int = n, integrate: Any = integrate
        ) -> int:
            calls[n] += 1
            result: int = await integrate(limit)
            return result

        monkeypatch.setattr(store, "archive_integrate", counted)
    jobs = [
        asyncio.create_task(archive_heads.run(s, config, f"node-{n}")) for n, s in enumerate(stores)
    ]
    try:
        for _ in range(400):  # the holder signs a head as it takes the lease (of nothing yet)
            if await stores[0].head() is not None:
                break
            await asyncio.sleep(0.05)
        await ingest(stores[1], decision())
        for _ in range(400):
            if await stores[0].archive_size() == 4:
                break
            await asyncio.sleep(0.05)
        assert await stores[0].archive_size() == 4  # numbered by the sequencer
        assert await stores[0].archive_pending() == []
        (lease,) = [x for x in await stores[0].leases() if x.name == archive_heads.LEASE]
        holder = int(lease.holder.rsplit("-", 1)[1])
        assert calls[holder] > 0 and calls[1 - holder] == 0
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        for s in stores:
            await s.close()
