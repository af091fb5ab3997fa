"""The event loop's CPU per confirmed publish: coalesced (hub/transports/publish_batch.py)
against aiormq's ``basic_publish`` one by one.

    .venv/bin/python bench/publish.py [-n 4000] [--at-once 128] [--rounds 5] [--size 6500]

``RabbitTransport.publish`` to a quorum queue on the local RabbitMQ, ``--at-once`` publishes
in flight together (an ingest batch puts ~128 deliveries and ~128 receipts out at once), and
with ``--at-once 1`` one at a time (a city's rate). Both ways run in the same process on the
same connection settings, the order alternating per round (decision 0025); printed: medians of
the loop thread's CPU per publish, and publishes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throughput import vhost
from hub.transports.rabbitmq import RabbitTransport

QUEUE = "inbox.bench.publish"


async def one_round(
    url: str, coalesce: bool, n: int, at_once: int, body: bytes
) -> tuple[float, float]:
    transport = RabbitTransport(url, coalesce_publishes=coalesce)
    await transport.start()
    try:
        await transport.declare_queue(QUEUE)
        await transport.publish(QUEUE, body)  # the publishing channel is open before timing

        async def publish() -> None:
            headers = {
                "message-id": str(uuid.uuid4()),
                "sender": "hub",
                "kind": "receipt",
                "receipt-state": "delivered",
            }
            await transport.publish(QUEUE, body, headers)

        cpu, wall = time.thread_time(), time.perf_counter()
        for start in range(0, n, at_once):
            await asyncio.gather(*(publish() for _ in range(min(at_once, n - start))))
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        return cpu / n * 1e6, n / wall
    finally:
        await transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000)
    parser.add_argument("--at-once", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=6500, help="body bytes")
    args = parser.parse_args()
    host = vhost()
    url = f"amqp://guest:guest@127.0.0.1:5672/{host}"
    body = b"<x>" + b"a" * max(0, args.size - 7) + b"</x>"
    try:
        import uvloop

        figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for round_ in range(args.rounds):
            order = (True, False) if round_ % 2 == 0 else (False, True)
            for coalesce in order:
                figures[coalesce].append(
                    uvloop.run(one_round(url, coalesce, args.n, args.at_once, body))
                )
        print(
            f"{args.n} publishes of {len(body)} bytes, {args.at_once} at once, {args.rounds} "
            "rounds (order alternating); medians"
        )
        for coalesce, name in ((False, "one by one (basic_publish)"), (True, "coalesced")):
            cpu = statistics.median(c for c, _ in figures[coalesce])
            rate = statistics.median(r for _, r in figures[coalesce])
            print(f"{name:28} loop cpu {cpu:6.0f} µs/publish   {rate:7.0f} publishes/s")
        ratio = statistics.median(c for c, _ in figures[True]) / statistics.median(
            c for c, _ in figures[False]
        )
        print(f"coalesced ÷ one by one, loop cpu per publish: {ratio:.2f}")
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", host], capture_output=True)


if __name__ == "__main__":
    main()
