"""Several hub nodes on one store: heartbeats, leases, reload requests — on every backend.

The races open the same database several times over (each its own writer, as separate
``hub serve`` processes have): on SQLite they queue for the file's one writer, on PostgreSQL
their SERIALIZABLE batches collide and run again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from hub.records import NodeBeat
from hub.store import Store
from tests.support.stores import StoreSpot


def beat(node: str, instance: str = "i-1", **extra: str) -> NodeBeat:
    return NodeBeat(node, instance, "2026-12-01T08:00:00+00:00", "0.1.0", **extra)


@pytest.fixture
async def stores(store_spot: StoreSpot) -> AsyncIterator[list[Store]]:
    """Three stores on one database, as three nodes open it."""
    opened = [await store_spot.open() for _ in range(3)]
    yield opened
    for store in opened:
        await store.close()


# ---------------------------------------------------------------------------------- heartbeats
async def test_a_heartbeat_lists_the_node_until_it_stops(store: Store) -> None:
    assert await store.node_seen(beat("a", api="http://h:8080", rules_version="v1")) is None
    before = await store.node_seen(beat("a", api="http://h:8080", rules_version="v2"))
    assert before is not None and before.rules_version == "v1" and before.instance == "i-1"
    await store.node_seen(beat("b"))
    nodes = await store.nodes(alive_within=15)
    assert [n.node for n in nodes] == ["a", "b"]
    a = nodes[0]
    assert a.api == "http://h:8080" and a.metrics == "" and a.rules_version == "v2"
    assert a.version == "0.1.0" and a.started_at == "2026-12-01T08:00:00+00:00"
    assert 0 <= a.seen_ago < 5 and a.seen_at.endswith("+00:00")
    await store.node_stopped("a", "i-1")
    assert [n.node for n in await store.nodes(alive_within=15)] == ["b"]


async def test_a_node_not_seen_within_the_window_is_not_alive(store: Store) -> None:
    await store.node_seen(beat("a"))
    await asyncio.sleep(0.3)
    await store.node_seen(beat("b"))
    assert [n.node for n in await store.nodes(alive_within=0.2)] == ["b"]
    assert [n.node for n in await store.nodes(alive_within=10)] == ["a", "b"]


async def test_another_process_under_the_same_name_shows(store: Store) -> None:
    await store.node_seen(beat("a", "first"))
    before = await store.node_seen(beat("a", "second"))
    assert before is not None and before.instance == "first"
    await store.hold_lease("job", "a", 30)
    await store.node_stopped("a", "first")  # not the process that writes as "a" now
    assert [n.node for n in await store.nodes(15)] == ["a"]
    assert [lease.holder for lease in await store.leases()] == ["a"]
    await store.node_stopped("a", "second")
    assert await store.nodes(15) == [] and await store.leases() == []  # its leases free at once


# ---------------------------------------------------------------------------------- leases
async def test_of_holders_racing_for_a_lease_exactly_one_wins(stores: list[Store]) -> None:
    for round_ in range(15):
        name = f"job-{round_}"
        holders = [f"node-{i}" for i in range(len(stores))]
        won = await asyncio.gather(
            *(s.hold_lease(name, h, 30) for s, h in zip(stores, holders, strict=True))
        )
        assert sum(won) == 1, (name, won)
        (lease,) = [x for x in await stores[0].leases() if x.name == name]
        assert lease.holder == holders[won.index(True)] and 25 < lease.expires_in <= 30
        # and again, now that it is held: only the holder keeps it
        again = await asyncio.gather(
            *(s.hold_lease(name, h, 30) for s, h in zip(stores, holders, strict=True))
        )
        assert again == won


async def test_a_lease_run_out_goes_to_the_next_who_asks(store: Store) -> None:
    assert await store.hold_lease("job", "a", 0.3)
    assert not await store.hold_lease("job", "b", 10)
    (held,) = await store.leases()
    await asyncio.sleep(0.4)
    (ran_out,) = await store.leases()
    assert ran_out.holder == "a" and ran_out.expires_in < 0
    assert await store.hold_lease("job", "b", 10)
    assert not await store.hold_lease("job", "a", 10)
    (taken,) = await store.leases()
    assert taken.holder == "b" and taken.since > held.since and taken.expires_in > 9


async def test_renewing_keeps_the_lease(store: Store) -> None:
    assert await store.hold_lease("job", "a", 0.5)
    (first,) = await store.leases()
    await asyncio.sleep(0.3)
    assert await store.hold_lease("job", "a", 0.5)  # renewed: another 0.5 s from now
    await asyncio.sleep(0.3)  # past the first term, within the second
    assert not await store.hold_lease("job", "b", 0.5)
    (renewed,) = await store.leases()
    assert renewed.holder == "a" and renewed.since == first.since  # held since the start
    assert renewed.expires_at > first.expires_at


async def test_leases_are_held_apart(store: Store) -> None:
    assert await store.hold_lease("one", "a", 30)
    assert await store.hold_lease("two", "b", 30)
    assert [(x.name, x.holder) for x in await store.leases()] == [("one", "a"), ("two", "b")]


# ---------------------------------------------------------------------------------- reloads
async def test_a_reload_request_reaches_every_node_alive(store: Store) -> None:
    await store.node_seen(beat("gone"))
    await asyncio.sleep(0.3)
    await store.node_seen(beat("a"))
    await store.node_seen(beat("b"))
    assert await store.pending_reload("a") is None
    assert await store.request_reload("r-1", alive_within=0.2) == ["a", "b"]
    assert await store.pending_reload("gone") is None
    assert await store.pending_reload("a") == "r-1" and await store.pending_reload("b") == "r-1"
    answer = {"id": "r-1", "result": "applied", "version": "v2"}
    await store.answer_reload("a", "r-1", json.dumps(answer))
    await store.node_seen(beat("a"))  # a heartbeat leaves the request and answer alone
    assert await store.pending_reload("a") is None and await store.pending_reload("b") == "r-1"
    a, b = [n for n in await store.nodes(0.2) if n.node in ("a", "b")]
    assert a.reload_answered == "r-1" and json.loads(a.reload_answer or "") == answer
    assert b.reload_request == "r-1" and b.reload_answered is None
