"""The execution summary over a city's years: seconds per report with 1,000,000 documents.

    .venv/bin/python bench/report.py [--documents 1000000] [--runs 5] [--keep FILE]

Fills a fresh store (SQLite, the embedded default) with documents of 50 departments and 20
executors each — about 10 % on control (deadlines around today, some overdue), 85 % executed
over the past year (four in five on time), the rest not registered — then times, through the
Store interface, what the report, the metrics and the managers' page ask: the summary for all
departments over a year, over a month, for one department, and the per-department counts.
Prints the median of ``--runs`` for each, and the store's size. Target: the summary ≤ 2 s.

The rows are written straight into the documents table (the fastest way to a million rows;
the schema is the store's own, created by opening it).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from hub.execution.policy import ExecutionPolicy  # noqa: E402
from hub.execution.settings import ExecutionConfig  # noqa: E402
from hub.store.sqlite import SqliteStore  # noqa: E402

DEPARTMENTS = [f"dept.d{n:02d}" for n in range(50)]
EXECUTORS = [f"Исполнитель {n:02d} И.И." for n in range(20)]


def fill(path: Path, count: int, today: dt.date) -> None:
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a bench fixture, not the hub's durability
    rows = []
    now = dt.datetime.now(dt.UTC).isoformat()
    for n in range(count):
        recipient = DEPARTMENTS[n % len(DEPARTMENTS)]
        sender = DEPARTMENTS[(n * 7 + 3) % len(DEPARTMENTS)]
        kind = rng.random()
        executor = deadline = executed_on = on_time = stage = number = None
        received = today - dt.timedelta(days=rng.randint(0, 400))
        if kind < 0.95:
            stage, number = "registered", f"{n}/26"
            executor = rng.choice(EXECUTORS)
            if kind < 0.10:  # on control: deadline within ±60 days of today
                deadline = today + dt.timedelta(days=rng.randint(-60, 60))
                stage = "executor_assigned"
            else:  # executed within the year
                deadline = received + dt.timedelta(days=30)
                executed_on = received + dt.timedelta(days=rng.randint(1, 40))
                on_time = int(executed_on <= deadline)
                stage = "executed"
        rows.append(
            (
                str(uuid.UUID(int=rng.getrandbits(128))), sender, recipient,
                received.isoformat(), f"Документ {n}", "normal", stage, number,
                received.isoformat() if number else None, "incoming" if number else None,
                executor, deadline.isoformat() if deadline else None,
                executed_on.isoformat() if executed_on else None, on_time, now,
            )
        )  # fmt: skip
        if len(rows) == 50_000:
            _insert(conn, rows)
            rows.clear()
    _insert(conn, rows)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _insert(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    conn.executemany(
        "INSERT INTO documents (message_id, sender, recipient, received_at, title, urgency, "
        "stage, number, registered_on, journal, executor, deadline, executed_on, "
        "executed_on_time, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.commit()


async def measure(path: Path, runs: int) -> list[tuple[str, float, int]]:
    policy = ExecutionPolicy.from_config(ExecutionConfig())
    store = await SqliteStore.open(path, policy)
    today = policy.today()
    cases = {
        "summary, all departments, a year": lambda: store.execution_summary(
            None, today - dt.timedelta(days=365), today
        ),
        "summary, all departments, a month": lambda: store.execution_summary(
            None, today - dt.timedelta(days=30), today
        ),
        "summary, one department, a year": lambda: store.execution_summary(
            DEPARTMENTS[7], today - dt.timedelta(days=365), today
        ),
        "counts per department (metrics)": store.control_counts,
    }
    results = []
    try:
        for label, case in cases.items():
            times, size = [], 0
            for _ in range(runs):
                started = time.perf_counter()
                got = await case()
                times.append(time.perf_counter() - started)
                size = len(got)
            results.append((label, statistics.median(times), size))
    finally:
        await store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="fill this store file and keep it")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-report-") as tmp:
        path = options.keep or Path(tmp) / "hub.sqlite"
        policy = ExecutionPolicy.from_config(ExecutionConfig())

        async def create() -> None:
            store = await SqliteStore.open(path, policy)
            await store.close()

        asyncio.run(create())
        started = time.perf_counter()
        fill(path, options.documents, policy.today())
        print(f"filled {options.documents} documents in {time.perf_counter() - started:.1f} s; "
              f"store {path.stat().st_size / 2**20:.0f} MB")  # fmt: skip
        for label, seconds, rows in asyncio.run(measure(path, options.runs)):
            print(f"{label:<36} {seconds * 1000:8.1f} ms  ({rows} rows)")


if __name__ == "__main__":
    main()
