"""Crash and outage scenarios, shared by the tests and bench/chaos.py.

Each returns Counts: how many envelopes were sent, delivered (distinct MessageIds in the
recipient's inbox), lost (sent, accepted, never delivered) and duplicated (extra copies of a
MessageId that reached the inbox; ``hub inbox`` shows each MessageId once regardless).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.config import load_config
from hub.ops import connection as ops_connection
from hub.ops import inbox as ops_inbox
from hub.queues import INBOUND_QUEUE
from hub.store import open_store
from tests.hub.harness import (
    Deployment,
    FlakyAdapter,
    make_deployment,
    route_agencies_to,
    running_hub,
    submit,
    tune_retries,
)

from .tcp_proxy import TcpProxy

RECIPIENT = "dept.culture"


@dataclass
class Counts:
    scenario: str
    sent: int
    delivered: int
    lost: int
    duplicated: int
    seconds: float
    # what else a scenario counted: "foreign" (inbox copies of ids never sent), "accepted
    # twice", "publish retries", the seconds of an outage …
    extra: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        more = "".join(f"  {k} {v:g}" for k, v in self.extra.items())
        return (
            f"{self.scenario:<28} sent {self.sent:>5}  delivered {self.delivered:>5}  "
            f"lost {self.lost:>3}  duplicated {self.duplicated:>3}  ({self.seconds:.1f} s){more}"
        )


def start_hub(
    deployment: Deployment, extra_env: dict[str, str] | None = None, log_name: str = "hub.log"
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, HUB_LOG_LEVEL="WARNING", **(extra_env or {}))
    log = open(deployment.directory / log_name, "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--config", str(deployment.config_path)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """kill -9 the hub and its worker processes (its whole session)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            kill_hard(process)


async def publish_all(deployment: Deployment, bodies: list[bytes]) -> None:
    """Hand every envelope to the inbound queue durably (as `hub send` does)."""
    async with ops_connection.connect(deployment.config) as (_, transport):
        window = asyncio.Semaphore(256)

        async def one(body: bytes) -> None:
            async with window:
                await transport.publish(INBOUND_QUEUE, body, {"source": "chaos"})

        await asyncio.gather(*(one(b) for b in bodies))


async def delivered_count(deployment: Deployment, ids: set[str]) -> int:
    store = await open_store(deployment.config)
    try:
        states = await store.states(ids)
    finally:
        await store.close()
    return sum(1 for s in states.values() if s in ("delivered", "acknowledged", "answered"))


async def wait_delivered(deployment: Deployment, ids: set[str], timeout: float) -> int:
    """Wait for every id to be delivered; on a long stall, have the hub log its tasks."""
    deadline = time.monotonic() + timeout
    count, last, stalled_since = 0, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = await delivered_count(deployment, ids)
        if count >= len(ids):
            break
        if count != last:
            last, stalled_since = count, time.monotonic()
        elif time.monotonic() - stalled_since > 20:
            with contextlib.suppress(OSError, ValueError):
                pid = (deployment.config.path(deployment.config.data_dir) / "hub.pid").read_text()
                os.kill(int(pid), signal.SIGUSR1)  # hub serve logs every task's stack
            stalled_since = time.monotonic()
        await asyncio.sleep(0.25)
    return count


async def read_inbox(deployment: Deployment, out: Path) -> tuple[list[str], list[str]]:
    skipped: list[str] = []
    items = await ops_inbox.inbox(deployment.config, RECIPIENT, out, None, 1.0, skipped)
    return [i.message_id for i in items if i.kind != "receipt"], skipped


def _counts(name: str, ids: set[str], shown: list[str], skipped: list[str], t0: float) -> Counts:
    delivered = set(shown) & ids
    extra = len(shown) - len(set(shown)) + len([s for s in skipped if s in ids])
    return Counts(
        name, len(ids), len(delivered), len(ids - delivered), extra, time.monotonic() - t0
    )


async def kill_and_restart(directory: Path, broker_url: str, n: int = 2000) -> Counts:
    """kill -9 the hub in the middle of a load of n envelopes, restart it, count."""
    deployment = make_deployment(directory, broker_url, workers=1)
    sent = [deployment.envelope("dept.finance", RECIPIENT) for _ in range(n)]
    ids = {m for m, _ in sent}
    t0 = time.monotonic()
    hub = start_hub(deployment)
    try:
        await publish_all(deployment, [b for _, b in sent])
        # kill it once a good part, but not all, is through
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and await delivered_count(deployment, ids) < n // 4:
            if hub.poll() is not None:
                raise RuntimeError(f"hub exited; see {deployment.directory / 'hub.log'}")
            await asyncio.sleep(0.1)
        kill_hard(hub)
        at_kill = await delivered_count(deployment, ids)
        hub = start_hub(deployment)
        await wait_delivered(deployment, ids, timeout=300)
    finally:
        stop(hub)
    shown, skipped = await read_inbox(deployment, directory / "inbox")
    counts = _counts("kill -9 and restart", ids, shown, skipped, t0)
    counts.scenario += f" (at {at_kill})"
    return counts


async def broker_cut(directory: Path, broker_url: str, n: int = 500, seconds: float = 5) -> Counts:
    """The hub's broker connection cut (through a TCP proxy) in the middle of a load."""
    host_port, _, vhost = broker_url.removeprefix("amqp://guest:guest@").partition("/")
    host, _, port = host_port.partition(":")
    proxy = TcpProxy(host, int(port or 5672))
    await proxy.start()
    through_proxy = f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}"
    deployment = make_deployment(directory, through_proxy, workers=1)
    direct = make_deployment(directory.parent / (directory.name + "-direct"), broker_url)
    direct.config.data_dir = deployment.config.path(deployment.config.data_dir)
    # the same keys and CA: the inbox is read as verified content (hub/ops/delivered.py)
    shutil.copytree(deployment.pki, direct.pki, dirs_exist_ok=True)
    sent = [deployment.envelope("dept.finance", RECIPIENT) for _ in range(n)]
    ids = {m for m, _ in sent}
    t0 = time.monotonic()
    hub = start_hub(deployment)
    try:
        await asyncio.sleep(2)
        publisher = asyncio.ensure_future(publish_all(direct, [b for _, b in sent]))  # noqa: RUF006
        while await delivered_count(deployment, ids) < n // 5:
            await asyncio.sleep(0.05)
        await proxy.cut(seconds)
        await publisher
        await wait_delivered(deployment, ids, timeout=180)
    finally:
        stop(hub)
        await proxy.stop()
    shown, skipped = await read_inbox(direct, directory / "inbox")
    return _counts(f"broker cut for {seconds:.0f} s", ids, shown, skipped, t0)


async def destination_down(
    directory: Path, broker_url: str, n: int = 200, seconds: float = 10
) -> Counts:
    """A remote destination down for a while: messages wait, then all arrive once it is back."""
    deployment = make_deployment(directory, broker_url)
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment, threshold=3, probe_interval=2.0, max_attempts=1000, max_delay=5.0)
    deployment.config.retry.max_age = 3600
    flaky = FlakyAdapter()
    flaky.mode = "down"
    sent = [deployment.envelope("dept.finance", "agency.remote") for _ in range(n)]
    ids = {m for m, _ in sent}
    t0 = time.monotonic()
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        for _, body in sent:
            await submit(hub, body)
        await asyncio.sleep(seconds)
        flaky.mode = "up"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(set(flaky.delivered) & ids) < n:
            await asyncio.sleep(0.2)
    delivered = set(flaky.delivered) & ids
    duplicated = len(flaky.delivered) - len(set(flaky.delivered))
    counts = Counts(
        f"destination down {seconds:.0f} s",
        n,
        len(delivered),
        n - len(delivered),
        duplicated,
        time.monotonic() - t0,
    )
    counts.scenario += f" ({len(flaky.attempts)} attempts)"
    return counts


__all__ = ["Counts", "broker_cut", "destination_down", "kill_and_restart", "load_config"]


async def kill_during_http(directory: Path, broker_url: str, n: int = 600) -> Counts:
    """kill -9 the hub while envelopes come in over its HTTP API, restart it. The client
    behaves as the API asks: it resubmits whatever got no answer until one comes. Lost: an
    envelope answered 2xx that never reaches the inbox."""
    import socket

    import httpx

    from hub.ops.tokens import Role, api_key, create_token

    deployment = make_deployment(directory, broker_url, workers=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"HUB_API__ADDRESS": f"127.0.0.1:{port}", "HUB_API__RATE": "100000",
           "HUB_API__BURST": "100000"}  # fmt: skip
    store = await open_store(deployment.config)
    try:
        _, token = await create_token(
            store, api_key(deployment.config), "dept.finance", Role.PARTICIPANT
        )
    finally:
        await store.close()
    sent = [deployment.envelope("dept.finance", RECIPIENT) for _ in range(n)]
    ids = {m for m, _ in sent}
    answered: set[str] = set()
    t0 = time.monotonic()
    hub = start_hub(deployment, env)
    killed = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30
        ) as http:
            window = asyncio.Semaphore(16)

            async def one(message_id: str, body: bytes) -> None:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    async with window:
                        try:
                            response = await http.post("/v1/envelopes", content=body)
                        except httpx.HTTPError:
                            response = None
                    if response is not None and response.status_code in (200, 202):
                        answered.add(message_id)
                        return
                    await asyncio.sleep(0.2)  # no answer: the hub is down; try again
                raise RuntimeError(f"{message_id}: no answer in 300 s")

            async def killer() -> None:
                while len(answered) < n // 4:
                    await asyncio.sleep(0.05)
                kill_hard(hub)
                killed.set()

            async def restarter() -> subprocess.Popen[bytes]:
                await killed.wait()
                return start_hub(deployment, env)

            kill_task = asyncio.create_task(killer())
            restart_task = asyncio.create_task(restarter())
            await asyncio.gather(*(one(m, b) for m, b in sent))
            await kill_task
            hub = await restart_task
        await wait_delivered(deployment, ids, timeout=300)
    finally:
        stop(hub)
    shown, skipped = await read_inbox(deployment, directory / "inbox")
    counts = _counts("kill -9 during HTTP", ids & answered, shown, skipped, t0)
    counts.sent = len(ids)
    return counts
