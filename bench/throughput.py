"""Hub throughput on RabbitMQ against a bare aio-pika one-hop relay, in one run.

    .venv/bin/python bench/throughput.py [-n 3000] [--workers 1] [--rounds 3] [--rate 0]

Pushes N signed ~5 KB envelopes from dept.finance to dept.culture through a running ``hub serve``
(its own process tree, in a fresh vhost), then the same bytes through a bare relay process
(consume persistent messages from one quorum queue, publish each with a confirm to another);
the two take turns for a few rounds, so that both see the same moods of a shared machine.
Prints messages/s, p50/p99 latency, the hub's CPU per message (hub process and its crypto
workers, read from /proc), the broker's, and the ratio hub ÷ bare: medians over the rounds.
With ``--rate`` the load is paced instead of all queued at once, for latency below saturation.
With ``--ceiling`` a third contender takes its turn: the hub's own transport and crypto pool
with nothing stored (decision 0029), the most a hub doing this work reaches here.
Needs RabbitMQ on 127.0.0.1 and rabbitmqctl.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import aio_pika

# bench/envelopes.py would shadow the envelopes package: drop this folder from the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from envelopes.codec import new_envelope, to_bytes  # noqa: E402
from envelopes.parsing import parse_xml  # noqa: E402
from envelopes.signatures import Signer  # noqa: E402
from hub.scaffold import init_deployment, shipped  # noqa: E402

RELAY = r"""
import asyncio, sys, aio_pika
async def main(url, src, dst, prefetch):
    conn = await aio_pika.connect_robust(url)
    pub = await conn.channel(publisher_confirms=True)
    sub = await conn.channel()
    await sub.set_qos(prefetch_count=prefetch)
    args = {"x-queue-type": "quorum"}
    q = await sub.declare_queue(src, durable=True, arguments=args)
    await pub.declare_queue(dst, durable=True, arguments=args)
    async def on(message):
        await pub.default_exchange.publish(
            aio_pika.Message(message.body, headers=message.headers,
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=dst, mandatory=True, timeout=15)
        await message.ack()
    await q.consume(on)
    print("ready", flush=True)
    await asyncio.Future()
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""

# The ceiling: the hub's own transport and crypto pool, and nothing else, in a vhost of its own
# with the hub's queue names. Batches of what arrived (as many at once as the hub forms) go
# through the pool (parse, both schemas, the sender's signature, routing, the countersignature
# and the receipt's signature, in as many worker processes as the hub has); each countersigned
# envelope is published with a confirm, then the submission acked. Nothing is stored, no
# receipt is published, no timeline, archive or metric is kept: ceiling ÷ bare relay is the most
# a hub doing this work on these cores reaches, hub ÷ ceiling what the rest of the hub costs.
CEILING = r"""
import asyncio, sys
from hub.config import load_config
from hub.pipeline.pool import CryptoPool
from hub.routing import load_rules
from hub.service import run_loop
from hub.transports.rabbitmq import RabbitTransport
async def main(url, config):
    rules = load_rules(config.path(config.paths.routing_rules))
    pool = CryptoPool(config, frozenset())
    await pool.warm_up()
    transport = RabbitTransport(url)
    await transport.start()
    await transport.declare_queue("inbox.dept.culture")
    waiting, forwarding = asyncio.Queue(), set()
    async def forward(delivery, result):
        if result.state != "accepted":
            print(f"ceiling: {result.message_id} {result.state}: {result.reasons}",
                  file=sys.stderr, flush=True)
        body = result.outgoing[0].body if result.outgoing else delivery.body
        await transport.publish("inbox.dept.culture", body, {"message-id": result.message_id})
        await delivery.ack()
    async def batches():
        size = config.batch_size
        while True:
            batch = [await waiting.get()]
            while len(batch) < size and not waiting.empty():
                batch.append(waiting.get_nowait())
            results = await pool.process(
                [d.body for d in batch], rules, [d.properties.get("user_id") for d in batch])
            for d, r in zip(batch, results):  # the pool takes the next batch meanwhile
                task = asyncio.create_task(forward(d, r))
                forwarding.add(task)
                task.add_done_callback(forwarding.discard)
    tasks = [asyncio.create_task(batches()) for _ in range(max(1, pool.workers) + 1)]
    async def on(delivery):
        waiting.put_nowait(delivery)
    await transport.consume("hub.inbound", on, prefetch=config.prefetch)
    print("ready", flush=True)
    await asyncio.Future()
config = load_config(sys.argv[2])
run_loop(main(sys.argv[1], config), config.event_loop)  # as the hub runs, uvloop included
"""


def cpu_seconds(pid: int, tree: bool = True) -> float:
    """User+system CPU of a process and (``tree``) all its descendants (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0.0)
        if tree:
            todo.extend(children.get(current, []))
    return total


def thread_cpu_seconds(pid: int) -> float:
    """User+system CPU of a process's main thread alone: in ``hub serve`` the event loop (the
    other threads are SQLite's connections and the resolver; the crypto workers are processes)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The RabbitMQ node's Erlang VM, if it runs on this machine (its CPU is reported too)."""
    found = subprocess.run(["pgrep", "-o", "beam.smp"], capture_output=True, text=True)
    return int(found.stdout.split()[0]) if found.returncode == 0 and found.stdout.strip() else None


def vhost() -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    return name


def make_envelopes(pki: Path, n: int) -> list[bytes]:
    signer = Signer.from_files(str(pki / "dept.finance.key.pem"), str(pki / "dept.finance.pem"))
    payload = parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes())
    out = []
    for _ in range(n):
        _, root = new_envelope("dept.finance", "dept.culture", payload)
        signer.sign(root)
        out.append(to_bytes(root))
    return out


class Arrivals:
    """Which of the sent messages arrived, and how long each took (keyed by MessageId)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.sent_at: dict[str, float] = {}
        self.latencies: list[float] = []
        self.seen: set[str] = set()
        self.done = asyncio.Event()

    def sent(self, key: str) -> None:
        self.sent_at[key] = time.perf_counter()

    def arrived(self, key: str) -> None:
        if key in self.sent_at and key not in self.seen:
            self.seen.add(key)
            self.latencies.append(time.perf_counter() - self.sent_at[key])
            if len(self.seen) == self.count:
                self.done.set()

    def figures(
        self, elapsed: float, cpu: float, main: float, broker: float, loop: float = 0.0
    ) -> dict[str, float]:
        """msg/s, p50 and p99 in ms, CPU per message in ms (all, the main process, broker, the
        main process's event-loop thread)."""
        ordered = sorted(self.latencies)
        n = self.count
        return {
            "rate": n / elapsed,
            "p50": statistics.median(ordered) * 1000,
            "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "cpu_ms": cpu / n * 1000,
            "main_cpu_ms": main / n * 1000,
            "broker_cpu_ms": broker / n * 1000,
            "loop_cpu_ms": loop / n * 1000,
            "elapsed": elapsed,
        }


def message_id(body: bytes) -> str:
    return body.split(b"<hub:MessageId>", 1)[1].split(b"<", 1)[0].decode()


async def pump(
    url: str,
    src: str,
    dst: str,
    bodies: list[bytes],
    cpu_pid: int | None,
    declare_dst: dict[str, object],
    rate: float = 0.0,
) -> dict[str, float]:
    """Publish bodies to src (``rate`` per second, or as fast as the window allows), wait until
    all arrive on dst; latency from publish to arrival."""
    conn = await aio_pika.connect_robust(url)
    async with conn:
        pub = await conn.channel(publisher_confirms=True)
        sub = await conn.channel()
        await sub.set_qos(prefetch_count=500)
        queue = await sub.declare_queue(dst, durable=True, arguments=declare_dst)
        arrivals = Arrivals(len(bodies))

        async def on(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            arrivals.arrived(str((message.headers or {}).get("message-id", "")))
            await message.ack()

        await queue.consume(on)
        cpu0 = cpu_seconds(cpu_pid) if cpu_pid else 0.0
        main0 = cpu_seconds(cpu_pid, tree=False) if cpu_pid else 0.0
        loop0 = thread_cpu_seconds(cpu_pid) if cpu_pid else 0.0
        beam = broker_pid()
        beam0 = cpu_seconds(beam, tree=False) if beam else 0.0
        start = time.perf_counter()
        window = asyncio.Semaphore(200)

        async def send(index: int, body: bytes) -> None:
            key = message_id(body)
            if rate:
                await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
            async with window:
                arrivals.sent(key)
                await pub.default_exchange.publish(
                    aio_pika.Message(
                        body,
                        headers={"message-id": key, "source": "bench"},
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        # as a department's client does: the hub checks the publishing user
                        # ([security] check_publisher, docs/rabbitmq-topology.md)
                        user_id=urllib.parse.urlsplit(url).username or None,
                    ),
                    routing_key=src,
                    mandatory=True,
                    timeout=30,
                )

        await asyncio.gather(*(send(i, b) for i, b in enumerate(bodies)))
        await asyncio.wait_for(arrivals.done.wait(), 600)
        elapsed = time.perf_counter() - start
        cpu = (cpu_seconds(cpu_pid) - cpu0) if cpu_pid else 0.0
        main_cpu = (cpu_seconds(cpu_pid, tree=False) - main0) if cpu_pid else 0.0
        loop_cpu = (thread_cpu_seconds(cpu_pid) - loop0) if cpu_pid else 0.0
        broker_cpu = (cpu_seconds(beam, tree=False) - beam0) if beam else 0.0
    return arrivals.figures(elapsed, cpu, main_cpu, broker_cpu, loop_cpu)


def wait_ready(proc: subprocess.Popen[str], marker: str, timeout: float = 60) -> None:
    assert proc.stderr is not None or proc.stdout is not None
    stream = proc.stdout if marker == "ready" else proc.stderr
    assert stream is not None
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = stream.readline()
        if marker in line:
            return
        if proc.poll() is not None:
            raise SystemExit(f"process exited: {line}")
    raise SystemExit(f"no {marker!r} within {timeout}s")


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def status_kb(pid: int, field: str = "VmRSS") -> int:
    """One process's resident memory in kB: now (VmRSS) or at its peak (VmHWM); 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process tree in MB: now (VmRSS) or at its peak (VmHWM), summed."""
    return sum(status_kb(each, field) for each in tree_pids(pid)) / 1024


def serve(
    config: Path, profile: str | None = None, code: Path | None = None
) -> subprocess.Popen[str]:
    """``hub serve`` as its own process tree, ready (optionally sampled by py-spy; ``code``: a
    checkout whose hub runs instead of this one)."""
    command = [sys.executable, "-m", "hub", "serve", "--config", str(config)]
    env = dict(os.environ, PYTHONPATH=str(code)) if code else None
    if code:  # ``-m`` puts the working directory first on sys.path: run from the other checkout
        found = subprocess.run(
            [sys.executable, "-c", "import hub; print(hub.__file__)"],
            cwd=code, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if not Path(found).resolve().is_relative_to(Path(code).resolve()):
            raise SystemExit(f"the hub of {code} would not run: python imports {found}")
    if profile:  # sampled by py-spy, every process of the tree (collapsed stacks)
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        flags = os.environ.get("BENCH_PYSPY_FLAGS", "").split()
        command = [
            spy,
            "record",
            "-s",
            "-r",
            "250",
            "-f",
            "raw",
            *flags,
            "-o",
            profile,
            "--",
            *command,
        ]
    hub = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=str(code) if code else None,
    )
    wait_ready(hub, "serving on")
    drain(hub)
    return hub


_ERRORS: dict[int, list[str]] = {}  # a served hub's logged errors, by pid


def drain(process: subprocess.Popen[str]) -> None:
    """Keep reading a ready hub's stderr: once its pipe was full the hub blocked on a log line
    and stopped serving mid-run (aiormq logs an error per frame for a closed channel: ~1,500
    lines). Its errors are shown when it stops."""
    errors = _ERRORS.setdefault(process.pid, [])

    def read() -> None:
        assert process.stderr is not None
        for text in process.stderr:
            if " ERROR " in text or " CRITICAL " in text:
                errors.append(text.rstrip())

    threading.Thread(target=read, daemon=True).start()


def stop(process: subprocess.Popen[str], profiled: bool = False) -> None:
    if profiled:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    else:
        process.terminate()
    process.wait(60)
    errors = _ERRORS.pop(process.pid, [])
    if errors:
        print(f"  (the hub logged {len(errors)} errors; the first: {errors[0]})", file=sys.stderr)


def deployment(directory: Path, url: str, workers: int) -> Path:
    """A two-department deployment (embedded when ``url`` is empty) with ``workers``."""
    config = init_deployment(
        directory,
        ["dept.finance", "dept.culture"],
        url,
        metrics_address="127.0.0.1:0",
        api_address="127.0.0.1:0",
    )
    text = re.sub(r"(?m)^workers = \d+$", f"workers = {workers}", config.read_text())
    config.write_text(text)
    return config


async def pump_embedded(
    config: Path, bodies: list[bytes], hub_pid: int, rate: float = 0.0
) -> dict[str, float]:
    """The embedded transport's figures: submissions written into the hub's SQLite file (as
    ``hub send`` does), read back from the recipient's inbox there."""
    from hub.config import load_config
    from hub.store import open_store
    from hub.transports.embedded import EmbeddedTransport

    store = await open_store(load_config(config))
    transport = EmbeddedTransport(store)
    try:
        arrivals = Arrivals(len(bodies))

        async def on(delivery: Any) -> None:
            arrivals.arrived(str(delivery.headers.get("message-id", "")))
            await delivery.ack()

        await transport.start()
        await transport.consume("inbox.dept.culture", on, prefetch=200)
        cpu0 = cpu_seconds(hub_pid)
        main0 = cpu_seconds(hub_pid, tree=False)
        loop0 = thread_cpu_seconds(hub_pid)
        start = time.perf_counter()
        for index, body in enumerate(bodies):
            key = message_id(body)
            if rate:
                await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
            arrivals.sent(key)
            await transport.publish("hub.inbound", body, {"message-id": key})
        await asyncio.wait_for(arrivals.done.wait(), 600)
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(hub_pid) - cpu0
        main_cpu = cpu_seconds(hub_pid, tree=False) - main0
        loop_cpu = thread_cpu_seconds(hub_pid) - loop0
    finally:
        await transport.close()
        await store.close()
    return arrivals.figures(elapsed, cpu, main_cpu, 0.0, loop_cpu)


def line(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:<24} {r['rate']:7.0f} msg/s   p50 {r['p50']:7.1f} ms   p99 {r['p99']:7.1f} ms"
        f"   cpu {r['cpu_ms']:.2f} ms/msg   broker cpu {r['broker_cpu_ms']:.2f} ms/msg"
        + (split(r) if r.get("main_cpu_ms") else "")
    )


def split(r: dict[str, float]) -> str:
    """Where a hub's CPU per message went: its event-loop thread, its other threads (SQLite's
    connections), its crypto worker processes."""
    loop, main, cpu = r["loop_cpu_ms"], r["main_cpu_ms"], r["cpu_ms"]
    return f"   (loop {loop:.2f}, other threads {main - loop:.2f}, workers {cpu - main:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--rounds", type=int, default=3, help="hub and bare relay take turns; medians are printed"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offer this many messages per second (latency below saturation); 0: all at once",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="also: the ceiling (see --ceiling), latency at half the saturated rate and at a "
        "city's 2 msg/s, the embedded transport, and throughput with 1, 2 and 3 workers",
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also run the ceiling each round: the hub's own transport and crypto pool (its XML "
        "security work), nothing stored; prints ceiling ÷ bare and hub ÷ ceiling",
    )
    parser.add_argument(
        "--city-seconds", type=float, default=30, help="how long the 2 msg/s phase lasts"
    )
    parser.add_argument(
        "--against",
        metavar="REF",
        help="also run the hub of this git commit (a worktree), round by round with this one "
        "and the bare relay: before and after in one run",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run hub serve under py-spy and write its collapsed stacks here (slows the hub)",
    )
    args = parser.parse_args()
    host = vhost()
    url = f"amqp://guest:guest@127.0.0.1:5672/{host}"
    quorum: dict[str, object] = {"x-queue-type": "quorum"}  # as the hub declares inboxes
    hub_runs: list[dict[str, float]] = []
    bare_runs: list[dict[str, float]] = []
    before_runs: list[dict[str, float]] = []
    ceiling_runs: list[dict[str, float]] = []
    with_ceiling = args.ceiling or args.full
    ceiling: subprocess.Popen[str] | None = None
    extra: list[str] = []
    before: Before | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
            config = deployment(Path(tmp) / "amqp", url, args.workers)
            city = int(2 * args.city_seconds)  # envelopes of one 2 msg/s phase
            total = args.n * (args.rounds + (4 if args.full else 0)) + city
            total += (COLD_AND_HOT + city) if args.full else 0  # the ceiling's 2 msg/s too
            print(f"preparing {total} signed envelopes ...", flush=True)
            signed = make_envelopes(Path(tmp) / "amqp" / "pki", total)  # new MessageIds
            size = statistics.mean(len(b) for b in signed) / 1024
            fresh = iter(signed)

            def take(count: int) -> list[bytes]:
                return [next(fresh) for _ in range(count)]

            hub = serve(config, args.profile)
            if args.against:
                before = Before(args.against, Path(tmp), host)
            relay = subprocess.Popen(
                [sys.executable, "-c", RELAY, url, "bench.relay.in", "bench.relay.out", "128"],
                stdout=subprocess.PIPE,
                text=True,
            )
            if with_ceiling:
                ceiling_host = vhost()
                ceiling_url = f"amqp://guest:guest@127.0.0.1:5672/{ceiling_host}"
                ceiling = subprocess.Popen(
                    [sys.executable, "-c", CEILING, ceiling_url, str(config)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            try:
                wait_ready(relay, "ready")
                if ceiling is not None:
                    wait_ready(ceiling, "ready")
                time.sleep(2)
                idle_rss = rss_mb(hub.pid)
                for turn in range(args.rounds):
                    batch = take(args.n)
                    if before is not None and turn % 2:  # who goes first alternates
                        before_runs.append(before.round(batch, quorum, args.rate))
                    hub_runs.append(
                        asyncio.run(
                            pump(
                                url,
                                "hub.inbound",
                                "inbox.dept.culture",
                                batch,
                                hub.pid,
                                quorum,
                                args.rate,
                            )
                        )
                    )
                    if before is not None and not turn % 2:
                        before_runs.append(before.round(batch, quorum, args.rate))
                    if ceiling is not None:
                        ceiling_runs.append(
                            asyncio.run(
                                pump(
                                    ceiling_url,
                                    "hub.inbound",
                                    "inbox.dept.culture",
                                    batch,
                                    ceiling.pid,
                                    quorum,
                                    args.rate,
                                )
                            )
                        )
                    bare_runs.append(
                        asyncio.run(
                            pump(
                                url,
                                "bench.relay.in",
                                "bench.relay.out",
                                batch,
                                relay.pid,
                                quorum,
                                args.rate,
                            )
                        )
                    )
                    print(
                        f"round {turn + 1}: hub {hub_runs[-1]['rate']:.0f} msg/s, "
                        f"bare {bare_runs[-1]['rate']:.0f} msg/s, "
                        f"ratio {hub_runs[-1]['rate'] / bare_runs[-1]['rate']:.2f}, "
                        f"hub cpu {hub_runs[-1]['cpu_ms']:.2f} ms/msg"
                        + (f", p99 {hub_runs[-1]['p99']:.0f} ms" if args.rate else "")
                        + (
                            f"; ceiling {ceiling_runs[-1]['rate']:.0f} msg/s, "
                            f"cpu {ceiling_runs[-1]['cpu_ms']:.2f} ms/msg"
                            if ceiling_runs
                            else ""
                        )
                        + (
                            f"; before: {before_runs[-1]['rate']:.0f} msg/s, "
                            f"cpu {before_runs[-1]['cpu_ms']:.2f} ms/msg"
                            + (f", p99 {before_runs[-1]['p99']:.0f} ms" if args.rate else "")
                            if before_runs
                            else ""
                        ),
                        flush=True,
                    )
                peak_rss = rss_mb(hub.pid, "VmHWM")
                saturated = median_run(hub_runs)
                if args.full:
                    half = saturated["rate"] / 2
                    count = min(args.n, int(half * 10))
                    r = asyncio.run(
                        pump(
                            url,
                            "hub.inbound",
                            "inbox.dept.culture",
                            take(count),
                            hub.pid,
                            quorum,
                            half,
                        )
                    )
                    extra.append(line(f"hub at {half:.0f} msg/s (half)", r))
                    phases = [("hub at 2 msg/s (a city)", "", url, hub.pid, saturated)]
                    if ceiling is not None:  # the same for the crypto-only ceiling
                        phases.append(
                            (
                                "ceiling at 2 msg/s",
                                "ceiling's ",
                                ceiling_url,
                                ceiling.pid,
                                median_run(ceiling_runs),
                            )
                        )
                    for label, whose, where, pid, busy in phases:
                        r = asyncio.run(
                            pump(
                                where,
                                "hub.inbound",
                                "inbox.dept.culture",
                                take(city),
                                pid,
                                quorum,
                                2.0,
                            )
                        )
                        extra.append(line(label, r))
                        extra.append(
                            f"  {whose}cpu per message at 2 msg/s ÷ saturated: "
                            f"{r['cpu_ms'] / busy['cpu_ms']:.2f}"
                        )
            finally:
                stop(hub, bool(args.profile))
                if before is not None:
                    before.close()
                stop(relay)
                if ceiling is not None:
                    stop(ceiling)
                    subprocess.run(
                        ["rabbitmqctl", "delete_vhost", ceiling_host], capture_output=True
                    )
            if args.full:
                extra.extend(scaling(config, url, take, args.n, quorum))
                extra.extend(embedded(Path(tmp), args.n, args.workers))
                extra.append(cold_and_hot(config, take(COLD_AND_HOT)))
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", host], capture_output=True)
    hub_result, bare = median_run(hub_runs), median_run(bare_runs)
    ratio = statistics.median(
        h["rate"] / b["rate"] for h, b in zip(hub_runs, bare_runs, strict=True)
    )
    cpu_ratio = statistics.median(
        h["cpu_ms"] / b["cpu_ms"] for h, b in zip(hub_runs, bare_runs, strict=True)
    )
    broker_ratio = (
        statistics.median(
            h["broker_cpu_ms"] / b["broker_cpu_ms"]
            for h, b in zip(hub_runs, bare_runs, strict=True)
            if b["broker_cpu_ms"]
        )
        if bare["broker_cpu_ms"]
        else 0.0
    )
    print(
        f"\nmessages: {args.n} x {size:.1f} KB per round, {args.rounds} rounds "
        f"(medians), hub workers: {args.workers}, cores: {os.cpu_count()}"
    )
    print(line("hub", hub_result))
    print(line("bare relay", bare))
    if ceiling_runs:
        print(line("ceiling (crypto only)", median_run(ceiling_runs)))
    if before_runs:
        print(line(f"before ({args.against})", median_run(before_runs)))
        pairs = list(zip(hub_runs, before_runs, strict=True))
        old = list(zip(before_runs, bare_runs, strict=True))
        print(
            f"  after ÷ before: throughput "
            f"{statistics.median(h['rate'] / b['rate'] for h, b in pairs):.2f}, cpu per message "
            f"{statistics.median(h['cpu_ms'] / b['cpu_ms'] for h, b in pairs):.2f}; before ÷ bare "
            f"relay {statistics.median(b['rate'] / r['rate'] for b, r in old):.2f}"
        )
    print(
        f"  of which the hub's process {hub_result['main_cpu_ms']:.2f} ms (its event-loop thread "
        f"{hub_result['loop_cpu_ms']:.2f}, its other threads — SQLite — "
        f"{hub_result['main_cpu_ms'] - hub_result['loop_cpu_ms']:.2f}), its crypto workers "
        f"{hub_result['cpu_ms'] - hub_result['main_cpu_ms']:.2f} ms"
    )
    if args.rate:
        print(f"(paced at {args.rate:g} msg/s: the rates are the offered load, not capacity)")
    print(f"hub rss: idle {idle_rss:.0f} MB, peak under load {peak_rss:.0f} MB (all its processes)")
    for text in extra:
        print(text)
    if ceiling_runs:
        trios = list(zip(hub_runs, ceiling_runs, bare_runs, strict=True))
        print(
            "ceiling (the hub's transport and crypto pool only) ÷ bare relay: throughput "
            f"{statistics.median(c['rate'] / b['rate'] for _, c, b in trios):.2f}, cpu per "
            f"message {statistics.median(c['cpu_ms'] / b['cpu_ms'] for _, c, b in trios):.2f}; "
            "hub ÷ ceiling: throughput "
            f"{statistics.median(h['rate'] / c['rate'] for h, c, _ in trios):.2f}, cpu per "
            f"message {statistics.median(h['cpu_ms'] / c['cpu_ms'] for h, c, _ in trios):.2f}"
        )
    print(f"cpu ratio (hub cpu ÷ bare relay cpu per message): {cpu_ratio:.2f}")
    print(f"broker cpu ratio (per hub message ÷ per bare message): {broker_ratio:.2f}")
    print(f"hub cpu per message: {hub_result['cpu_ms']:.2f} ms")  # the last two lines, as
    print(f"ratio: {ratio:.2f}")  # issue 4 asks: other tools read them


def scaling(config: Path, url: str, take: Any, n: int, quorum: dict[str, object]) -> list[str]:
    """Throughput with 1, 2 and 3 crypto workers: the same deployment restarted with each."""
    out = []
    for workers in (1, 2, 3):
        text = re.sub(r"(?m)^workers = \d+$", f"workers = {workers}", config.read_text())
        config.write_text(text)
        hub = serve(config)
        try:
            r = asyncio.run(
                pump(url, "hub.inbound", "inbox.dept.culture", take(n), hub.pid, quorum)
            )
        finally:
            stop(hub)
        out.append(line(f"hub, {workers} worker{'s' if workers > 1 else ''}", r))
    return out


def embedded(tmp: Path, n: int, workers: int) -> list[str]:
    """The default deployment: embedded transport and SQLite, no broker (its own keys)."""
    config = deployment(tmp / "embedded", "", workers)
    signed = make_envelopes(tmp / "embedded" / "pki", n)
    hub = serve(config)
    try:
        time.sleep(2)
        idle = rss_mb(hub.pid)
        r = asyncio.run(pump_embedded(config, signed, hub.pid))
        peak = rss_mb(hub.pid, "VmHWM")
    finally:
        stop(hub)
    return [
        line("embedded (SQLite queues)", r),
        f"  embedded hub rss: idle {idle:.0f} MB, peak {peak:.0f} MB",
    ]


COLD_AND_HOT = 140  # envelopes cold_and_hot takes: 20 to warm up, 60 back to back, 60 apart


def cold_and_hot(config_path: Path, bodies: list[bytes]) -> str:
    """The crypto step of one envelope (``process_batch``, in this process), called back to back
    and called every half second as at a city's rate: what the same work costs when the CPU's
    caches have gone cold in between (the 2 msg/s line above pays that on every step)."""
    from hub.config import load_config
    from hub.pipeline import processor
    from hub.routing import load_rules

    config = load_config(config_path)
    rules = load_rules(config.path(config.paths.routing_rules))
    processor.init_worker(config, frozenset({"internal"}))
    processor.process_batch(bodies[:20], rules, None)  # warm: imports, schemas, keys

    def one(body: bytes) -> float:
        started = time.thread_time()
        processor.process_batch([body], rules, None)
        return (time.thread_time() - started) * 1000

    hot = [one(b) for b in bodies[20:80]]
    cold = []
    for body in bodies[80:140]:
        time.sleep(0.5)
        cold.append(one(body))
    h, c = statistics.median(hot), statistics.median(cold)
    return (
        f"crypto step of one envelope, in process: back to back {h:.2f} ms, one every 0.5 s "
        f"{c:.2f} ms ({c / h:.2f}x: cold caches)"
    )


class Before:
    """The hub of another commit: its own worktree and vhost, a copy of this run's deployment
    (the same keys, so the same envelopes), serving beside this one."""

    def __init__(self, ref: str, tmp: Path, host: str) -> None:
        repo = Path(__file__).resolve().parent.parent
        self.repo = repo
        self.code = tmp / "before-code"
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "add", "--detach", str(self.code), ref],
            check=True,
            capture_output=True,
        )
        self.host = vhost()
        self.url = f"amqp://guest:guest@127.0.0.1:5672/{self.host}"
        shutil.copytree(tmp / "amqp", tmp / "before", ignore=shutil.ignore_patterns("data"))
        config = tmp / "before" / "hub.toml"
        config.write_text(config.read_text().replace(f"/{host}", f"/{self.host}"))
        self.hub = serve(config, code=self.code)

    def round(self, batch: list[bytes], quorum: dict[str, object], rate: float) -> dict[str, float]:
        return asyncio.run(
            pump(self.url, "hub.inbound", "inbox.dept.culture", batch, self.hub.pid, quorum, rate)
        )

    def close(self) -> None:
        stop(self.hub)
        subprocess.run(["rabbitmqctl", "delete_vhost", self.host], capture_output=True)
        subprocess.run(
            ["git", "-C", str(self.repo), "worktree", "remove", "--force", str(self.code)],
            capture_output=True,
        )


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


if __name__ == "__main__":
    main()
