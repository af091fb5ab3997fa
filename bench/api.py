"""Submissions over HTTP (``POST /v1/envelopes``) against over AMQP (``hub.inbound``), in one run.

    .venv/bin/python bench/api.py [-n 2000] [--workers 1] [--rounds 3] [--clients 32]

A running ``hub serve`` (its own process tree, RabbitMQ in a fresh vhost) gets N signed ~5 KB
envelopes from dept.finance to dept.culture, in turns: once published to ``hub.inbound`` with
publisher confirms (as a department's AMQP client does), once posted to the API with a bearer
token by ``--clients`` concurrent HTTP connections (aiohttp's client: httpx costs ~4 ms of CPU
a request, which on a small machine starves the hub it measures). A submission counts when its
envelope has arrived in the recipient's inbox queue, so both ways measure the same whole path.
Prints the
rates per round, their medians and the ratio HTTP ÷ AMQP (the median of the per-round ratios);
then paces HTTP submissions at half the measured HTTP rate with ``?wait`` and prints the latency
percentiles of the hub's answer and of the arrival, and the same arrival percentiles over AMQP.
Needs RabbitMQ on 127.0.0.1 and rabbitmqctl.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # bench/envelopes.py

_spec = importlib.util.spec_from_file_location("bench_throughput", HERE / "throughput.py")
assert _spec is not None and _spec.loader is not None
throughput: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(throughput)

from hub.scaffold import init_deployment  # noqa: E402

QUORUM: dict[str, object] = {"x-queue-type": "quorum"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)] * 1000


async def pump_http(
    amqp_url: str,
    api_url: str,
    token: str,
    bodies: list[bytes],
    clients: int,
    rate: float = 0.0,
    hub_pid: int | None = None,
) -> dict[str, Any]:
    """POST bodies (``rate`` per second with ``?wait``, or as fast as ``clients`` connections
    go), wait until all arrive in dept.culture's inbox; answer and arrival latencies."""
    hub_cpu0 = throughput.cpu_seconds(hub_pid) if hub_pid else 0.0
    main_cpu0 = throughput.cpu_seconds(hub_pid, tree=False) if hub_pid else 0.0
    client_cpu0 = time.process_time()
    conn = await aio_pika.connect_robust(amqp_url)
    async with conn:
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=500)
        queue = await channel.declare_queue("inbox.dept.culture", durable=True, arguments=QUORUM)
        sent_at: dict[str, float] = {}
        arrivals: list[float] = []
        answers: list[float] = []
        arrived: set[str] = set()
        done = asyncio.Event()

        async def on(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            key = str((message.headers or {}).get("message-id", ""))
            if key in sent_at and key not in arrived:
                arrived.add(key)
                arrivals.append(time.perf_counter() - sent_at[key])
                if len(arrived) == len(bodies):
                    done.set()
            await message.ack()

        await queue.consume(on)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(
            api_url, headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(120)
        ) as http:
            window = asyncio.Semaphore(clients)
            start = time.perf_counter()

            async def send(index: int, body: bytes) -> None:
                key = body.split(b"<hub:MessageId>", 1)[1].split(b"<", 1)[0].decode()
                if rate:
                    await asyncio.sleep(max(0.0, start + index / rate - time.perf_counter()))
                async with window:
                    sent_at[key] = time.perf_counter()
                    async with http.post(
                        "/v1/envelopes", data=body, params={"wait": "30"} if rate else None
                    ) as response:
                        text = await response.text()
                    answers.append(time.perf_counter() - sent_at[key])
                    if response.status not in (200, 202):
                        raise SystemExit(f"HTTP {response.status}: {text[:300]}")

            await asyncio.gather(*(send(i, b) for i, b in enumerate(bodies)))
            await asyncio.wait_for(done.wait(), 600)
            elapsed = time.perf_counter() - start
    hub_cpu = (throughput.cpu_seconds(hub_pid) - hub_cpu0) if hub_pid else 0.0
    main_cpu = (throughput.cpu_seconds(hub_pid, tree=False) - main_cpu0) if hub_pid else 0.0
    return {
        "rate": len(bodies) / elapsed,
        "cpu_ms": hub_cpu / len(bodies) * 1000,
        "main_cpu_ms": main_cpu / len(bodies) * 1000,
        "client_cpu_ms": (time.process_time() - client_cpu0) / len(bodies) * 1000,
        "answer_p50": percentile(answers, 0.5),
        "answer_p99": percentile(answers, 0.99),
        "p50": percentile(arrivals, 0.5),
        "p99": percentile(arrivals, 0.99),
    }


def amqp_round(amqp_url: str, bodies: list[bytes], hub_pid: int) -> dict[str, Any]:
    """One round over AMQP (bench/throughput.py's pump), with the client's CPU."""
    client_cpu0 = time.process_time()
    result: dict[str, Any] = asyncio.run(
        throughput.pump(amqp_url, "hub.inbound", "inbox.dept.culture", bodies, hub_pid, QUORUM)
    )
    result["client_cpu_ms"] = (time.process_time() - client_cpu0) / len(bodies) * 1000
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--clients", type=int, default=200, help="concurrent HTTP requests (AMQP: 200 in flight)"
    )
    args = parser.parse_args()
    host = throughput.vhost()
    amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{host}"
    http_runs: list[dict[str, Any]] = []
    amqp_runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="hub-bench-api-") as tmp:
            config = init_deployment(
                Path(tmp), ["dept.finance", "dept.culture"], amqp_url,
                metrics_address="127.0.0.1:0", api_address="127.0.0.1:0",
            )  # fmt: skip
            text = re.sub(r"(?m)^workers = \d+$", f"workers = {args.workers}", config.read_text())
            config.write_text(text)
            made = subprocess.run(
                [sys.executable, "-m", "hub", "tokens", "create", "dept.finance",
                 "--config", str(config)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            token = made.stdout.strip().splitlines()[-1]
            paced_n = max(200, args.n // 2)
            total = args.n * args.rounds * 2 + paced_n * 2
            print(f"preparing {total} signed envelopes ...", flush=True)
            bodies = iter(throughput.make_envelopes(Path(tmp) / "pki", total))
            env = {**os.environ, "HUB_API__RATE": "1000000", "HUB_API__BURST": "1000000"}
            hub = subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--config", str(config)],
                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
            )  # fmt: skip
            try:
                api_url = ""
                deadline = time.monotonic() + 60
                assert hub.stderr is not None
                while time.monotonic() < deadline and not api_url:  # after "serving on"
                    line = hub.stderr.readline()
                    if not line and hub.poll() is not None:
                        raise SystemExit("hub serve exited")
                    if found := re.search(r"api at (http://\S+)", line):
                        api_url = found.group(1)
                if not api_url:
                    raise SystemExit("hub serve did not start its API")
                throughput.drain(hub)  # a full stderr pipe would stop the hub
                for turn in range(args.rounds):
                    batch = [next(bodies) for _ in range(args.n)]
                    amqp_runs.append(amqp_round(amqp_url, batch, hub.pid))
                    batch = [next(bodies) for _ in range(args.n)]
                    http_runs.append(
                        asyncio.run(
                            pump_http(amqp_url, api_url, token, batch, args.clients, 0, hub.pid)
                        )
                    )
                    h, a = http_runs[-1], amqp_runs[-1]
                    print(
                        f"round {turn + 1}: http {h['rate']:.0f}/s, amqp {a['rate']:.0f}/s, "
                        f"ratio {h['rate'] / a['rate']:.2f}; hub cpu {h['cpu_ms']:.2f} vs "
                        f"{a['cpu_ms']:.2f} ms (event loop {h['main_cpu_ms']:.2f} vs "
                        f"{a['main_cpu_ms']:.2f}), client cpu {h['client_cpu_ms']:.2f} vs "
                        f"{a['client_cpu_ms']:.2f} ms per submission",
                        flush=True,
                    )
                http_rate = statistics.median(r["rate"] for r in http_runs)
                half = http_rate / 2
                print(f"pacing at {half:.0f}/s (half the HTTP rate) ...", flush=True)
                paced_http = asyncio.run(
                    pump_http(
                        amqp_url, api_url, token, [next(bodies) for _ in range(paced_n)],
                        args.clients, rate=half,
                    )
                )  # fmt: skip
                paced_amqp = asyncio.run(
                    throughput.pump(
                        amqp_url, "hub.inbound", "inbox.dept.culture",
                        [next(bodies) for _ in range(paced_n)], hub.pid, QUORUM, half,
                    )
                )  # fmt: skip
            finally:
                hub.terminate()
                hub.wait(30)
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", host], capture_output=True)
    ratio = statistics.median(
        h["rate"] / a["rate"] for h, a in zip(http_runs, amqp_runs, strict=True)
    )
    amqp_rate = statistics.median(r["rate"] for r in amqp_runs)
    print(
        f"\nsubmissions: {args.n} per way per round, {args.rounds} rounds (medians), hub "
        f"workers: {args.workers}, HTTP clients: {args.clients}, cores: {os.cpu_count()}"
    )
    for name, runs, rate in (("AMQP", amqp_runs, amqp_rate), ("HTTP", http_runs, http_rate)):
        cpu = statistics.median(r["cpu_ms"] for r in runs)
        client = statistics.median(r["client_cpu_ms"] for r in runs)
        print(
            f"over {name}  {rate:6.0f} submissions/s   hub cpu {cpu:.2f} ms   "
            f"client cpu {client:.2f} ms per submission"
        )
    print(
        f"paced at {half:.0f}/s over HTTP: answer (?wait) p50 {paced_http['answer_p50']:.1f} ms, "
        f"p99 {paced_http['answer_p99']:.1f} ms; in the inbox p50 {paced_http['p50']:.1f} ms, "
        f"p99 {paced_http['p99']:.1f} ms"
    )
    print(
        f"paced at {half:.0f}/s over AMQP: in the inbox p50 {paced_amqp['p50']:.1f} ms, "
        f"p99 {paced_amqp['p99']:.1f} ms"
    )
    print(f"http p99 at half rate: {paced_http['answer_p99']:.1f} ms")
    print(f"ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
