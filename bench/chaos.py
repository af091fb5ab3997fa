"""Crash and outage scenarios against a real RabbitMQ (and the embedded mode), with counts.

    .venv/bin/python bench/chaos.py [-n 2000] [--cut 10] [--down 60] [--embedded]

1. kill -9 of `hub serve` (and its worker processes) in the middle of a load of N envelopes,
   then a restart;
2. the hub's broker connection cut through a TCP proxy for --cut seconds under load;
3. a remote destination down for --down seconds (circuit breaker, delayed retries).

Prints sent / delivered / lost / duplicated for each (duplicated: extra copies of a MessageId
that reached the recipient's inbox; `hub inbox` shows each MessageId once). Needs rabbitmqctl.
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
from tests.support.scenarios import (  # noqa: E402
    Counts,
    broker_cut,
    destination_down,
    kill_and_restart,
)


async def run(args: argparse.Namespace) -> list[Counts]:
    results: list[Counts] = []
    vhost = new_vhost()
    if vhost is None:
        raise SystemExit("rabbitmqctl is needed (a fresh vhost per run)")
    url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    try:
        with tempfile.TemporaryDirectory(prefix="hub-chaos-") as tmp:
            base = Path(tmp)
            print("rabbitmq: kill -9 ...", flush=True)
            results.append(await kill_and_restart(base / "kill", url, args.n))
            print(results[-1].line(), flush=True)
            print("rabbitmq: broker cut ...", flush=True)
            results.append(await broker_cut(base / "cut", url, min(args.n, 1000), args.cut))
            print(results[-1].line(), flush=True)
            print("rabbitmq: destination down ...", flush=True)
            results.append(await destination_down(base / "down", url, 200, args.down))
            print(results[-1].line(), flush=True)
            if args.embedded:
                print("embedded: kill -9 ...", flush=True)
                results.append(await kill_and_restart(base / "kill-embedded", "", args.n))
                results[-1].scenario = "embedded " + results[-1].scenario
                print(results[-1].line(), flush=True)
    finally:
        drop_vhost(vhost)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--cut", type=float, default=10.0, help="seconds the broker is cut off")
    parser.add_argument("--down", type=float, default=60.0, help="seconds the destination is down")
    parser.add_argument("--embedded", action="store_true", help="also kill -9 the embedded mode")
    results = asyncio.run(run(parser.parse_args()))
    print("\nscenario                      sent  delivered  lost  duplicated")
    for r in results:
        print(f"{r.scenario[:28]:<28} {r.sent:>5} {r.delivered:>10} {r.lost:>5} {r.duplicated:>11}")
    sys.exit(1 if any(r.lost for r in results) else 0)


if __name__ == "__main__":
    main()
