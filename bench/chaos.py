"""Crash and outage scenarios against a real RabbitMQ (and the embedded mode), with counts.

    .venv/bin/python bench/chaos.py [-n 2000] [--cut 10] [--down 60] [--embedded]
    .venv/bin/python bench/chaos.py --scenario hub-node --scenario rabbitmq-node \
        --scenario postgres-restart [-n 1500] [--rate 150] [--pg-down 5]

1. kill -9 of `hub serve` (and its worker processes) in the middle of a load of N envelopes,
   then a restart (``--scenario kill``);
2. the hub's broker connection cut through a TCP proxy for --cut seconds under load (``cut``);
3. a remote destination down for --down seconds (circuit breaker, delayed retries; ``down``);
4. scale-out, under a steady load of --rate envelopes a second (tests/support/scale.py):
   ``hub-node``: three hubs on one PostgreSQL store, one killed -9, the others finish its work;
   ``rabbitmq-node``: a node of a three-node RabbitMQ cluster (started here, on loopback ports)
   killed -9 under the hub; ``postgres-restart``: PostgreSQL stopped for --pg-down seconds and
   started again under the hub (with pg_ctlcluster: see tests/support/postgres.py).

The first three run by default. Prints sent / delivered / lost / duplicated for each
(duplicated: extra copies of a MessageId that reached the recipient's inbox; `hub inbox` shows
each MessageId once), and what else a scenario counted. Needs rabbitmqctl; the scale-out ones
PostgreSQL on 127.0.0.1:5432 and rabbitmq-server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/envelopes.py would shadow the envelopes package: use the repository root instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from tests.hub.harness import drop_vhost, new_vhost  # noqa: E402
from tests.support import postgres  # noqa: E402
from tests.support.rabbit_cluster import RabbitCluster, rabbitmq_scripts  # noqa: E402
from tests.support.scale import (  # noqa: E402
    broker_node_killed,
    hub_node_killed,
    postgres_restarted,
)
from tests.support.scenarios import (  # noqa: E402
    Counts,
    broker_cut,
    destination_down,
    kill_and_restart,
)

SCENARIOS = ["kill", "cut", "down", "hub-node", "rabbitmq-node", "postgres-restart"]


def store_schema() -> tuple[str, str]:
    if not postgres.postgres_available():
        raise SystemExit("PostgreSQL on 127.0.0.1:5432 is needed for this scenario")
    return postgres.new_schema()


async def run(args: argparse.Namespace) -> list[Counts]:
    results: list[Counts] = []
    chosen = args.scenario or ["kill", "cut", "down"]
    vhost = new_vhost()
    if vhost is None:
        raise SystemExit("rabbitmqctl is needed (a fresh vhost per run)")
    url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"

    def done(counts: Counts) -> None:
        results.append(counts)
        print(counts.line(), flush=True)

    try:
        with tempfile.TemporaryDirectory(prefix="hub-chaos-") as tmp:
            base = Path(tmp)
            if "kill" in chosen:
                print("rabbitmq: kill -9 ...", flush=True)
                done(await kill_and_restart(base / "kill", url, args.n))
            if "cut" in chosen:
                print("rabbitmq: broker cut ...", flush=True)
                done(await broker_cut(base / "cut", url, min(args.n, 1000), args.cut))
            if "down" in chosen:
                print("rabbitmq: destination down ...", flush=True)
                done(await destination_down(base / "down", url, 200, args.down))
            if args.embedded:
                print("embedded: kill -9 ...", flush=True)
                counts = await kill_and_restart(base / "kill-embedded", "", args.n)
                counts.scenario = "embedded " + counts.scenario
                done(counts)
            if "hub-node" in chosen:
                print("three hubs on PostgreSQL, one killed -9 ...", flush=True)
                schema, store_url = store_schema()
                try:
                    done(await hub_node_killed(base / "hubs", url, store_url, args.n, args.rate))
                finally:
                    postgres.drop_schema(schema)
            if "rabbitmq-node" in chosen:
                if rabbitmq_scripts() is None:
                    raise SystemExit("rabbitmq-server is needed for --scenario rabbitmq-node")
                print("starting a three-node RabbitMQ cluster ...", flush=True)
                cluster = RabbitCluster(base / "cluster")
                try:
                    cluster.start()
                    print("a RabbitMQ cluster node killed -9 ...", flush=True)
                    done(
                        await broker_node_killed(
                            base / "node", cluster, cluster.new_vhost(), args.n, args.rate
                        )
                    )
                finally:
                    cluster.stop()
            if "postgres-restart" in chosen:
                print("PostgreSQL restarted ...", flush=True)
                schema, store_url = store_schema()
                try:
                    done(
                        await postgres_restarted(
                            base / "pg", url, store_url, args.n, args.rate, args.pg_down
                        )
                    )
                finally:
                    postgres.ensure_postgres_up()
                    postgres.drop_schema(schema)
    finally:
        drop_vhost(vhost)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--cut", type=float, default=10.0, help="seconds the broker is cut off")
    parser.add_argument("--down", type=float, default=60.0, help="seconds the destination is down")
    parser.add_argument("--embedded", action="store_true", help="also kill -9 the embedded mode")
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS, help="run this one (repeatable)"
    )
    parser.add_argument("--rate", type=float, default=150.0, help="scale-out load, envelopes/s")
    parser.add_argument("--pg-down", type=float, default=5.0, help="seconds PostgreSQL is down")
    results = asyncio.run(run(parser.parse_args()))
    print("\nscenario                          sent  delivered  lost  duplicated  seconds")
    for r in results:
        print(
            f"{r.scenario[:32]:<32} {r.sent:>5} {r.delivered:>10} {r.lost:>5} "
            f"{r.duplicated:>11} {r.seconds:>8.1f}"
        )
    sys.exit(1 if any(r.lost for r in results) else 0)


if __name__ == "__main__":
    main()
