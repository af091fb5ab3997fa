"""Scale-out scenarios under steady load, counted as scenarios.py counts them (shared by
tests/hub/scale/ and bench/chaos.py):

- three ``hub serve`` nodes on one PostgreSQL store and one vhost, one of them killed -9;
- a node of a three-node RabbitMQ cluster killed -9 (its Erlang VM) under the hub;
- PostgreSQL stopped and started again under the hub.

The load is steady: envelopes published at a fixed rate by a careful sender, which sends a
publish again until the broker confirms it (same MessageId), before, during and after the
failure. Lost: sent and confirmed, never delivered. Besides the counts, ``extra`` says how many
inbox copies carried a MessageId never sent ("foreign"), how many messages the store accepted
more than once ("accepted twice"), and how often the sender had to publish again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.config import load_config
from hub.queues import INBOUND_QUEUE, inbox_queue
from hub.records import Event
from hub.store import open_store
from hub.transports.rabbitmq import RabbitTransport
from tests.hub.harness import Deployment, make_deployment

from .postgres import ensure_postgres_up, start_postgres, stop_postgres
from .rabbit_cluster import RabbitCluster
from .scenarios import (
    RECIPIENT,
    Counts,
    _counts,
    delivered_count,
    kill_hard,
    read_inbox,
    start_hub,
    stop,
    wait_delivered,
)


class SteadyLoad:
    """``rate`` envelopes a second to ``hub.inbound``; each is published again until the broker
    confirms it (the sender's side of at-least-once: a repeat has the same MessageId)."""

    def __init__(self, url: str, bodies: list[bytes], rate: float) -> None:
        self.url = url
        self.bodies = bodies
        self.rate = rate
        self.confirmed = 0
        self.retries = 0

    async def run(self) -> None:
        transport = RabbitTransport(self.url, publish_timeout=5.0)
        await transport.start()
        loop = asyncio.get_running_loop()
        window = asyncio.Semaphore(128)
        tasks: list[asyncio.Task[None]] = []
        try:
            started = loop.time()
            for i, body in enumerate(self.bodies):
                wait = started + i / self.rate - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await window.acquire()
                tasks.append(asyncio.create_task(self._one(transport, body, window)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await transport.close()

    async def _one(self, transport: RabbitTransport, body: bytes, window: Any) -> None:
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    await transport.publish(INBOUND_QUEUE, body, {"source": "chaos"})
                    break
                except Exception:
                    self.retries += 1
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            self.confirmed += 1
        finally:
            window.release()


def use_store(deployment: Deployment, url: str) -> None:
    """Put the deployment's store at ``url`` (hub.toml's ``[store] url``)."""
    text = deployment.config_path.read_text(encoding="utf-8")
    text, found = re.subn(r"(?m)^\[store\]\nurl = .*$", f'[store]\nurl = "{url}"', text)
    if not found:  # a hub.toml without the section (written before hub init knew it)
        text += f'\n[store]\nurl = "{url}"\n'
    deployment.config_path.write_text(text, encoding="utf-8")
    deployment.config = load_config(deployment.config_path)


def start_node(deployment: Deployment, number: int) -> Any:
    """One more ``hub serve`` of the deployment, with a data folder and a log of its own."""
    return start_hub(deployment, {"HUB_DATA_DIR": f"data-{number}"}, log_name=f"hub-{number}.log")


async def wait_ready(deployment: Deployment, hubs: dict[str, Any], timeout: float = 60) -> None:
    """Until each hub has started (``hub serve`` writes its pid file once it consumes)."""
    deadline = time.monotonic() + timeout
    for data_dir, hub in hubs.items():
        pid_file = deployment.directory / data_dir / "hub.pid"
        while not (pid_file.exists() and pid_file.read_text().strip() == str(hub.pid)):
            if hub.poll() is not None:
                raise RuntimeError(f"hub serve exited; see the logs in {deployment.directory}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"hub serve ({data_dir}) did not start in {timeout} s")
            await asyncio.sleep(0.1)


async def until(condition: Callable[[], bool], task: asyncio.Task[None]) -> None:
    while not condition():
        if task.done():
            task.result()  # the load failed: say why
            return
        await asyncio.sleep(0.05)


async def timeline_figures(deployment: Deployment, ids: set[str]) -> dict[str, float]:
    """From the store's timelines: messages accepted more than once (never allowed), and
    messages handed to ingest again after they were stored (a hub died or failed before its
    ack: the same content, ignored, its deliveries redone)."""
    store = await open_store(deployment.config)
    window = asyncio.Semaphore(8)

    async def events(message_id: str) -> list[Event]:
        async with window:
            return await store.timeline(message_id)

    try:
        timelines = await asyncio.gather(*(events(m) for m in ids))
    finally:
        await store.close()
    return {
        "accepted twice": sum(
            1 for t in timelines if sum(1 for e in t if e.state == "accepted") > 1
        ),
        "stored again": sum(
            1 for t in timelines if any(e.detail.startswith("resubmitted: same") for e in t)
        ),
    }


async def _inbox_counts(
    name: str, deployment: Deployment, ids: set[str], t0: float, directory: Path
) -> Counts:
    shown, skipped = await read_inbox(deployment, directory / "inbox")
    counts = _counts(name, ids, shown, skipped, t0)
    counts.extra["foreign"] = len([m for m in shown if m not in ids])
    return counts


# ------------------------------------------------------------------ the scenarios
async def hub_node_killed(
    directory: Path, broker_url: str, store_url: str, n: int = 1500, rate: float = 150.0
) -> Counts:
    """Three hubs on one store and one vhost; kill -9 one (and its worker) mid-traffic and
    let the other two finish: what it held unacknowledged is handed to them."""
    deployment = make_deployment(directory, broker_url, workers=1)
    use_store(deployment, store_url)
    sent = [deployment.envelope("dept.finance", RECIPIENT) for _ in range(n)]
    ids = {m for m, _ in sent}
    hubs = {f"data-{i}": start_node(deployment, i) for i in (1, 2, 3)}
    victim = hubs["data-1"]
    load = SteadyLoad(broker_url, [b for _, b in sent], rate)
    try:
        await wait_ready(deployment, hubs)
        t0 = time.monotonic()
        publishing = asyncio.create_task(load.run())
        await until(lambda: load.confirmed >= n * 0.4, publishing)
        at_kill = await delivered_count(deployment, ids)
        kill_hard(victim)
        await publishing
        await wait_delivered(deployment, ids, timeout=180)
        survivors = sum(1 for hub in hubs.values() if hub.poll() is None)
    finally:
        for hub in hubs.values():
            stop(hub)
    counts = await _inbox_counts(
        f"3 hubs, one killed (at {at_kill})", deployment, ids, t0, directory
    )
    counts.extra.update(await timeline_figures(deployment, ids))
    counts.extra.update({"survivors": survivors, "publish retries": load.retries})
    return counts


async def broker_node_killed(
    directory: Path, cluster: RabbitCluster, vhost: str, n: int = 1500, rate: float = 150.0
) -> Counts:
    """The hub on a three-node cluster, connected to the first node, which holds the queues'
    leaders (they are declared there); kill -9 that node's Erlang VM mid-traffic. The sender
    is on the second node. The killed node is started again at the end and rejoins."""
    deployment = make_deployment(directory, cluster.url(vhost, first=0), workers=1)
    sent = [deployment.envelope("dept.finance", RECIPIENT) for _ in range(n)]
    ids = {m for m, _ in sent}
    hub = start_hub(deployment)
    load = SteadyLoad(cluster.url(vhost, first=1), [b for _, b in sent], rate)
    queues = (INBOUND_QUEUE, inbox_queue(RECIPIENT))
    try:
        await wait_ready(deployment, {"data": hub})
        members = await asyncio.to_thread(cluster.queue_members, vhost)
        replicas = min(len(members[q][0]) for q in queues)
        t0 = time.monotonic()
        publishing = asyncio.create_task(load.run())
        await until(lambda: load.confirmed >= n * 0.4, publishing)
        at_kill = await delivered_count(deployment, ids)
        await asyncio.to_thread(cluster.kill, 0)
        await publishing
        await wait_delivered(deployment, ids, timeout=180)
        hub_exited = hub.poll() is not None
    finally:
        stop(hub)
    counts = await _inbox_counts(
        f"rabbitmq node killed (at {at_kill})", deployment, ids, t0, directory
    )
    online = await asyncio.to_thread(cluster.queue_members, vhost)
    log = (deployment.directory / "hub.log").read_text(errors="replace")
    counts.extra.update(
        {
            "replicas": replicas,
            "online after": min(len(online[q][1]) for q in queues),
            "hub exited": int(hub_exited),
            "publish retries": load.retries,
            # RabbitMQ 3.10 nacking a channel opened right after the node died (rabbitmq.py)
            "channels renewed": log.count("the next go through a fresh channel"),
        }
    )
    started = time.monotonic()
    await asyncio.to_thread(cluster.restart, 0)
    counts.extra["rejoined in s"] = round(time.monotonic() - started, 1)
    return counts


async def postgres_restarted(
    directory: Path,
    broker_url: str,
    store_url: str,
    n: int = 1000,
    rate: float = 100.0,
    down: float = 5.0,
) -> Counts:
    """The hub on PostgreSQL; the server stopped (fast shutdown: every session ended) mid-traffic
    and started again ``down`` seconds later. The hub must wait and go on by itself, with
    nothing accepted twice. PostgreSQL is up again afterwards, whatever happens."""
    deployment = make_deployment(directory, broker_url, workers=1)
    use_store(deployment, store_url)
    sent = [deployment.envelope("dept.finance", RECIPIENT) for _ in range(n)]
    ids = {m for m, _ in sent}
    hub = start_hub(deployment)
    load = SteadyLoad(broker_url, [b for _, b in sent], rate)
    try:
        await wait_ready(deployment, {"data": hub})
        t0 = time.monotonic()
        publishing = asyncio.create_task(load.run())
        await until(lambda: load.confirmed >= n * 0.3, publishing)
        at_stop = await delivered_count(deployment, ids)
        try:
            await asyncio.to_thread(stop_postgres)
            stopped = time.monotonic()
            await asyncio.sleep(down)
        finally:
            await asyncio.to_thread(start_postgres)
        back = time.monotonic()
        outage = back - stopped
        # how long until the hub delivers again, once the server takes connections
        before = await delivered_count(deployment, ids)
        while await delivered_count(deployment, ids) == before < n:
            if time.monotonic() - back > 120:
                break
            await asyncio.sleep(0.05)
        resumed = time.monotonic() - back
        await publishing
        await wait_delivered(deployment, ids, timeout=180)
        hub_exited = hub.poll() is not None
    finally:
        stop(hub)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(ensure_postgres_up)
    counts = await _inbox_counts(
        f"postgresql restarted (at {at_stop})", deployment, ids, t0, directory
    )
    counts.extra.update({"outage s": round(outage, 1), "resumed after s": round(resumed, 2)})
    counts.extra.update(await timeline_figures(deployment, ids))
    counts.extra.update({"hub exited": int(hub_exited), "publish retries": load.retries})
    return counts
