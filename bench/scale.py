"""Scale-out: the hub on PostgreSQL with 1, 2 and 3 nodes against 1 node on SQLite, in one run.

    .venv/bin/python bench/scale.py [-n 2000] [--rounds 3] [--nodes 1,2,3] [--workers 1]
        [--code NAME=DIR]...

Each configuration gets a fresh RabbitMQ vhost (and, on PostgreSQL, a fresh database); its
``hub serve`` processes start, N signed ~5 KB envelopes from dept.finance to dept.culture go
through them (all queued at once, as bench/throughput.py does), and they stop again. The
configurations take turns round by round, with the bare relay of bench/throughput.py in the
same rotation, so that all see the same moods of a shared machine. Prints msg/s, p50/p99,
CPU per message of all the hub processes together, the PostgreSQL server's CPU per message,
the transactions PostgreSQL rolled back (a batch refused as a serialization failure is rolled
back and run again: the nodes' conflicts), and each configuration's ratio to the bare relay:
medians over the rounds.
With ``--code`` (given twice or more: a checkout before a change and one after, say), the
PostgreSQL configurations run once per tree of code (its ``hub`` imported from DIR), in the
same rotation, and SQLite is left out. Needs RabbitMQ and PostgreSQL on 127.0.0.1 (and
rabbitmqctl).
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
import uuid
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for throughput's helpers only

import throughput  # noqa: E402

from hub.scaffold import init_deployment  # noqa: E402

PG_SERVER = os.environ.get("HUB_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
QUORUM: dict[str, object] = {"x-queue-type": "quorum"}


def postgres_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def postgres_cpu() -> float:
    return sum(throughput.cpu_seconds(pid, tree=False) for pid in postgres_pids())


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.encode())


def rollbacks(database: str) -> int:
    """Transactions rolled back in ``database`` so far (the hub's retried batches)."""
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_rollback FROM pg_stat_database WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


def run_configuration(
    tmp: Path, store: str, nodes: int, workers: int, bodies: list[bytes], code: str = ""
) -> dict[str, float]:
    """Start ``nodes`` hub processes on a fresh vhost (and database), pump, stop."""
    host = throughput.vhost()
    url = f"amqp://guest:guest@127.0.0.1:5672/{host}"
    database = f"hub_bench_{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
    if store == "postgresql":
        admin(f'CREATE DATABASE "{database}"')
        env["HUB_STORE__URL"] = f"{PG_SERVER}/{database}"
    processes: list[subprocess.Popen[str]] = []
    result: dict[str, float] = {}
    try:
        config = tmp / f"{store}-{nodes}-{host}" / "hub.toml"
        directory = config.parent
        init_deployment(
            directory, ["dept.finance", "dept.culture"], url,
            metrics_address="127.0.0.1:0", api_address="127.0.0.1:0",
        )  # fmt: skip
        text = re.sub(r"(?m)^workers = \d+$", f"workers = {workers}", config.read_text())
        config.write_text(text)
        # the keys of the first deployment sign the envelopes: every deployment trusts them
        pki = tmp / "pki"
        for file in pki.iterdir():
            (directory / "pki" / file.name).write_bytes(file.read_bytes())
        for index in range(nodes):
            node_env = {**env, "HUB_DATA_DIR": str(directory / f"data-{index}")}
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hub", "serve", "--config", str(config)],
                    stderr=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    text=True,
                    env=node_env,
                    cwd=code or None,  # `-m` puts the working directory first on the path
                )
            )
            throughput.wait_ready(processes[-1], "serving on")
            throughput.drain(processes[-1])  # a full stderr pipe would stop the node
        pg0 = postgres_cpu() if store == "postgresql" else 0.0
        cpu0 = sum(throughput.cpu_seconds(p.pid) for p in processes)
        result.update(
            asyncio.run(
                throughput.pump(url, "hub.inbound", "inbox.dept.culture", bodies, None, QUORUM)
            )
        )
        cpu = sum(throughput.cpu_seconds(p.pid) for p in processes) - cpu0
        result["cpu_ms"] = cpu / len(bodies) * 1000
        result["pg_cpu_ms"] = (
            (postgres_cpu() - pg0) / len(bodies) * 1000 if store == "postgresql" else 0.0
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)
        if store == "postgresql":
            time.sleep(1.0)  # the backends report their counts as they exit
            result["rollbacks"] = float(rollbacks(database))
        subprocess.run(["rabbitmqctl", "delete_vhost", host], capture_output=True)
        if store == "postgresql":
            admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return result


def run_bare(bodies: list[bytes]) -> dict[str, float]:
    host = throughput.vhost()
    url = f"amqp://guest:guest@127.0.0.1:5672/{host}"
    relay = subprocess.Popen(
        [sys.executable, "-c", throughput.RELAY, url, "bench.relay.in", "bench.relay.out", "128"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        throughput.wait_ready(relay, "ready")
        return asyncio.run(
            throughput.pump(url, "bench.relay.in", "bench.relay.out", bodies, relay.pid, QUORUM)
        )
    finally:
        relay.terminate()
        relay.wait(30)
        subprocess.run(["rabbitmqctl", "delete_vhost", host], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", default="1,2,3", help="PostgreSQL node counts to run")
    parser.add_argument("--workers", type=int, default=1, help="crypto workers per node")
    parser.add_argument("--code", action="append", default=[], help="NAME=DIR: hub from DIR")
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(",")]
    codes = [tuple(c.split("=", 1)) for c in args.code]
    configurations: list[tuple[str, str, int, str]] = (
        [(f"{name} pg x{n}", "postgresql", n, str(Path(d).resolve())) for name, d in codes
         for n in counts]
        if codes
        else [("sqlite x1", "sqlite", 1, "")] + [(f"postgresql x{n}", "postgresql", n, "")
                                                 for n in counts]
    )  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hub-scale-") as tmp_name:
        tmp = Path(tmp_name)
        init_deployment(tmp / "keys", ["dept.finance", "dept.culture"], "")
        (tmp / "pki").mkdir()
        for file in (tmp / "keys" / "pki").iterdir():
            (tmp / "pki" / file.name).write_bytes(file.read_bytes())
        per_round = len(configurations) + 1
        total = args.n * args.rounds * per_round
        print(f"preparing {total} signed envelopes ...", flush=True)
        bodies = throughput.make_envelopes(tmp / "pki", total)
        size = statistics.mean(len(b) for b in bodies)
        chunks = iter(bodies[i : i + args.n] for i in range(0, total, args.n))
        for turn in range(args.rounds):
            line = []
            for name, store, nodes, code in configurations:
                result = run_configuration(tmp, store, nodes, args.workers, next(chunks), code)
                runs.setdefault(name, []).append(result)
                line.append(f"{name} {result['rate']:.0f}")
            bare = run_bare(next(chunks))
            runs.setdefault("bare relay", []).append(bare)
            line.append(f"bare {bare['rate']:.0f}")
            print(f"round {turn + 1}: " + ", ".join(line) + " msg/s", flush=True)
    bare_rates = [r["rate"] for r in runs["bare relay"]]
    print(
        f"\nmessages: {args.n} x {size / 1024:.1f} KB per configuration and round, "
        f"{args.rounds} rounds (medians), crypto workers per node: {args.workers}, "
        f"cores: {os.cpu_count()}"
    )
    print(
        f"{'':<20}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'hub cpu':>10}{'pg cpu':>9}"
        f"{'ratio':>7}{'rollbacks':>11}"
    )
    for name, results in runs.items():
        m = throughput.median_run(results)
        ratio = statistics.median(r["rate"] / b for r, b in zip(results, bare_rates, strict=True))
        print(
            f"{name:<20}{m['rate']:>8.0f}{m['p50']:>9.0f}{m['p99']:>9.0f}"
            f"{m['cpu_ms']:>10.2f}{m.get('pg_cpu_ms', 0.0):>9.2f}{ratio:>7.2f}"
            f"{statistics.median(r.get('rollbacks', 0.0) for r in results):>11.0f}"
        )
    print("(cpu: ms per message, all hub processes of the configuration together; ratio: to "
          "the bare relay of the same round; rollbacks: PostgreSQL transactions rolled back, "
          "the retried batches)")  # fmt: skip


if __name__ == "__main__":
    main()
