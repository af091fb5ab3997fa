"""Hub throughput on RabbitMQ against a bare aio-pika one-hop relay, in one run.

    .venv/bin/python bench/throughput.py [-n 3000] [--workers 1] [--rounds 3] [--rate 0]

Pushes N signed ~5 KB envelopes from dept.finance to dept.culture through a running ``hub serve``
(its own process tree, in a fresh vhost), then the same bytes through a bare relay process
(consume persistent messages from one quorum queue, publish each with a confirm to another);
the two take turns for a few rounds, so that both see the same moods of a shared machine.
Prints messages/s, p50/p99 latency, the hub's CPU per message (hub process and its crypto
workers, read from /proc), the broker's, and the ratio hub ÷ bare: medians over the rounds.
With ``--rate`` the load is paced instead of all queued at once, for latency below saturation.
Needs RabbitMQ on 127.0.0.1 and rabbitmqctl.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

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
        sent_at: dict[str, float] = {}
        latencies: list[float] = []
        done = asyncio.Event()

        async def on(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            key = str((message.headers or {}).get("message-id", ""))
            if key in sent_at and key not in arrived:
                arrived.add(key)
                latencies.append(time.perf_counter() - sent_at[key])
                if len(arrived) == len(bodies):
                    done.set()
            await message.ack()

        arrived: set[str] = set()
        await queue.consume(on)
        cpu0 = cpu_seconds(cpu_pid) if cpu_pid else 0.0
        main0 = cpu_seconds(cpu_pid, tree=False) if cpu_pid else 0.0
        beam = broker_pid()
        beam0 = cpu_seconds(beam, tree=False) if beam else 0.0
        start = time.perf_counter()
        window = asyncio.Semaphore(200)

        async def send(index: int, body: bytes) -> None:
            key = body.split(b"<hub:MessageId>", 1)[1].split(b"<", 1)[0].decode()
            if rate:
                await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
            async with window:
                sent_at[key] = time.perf_counter()
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
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - start
        cpu = (cpu_seconds(cpu_pid) - cpu0) if cpu_pid else 0.0
        main_cpu = (cpu_seconds(cpu_pid, tree=False) - main0) if cpu_pid else 0.0
        broker_cpu = (cpu_seconds(beam, tree=False) - beam0) if beam else 0.0
    latencies.sort()
    return {
        "rate": len(bodies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "cpu_ms": cpu / len(bodies) * 1000,
        "main_cpu_ms": main_cpu / len(bodies) * 1000,
        "broker_cpu_ms": broker_cpu / len(bodies) * 1000,
        "elapsed": elapsed,
    }


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
    args = parser.parse_args()
    host = vhost()
    url = f"amqp://guest:guest@127.0.0.1:5672/{host}"
    quorum: dict[str, object] = {"x-queue-type": "quorum"}  # as the hub declares inboxes
    hub_runs: list[dict[str, float]] = []
    bare_runs: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
            config = init_deployment(
                Path(tmp),
                ["dept.finance", "dept.culture"],
                url,
                metrics_address="127.0.0.1:0",
                api_address="127.0.0.1:0",
            )
            text = re.sub(r"(?m)^workers = \d+$", f"workers = {args.workers}", config.read_text())
            config.write_text(text)
            total = args.n * args.rounds
            print(f"preparing {total} signed envelopes ...", flush=True)
            bodies = make_envelopes(Path(tmp) / "pki", total)  # every hub round new MessageIds
            size = statistics.mean(len(b) for b in bodies)
            hub = subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--config", str(config)],
                stderr=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                text=True,
            )
            relay = subprocess.Popen(
                [sys.executable, "-c", RELAY, url, "bench.relay.in", "bench.relay.out", "128"],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                wait_ready(hub, "serving on")
                wait_ready(relay, "ready")
                for turn in range(args.rounds):
                    batch = bodies[turn * args.n : (turn + 1) * args.n]
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
                        f"hub cpu {hub_runs[-1]['cpu_ms']:.2f} ms/msg",
                        flush=True,
                    )
            finally:
                for process in (hub, relay):
                    process.terminate()
                    process.wait(30)
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", host], capture_output=True)
    hub_result, bare = median_run(hub_runs), median_run(bare_runs)
    ratio = statistics.median(
        h["rate"] / b["rate"] for h, b in zip(hub_runs, bare_runs, strict=True)
    )
    print(
        f"\nmessages: {args.n} x {size / 1024:.1f} KB per round, {args.rounds} rounds (medians), "
        f"hub workers: {args.workers}, cores: {os.cpu_count()}"
    )
    for name, r in (("hub", hub_result), ("bare relay", bare)):
        print(
            f"{name:<11} {r['rate']:8.0f} msg/s   p50 {r['p50']:7.1f} ms   p99 {r['p99']:7.1f} ms"
            f"   cpu {r['cpu_ms']:.2f} ms/msg   broker cpu {r['broker_cpu_ms']:.2f} ms/msg"
        )
    print(
        f"  of which the hub's event loop {hub_result['main_cpu_ms']:.2f} ms, its crypto workers "
        f"{hub_result['cpu_ms'] - hub_result['main_cpu_ms']:.2f} ms"
    )
    if args.rate:
        print(f"(paced at {args.rate:g} msg/s: the rates are the offered load, not capacity)")
    print(f"hub cpu per message: {hub_result['cpu_ms']:.2f} ms")  # the last two lines, as
    print(f"ratio: {ratio:.2f}")  # issue 4 asks: other tools read them


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


if __name__ == "__main__":
    main()
