"""Two hub nodes in one process, on one PostgreSQL store and one RabbitMQ vhost: they share the
traffic without losing or doubling any of it, only the lease holder watches the deadlines, the
other takes over when it dies, and ``hub status`` lists the nodes alive."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from click.testing import CliRunner

from hub.cli.routes import routes
from hub.cli.status import status_command
from hub.nodes import EXECUTION_CONTROL
from hub.ops.archive import audit
from hub.pipeline.execution import ExecutionControl
from hub.pipeline.hub import Hub
from hub.records import LeaseRow
from monitoring import instrument
from tests.hub.harness import Deployment, submit, wait_for_state

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgresql, pytest.mark.timeout(180)]

SCAN = 0.2  # seconds between two deadline scans (and between two heartbeats)


@contextlib.asynccontextmanager
async def two_nodes(deployment: Deployment) -> AsyncIterator[tuple[Hub, Hub]]:
    deployment.config.execution.scan_interval = SCAN
    hubs = []
    try:
        for name in ("node-a", "node-b"):
            hub = Hub(deployment.config.model_copy(update={"node": name}))
            hub.heartbeat = SCAN
            instrument(hub)
            await hub.start()
            hubs.append(hub)
        yield hubs[0], hubs[1]
    finally:
        for hub in hubs:
            await hub.stop()


async def lease_of(hub: Hub) -> LeaseRow:
    (lease,) = [x for x in await hub.store.leases() if x.name == EXECUTION_CONTROL]
    return lease


def reload_everywhere(deployment: Deployment) -> tuple[int, str]:
    """`hub routes reload` (in a thread, as above)."""
    result = CliRunner().invoke(routes, ["reload", "--config", str(deployment.config_path)])
    return result.exit_code, result.output


def status_json(deployment: Deployment) -> dict[str, object]:
    """What `hub status --json` prints (in a thread: the command runs its own event loop)."""
    result = CliRunner().invoke(status_command, ["--config", str(deployment.config_path), "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("broker_url", ["postgresql"], indirect=True)
async def test_two_nodes_on_one_store_and_broker(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []  # id() of the ExecutionControl that scanned
    scan = ExecutionControl.scan

    async def counted(self: ExecutionControl) -> tuple[int, int]:
        scans.append(id(self))
        return await scan(self)

    monkeypatch.setattr(ExecutionControl, "scan", counted)
    async with two_nodes(deployment) as (a, b):
        node_of = {id(a.control): a.node, id(b.control): b.node}
        # the traffic: each envelope decided and delivered once, whichever node took it
        sent = [deployment.envelope() for _ in range(20)]
        for _, body in sent:
            await submit(a, body)
        for message_id, _ in sent:
            await wait_for_state(a.store, message_id, {"delivered"})
        for message_id, _ in sent:
            states = [e.state for e in await b.store.timeline(message_id)]
            assert states.count("accepted") == 1 and "note" not in states, states
        # the archive: both nodes wrote entries at once, the sequencer numbered each once,
        # without a gap, and the audit finds the tree whole (pending entries included)
        await a.store.archive_integrate()
        leaves = await a.store.archive_leaves(0, await a.store.archive_size())
        assert [x.idx for x in leaves] == list(range(len(leaves)))
        assert max(Counter((x.kind, x.ref) for x in leaves).values()) == 1
        assert {m for m, _ in sent} <= {x.ref for x in leaves if x.kind == "envelope"}
        report = await audit(b.store, deployment.config)
        assert report.clean, report.findings
        # the deadline watch: on the lease holder only. A lease's term is 2.5 scans (0.5 s):
        # on a loaded machine a renewal can come late and the lease change hands — rightly; a
        # window is judged only when one holder kept the lease through it
        for _ in range(5):
            before = await lease_of(a)
            scans.clear()
            await asyncio.sleep(8 * SCAN)
            lease = await lease_of(a)
            if (lease.holder, lease.since) == (before.holder, before.since):
                break
        else:
            pytest.fail(f"the lease changed hands in every window: {lease}")
        scanners = {node_of[s] for s in scans}
        assert scanners == {lease.holder}, (scanners, lease)
        assert len(scans) >= 4
        # `hub status` lists both nodes, and which one holds the job
        data = await asyncio.to_thread(status_json, deployment)
        nodes = {n["node"]: n for n in data["nodes"]}  # type: ignore[attr-defined]
        assert set(nodes) == {"node-a", "node-b"}

        def jobs(node: str) -> list[str]:  # the archive's head signing is a job of one node too
            return [j for j in nodes[node]["jobs"] if j != "archive-heads"]

        assert jobs(lease.holder) == [EXECUTION_CONTROL]
        other = "node-b" if lease.holder == "node-a" else "node-a"
        assert jobs(other) == []
        assert nodes[other]["rules_version"] == a.rules.version
        assert data["jobs"][EXECUTION_CONTROL]["holder"] == lease.holder  # type: ignore[index]
        # `hub routes reload` reaches both nodes, and each answers
        code, out = await asyncio.to_thread(reload_everywhere, deployment)
        assert code == 0, out
        assert out.splitlines() == [
            f"{name}: in force: {a.rules.version} (no change to apply)"
            for name in ("node-a", "node-b")
        ]
        # the holder dies (its heartbeat and its watch stop, nothing is let go): the other
        # node takes the watch over within about three intervals, and the dead one drops off
        holder, survivor = (a, b) if lease.holder == "node-a" else (b, a)
        for task in list(holder._tasks):
            if task.get_name() in ("execution-control", "heartbeat", "archive-heads"):
                task.cancel()
        await asyncio.sleep(0)
        scans.clear()
        died = asyncio.get_running_loop().time()
        while not scans:
            assert asyncio.get_running_loop().time() - died < 5 * SCAN, "nobody took over"
            await asyncio.sleep(0.02)
        took = asyncio.get_running_loop().time() - died
        assert took <= 3 * SCAN + 0.2, took
        assert {node_of[s] for s in scans} == {survivor.node}
        await asyncio.sleep(4 * SCAN)
        alive = [n.node for n in await survivor.store.nodes(3 * SCAN)]
        assert alive == [survivor.node]
        assert {node_of[s] for s in scans} == {survivor.node}
