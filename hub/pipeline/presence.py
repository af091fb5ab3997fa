"""This hub among the nodes that share its store and broker (hub/nodes.py): its heartbeat, the
jobs one node does for all (by lease), and the rules reloads asked of it through the store.

Nothing here elects a leader: each job has a lease of its own, every node asks for it, and the
store hands it to one (``Store.hold_lease``). A node that stops lets go of its leases at once;
one that dies keeps them until they run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from hub import __version__
from hub.nodes import HEARTBEAT, LEASE_INTERVALS, alive_within
from hub.records import NodeBeat, now_iso
from hub.store import Store

log = logging.getLogger("hub.nodes")


class Presence:
    """Keeps this node's row in the store fresh: who it is, since when, where it serves, which
    rules it has in force."""

    def __init__(
        self,
        store: Store,
        node: str,
        rules_version: Callable[[], str],
        *,
        interval: float = HEARTBEAT,
    ) -> None:
        self.store = store
        self.node = node
        self.instance = uuid.uuid4().hex  # this process: another under the same name shows
        self.started_at = now_iso()
        self.interval = interval
        self.addresses: dict[str, str] = {}
        self._rules_version = rules_version
        self._beats = 0
        self._wake = asyncio.Event()

    def announce(self, kind: str, url: str) -> None:
        """Where this node serves ``kind`` (``api``, ``metrics``); said at once, not at the
        next heartbeat."""
        self.addresses[kind] = url
        self._wake.set()

    async def beat(self) -> None:
        """One heartbeat."""
        before = await self.store.node_seen(
            NodeBeat(
                self.node, self.instance, self.started_at, __version__,
                self.addresses.get("api", ""), self.addresses.get("metrics", ""),
                self._rules_version(),
            )
        )  # fmt: skip
        self._beats += 1
        if before is None or before.instance == self.instance:
            return
        if self._beats > 1:  # it wrote after our first beat: it runs now
            log.error(
                "another process (started %s) writes as node %s too: both do one node's work; "
                "give each its own `node` in hub.toml", before.started_at, self.node,
            )  # fmt: skip
        elif before.seen_ago < alive_within(self.interval):
            log.warning(
                "node %s was seen %.1f s ago from another process (started %s): if that one "
                "still runs, give each its own `node` in hub.toml",
                self.node, before.seen_ago, before.started_at,
            )  # fmt: skip

    async def run(self) -> None:
        """Beat every ``interval`` seconds (and at once when an address is announced)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.beat()
                # housekeeping every node may do at any time: the state counts' totals
                await self.store.fold_counts()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is away: the next beat tries again
                log.warning("heartbeat of node %s failed: %r", self.node, exc)

    async def leave(self) -> None:
        """Off the list of nodes, and the leases free for the others at once."""
        await self.store.node_stopped(self.node, self.instance)


async def run_leased(
    store: Store,
    name: str,
    holder: str,
    interval: float,
    job: Callable[[], Awaitable[object]],
    *,
    term: float | None = None,
    holding: asyncio.Event | None = None,
) -> None:
    """Run ``job`` about every ``interval`` seconds on the one node that holds the lease
    ``name``, until cancelled.

    Every node asks for the lease every half interval; the holder's asking renews it for
    ``term`` (``LEASE_INTERVALS`` intervals). When the holder dies its lease runs out, and
    another node takes the job over within about three intervals. A node that cannot reach the
    store does not run the job: it cannot know that nobody else does. A job that takes longer
    than the term may find another node running it too, so jobs stay safe to repeat.
    ``holding``, if given, is set while this node holds the lease (for work paced otherwise).
    """
    term = LEASE_INTERVALS * interval if term is None else term
    loop = asyncio.get_running_loop()
    held = False
    due = 0.0
    while True:
        try:
            holds = await store.hold_lease(name, holder, term)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: cannot renew the lease of %s: %r", name, holder, exc)
            holds = False
        if holds != held:
            log.info("%s: %s %s", name, holder, "holds it now" if holds else "lost it")
            held = holds
        if holding is not None:
            holding.set() if held else holding.clear()
        if held and loop.time() >= due:
            due = loop.time() + interval
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; trying again", name)
        await asyncio.sleep(interval / 2)


class StoreReloadRequests:
    """Rules reloads asked of this node through the store (``hub routes reload`` asks every
    node alive), and its answers — for the rules watcher (hub/routing/watch.py)."""

    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node

    async def take(self) -> str | None:
        return await self.store.pending_reload(self.node)

    async def answer(self, request_id: str, answer: dict[str, Any]) -> None:
        await self.store.answer_reload(self.node, request_id, json.dumps(answer))
