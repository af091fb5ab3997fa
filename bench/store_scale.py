"""The store at a region's scale: lookups, the collector's queries and the managers' queries
with 10,000,000 stored messages, on SQLite and on PostgreSQL (issue 18: lookup by id ≤ 10 ms,
every collector and manager query ≤ 15 ms, an idle ``hub serve`` ≤ 5 % of a core).

    .venv/bin/python bench/store_scale.py --engine sqlite --messages 10000000 --keep /big/s.db
    .venv/bin/python bench/store_scale.py --engine postgresql --messages 10000000 \\
        --keep postgresql://postgres@127.0.0.1:5432/hub_scale

Fills a store (the schema is the store's own, made by opening it) with ``--messages``
messages between 50 departments over two years, written straight into the tables (indexes
and triggers off while filling, rebuilt after: the fastest way to ten million rows): each
message's envelope (``--envelope-bytes``, random), its delivery and its timeline (received,
accepted, routed, delivered, acknowledged — a rejected one: received, rejected), one in ten a
document with a card, a registration number and a deadline (some on control, some overdue).
States: 80 % acknowledged, 12 % delivered, 3 % answered, 3 % rejected, 1 % failed, the rest in
flight. ``--keep`` reuses a store that is already full.

Then times, through the Store interface (median and p99 of ``--runs``, the first run cold):
the lookup by id and a timeline (``hub trace`` asks both) — and ``hub trace`` itself as a
command; every query of the metrics collector; the managers' queries (a department's messages
of a month as sender and as recipient, delivered and not acknowledged after 3 days,
rejections of the last week, a registration number, a department's overdue documents); the
disk per million messages; and an idle ``hub serve`` over the store for ``--idle`` seconds
(metrics on): its CPU as a share of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from hub.records import DocumentQuery, MessageQuery  # noqa: E402
from hub.store import Store  # noqa: E402

DEPARTMENTS = [f"dept.d{n:02d}" for n in range(50)]
STATES = (
    [("acknowledged", 800), ("delivered", 120), ("answered", 30), ("rejected", 30),
     ("failed", 10), ("routed", 5), ("retry_scheduled", 3), ("dead_lettered", 2)]
)  # fmt: skip
CHUNK = 50_000


def state_table() -> list[str]:
    out: list[str] = []
    for state, weight in STATES:
        out += [state] * weight
    return out


def rows(
    n: int, start: int, envelope_bytes: int, end: dt.datetime
) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Chunks of rows per table, the same for both engines (seeded)."""
    rng = random.Random(1000 + start)
    states = state_table()
    span = dt.timedelta(days=730).total_seconds()
    begin = end - dt.timedelta(days=730)
    chunk: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    for i in range(start, n):
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        received = begin + dt.timedelta(seconds=span * i / n)
        at = received.isoformat(timespec="microseconds")
        later = (received + dt.timedelta(seconds=rng.randint(1, 400_000))).isoformat(
            timespec="microseconds"
        )
        recipient = rng.randrange(50)
        sender = (recipient + rng.randrange(1, 50)) % 50
        state = states[rng.randrange(len(states))]
        document = rng.random() < 0.1
        kind = "document" if document else "request"
        reason = "schema_invalid: Envelope/Content/Header/Sender" if state == "rejected" else None
        chunk["messages"].append(
            (message_id, f"{rng.getrandbits(256):064x}", DEPARTMENTS[sender],
             DEPARTMENTS[recipient], "{urn:city:memo}Memo", kind, None, message_id, None, state,
             reason, "v1", at, later if state != "rejected" else at)
        )  # fmt: skip
        chunk["envelopes"].append((message_id, rng.randbytes(envelope_bytes)))
        events = ["received"]
        if state == "rejected":
            events.append("rejected")
        else:
            events += ["accepted", "routed"]
            if state in ("delivered", "acknowledged", "answered"):
                events.append("delivered")
            if state in ("acknowledged", "answered"):
                events.append("acknowledged")
            if state not in ("delivered", "acknowledged", "routed"):
                events.append(state)
            delivery = (
                "delivered"
                if state in ("delivered", "acknowledged", "answered")
                else ("pending" if state == "routed" else state)
            )
            chunk["deliveries"].append(
                (message_id, "internal", DEPARTMENTS[recipient], delivery, 1, None, later)
            )
        for e in events:
            chunk["events"].append((message_id, e, at if e in ("received", "accepted", "routed",
                                    "rejected") else later, ""))  # fmt: skip
        if document and state != "rejected":
            day = received.date()
            number = f"{recipient + 1:02d}-{rng.randint(1, 20):02d}/{i}"
            deadline = day + dt.timedelta(days=30)
            executed = None
            if (end.date() - day).days > 60 or rng.random() < 0.5:
                executed = (day + dt.timedelta(days=rng.randint(1, 40))).isoformat()
            on_time = None if executed is None else int(executed <= deadline.isoformat())
            title = f"О предоставлении сведений № {i}"
            chunk["documents"].append(
                (message_id, DEPARTMENTS[sender], DEPARTMENTS[recipient], at, title, "normal",
                 "executed" if executed else "in_progress", number, day.isoformat(),
                 "incoming", f"executor{rng.randrange(20)}", deadline.isoformat(), executed,
                 on_time, later)
            )  # fmt: skip
        if len(chunk["messages"]) >= CHUNK:
            yield chunk
            chunk = {t: [] for t in TABLES}
    yield chunk


TABLES = {
    "messages": "message_id, digest, sender, recipient, message_type, kind, correlation_id, "
    "conversation_id, expires_at, state, reason, rules_version, received_at, updated_at",
    "envelopes": "message_id, body",
    "deliveries": "message_id, adapter, address, state, attempts, last_error, updated_at",
    "events": "message_id, state, at, detail",
    "documents": "message_id, sender, recipient, received_at, title, urgency, stage, number, "
    "registered_on, journal, executor, deadline, executed_on, executed_on_time, updated_at",
}


# ------------------------------------------------------------------------------ filling
def fill_sqlite(path: Path, n: int, envelope_bytes: int, end: dt.datetime) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a bench fixture, not the hub's durability
    conn.execute("PRAGMA cache_size=-1000000")
    done = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        f"AND sql IS NOT NULL AND tbl_name IN ({','.join('?' * len(TABLES))})",
        list(TABLES),
    ).fetchall()
    for name, sql in indexes:
        kind = "TRIGGER" if sql.upper().startswith("CREATE TRIGGER") else "INDEX"
        conn.execute(f"DROP {kind} {name}")
    started = time.monotonic()
    for chunk in rows(n, done, envelope_bytes, end):
        conn.execute("BEGIN")
        for table, columns in TABLES.items():
            marks = ",".join("?" * len(columns.split(",")))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", chunk[table])
        conn.execute("COMMIT")
        progress(conn.execute("SELECT MAX(rowid) FROM messages").fetchone()[0], n, started)
    print("\nrebuilding indexes and triggers …", flush=True)
    for _name, sql in indexes:
        conn.execute(sql)
    conn.execute("DELETE FROM state_counts")
    conn.execute("INSERT INTO state_counts SELECT state, COUNT(*) FROM messages GROUP BY state")
    conn.close()


def fill_postgres(url: str, n: int, envelope_bytes: int, end: dt.datetime) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        done = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]  # type: ignore[index]
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY(%s) AND indexname NOT LIKE '%%pkey'",
            (list(TABLES),),
        ).fetchall()
        for name, _sql in indexes:
            conn.execute(f"DROP INDEX {name}".encode())
        conn.execute("ALTER TABLE messages DISABLE TRIGGER USER")
        started = time.monotonic()
        for chunk in rows(n, done, envelope_bytes, end):
            with conn.transaction():
                for table, columns in TABLES.items():
                    with conn.cursor().copy(
                        f"COPY {table} ({columns}) FROM STDIN".encode()
                    ) as copy:
                        for row in chunk[table]:
                            copy.write_row(row)
            (count,) = conn.execute("SELECT COUNT(*) FROM messages").fetchone()  # type: ignore[misc]
            progress(count, n, started)
        print("\nrebuilding indexes …", flush=True)
        for _name, sql in indexes:
            conn.execute(sql.encode())
        conn.execute("ALTER TABLE messages ENABLE TRIGGER USER")
        conn.execute("DELETE FROM state_deltas")
        conn.execute("DELETE FROM state_counts")
        conn.execute("INSERT INTO state_counts SELECT state, COUNT(*) FROM messages GROUP BY state")
        conn.execute("VACUUM ANALYZE")


def progress(done: int, n: int, started: float) -> None:
    rate = done / max(time.monotonic() - started, 1e-9)
    print(f"\r  {done:,} of {n:,} messages ({rate:,.0f}/s)", end="", flush=True)


# ------------------------------------------------------------------------------ timing
async def timed(runs: int, fn: Callable[[], Awaitable[Any]]) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await fn()
        times.append((time.perf_counter() - t0) * 1000)
    warm = times[1:] or times
    p99 = sorted(warm)[min(len(warm) - 1, int(len(warm) * 0.99))]
    return statistics.median(warm), p99, result


async def measure(
    store: Store, sample_ids: list[str], runs: int, end: dt.datetime
) -> list[tuple[str, float, float, str]]:
    out: list[tuple[str, float, float, str]] = []
    ids = iter(sample_ids * (runs // len(sample_ids) + 2))

    async def case(name: str, fn: Callable[[], Awaitable[Any]], n: int = runs) -> None:
        median, p99, result = await timed(n, fn)
        shown = len(result) if isinstance(result, (list, dict)) else "-"
        out.append((name, median, p99, str(shown)))

    await case("lookup by id", lambda: store.get_message(next(ids)), max(runs, 200))
    await case("timeline by id", lambda: store.timeline(next(ids)), max(runs, 200))
    # the collector's queries (monitoring/collector.py), each every refresh
    await case("collector: count by state", store.count_by_state)
    await case("collector: oldest undelivered", store.oldest_undelivered_age)
    await case("collector: dead letters", store.count_dead_letters)
    last = await store.last_event_id()
    await case("collector: last event id", store.last_event_id)
    await case(
        "collector: acknowledgements since", lambda: store.acknowledgements_since(last - 2000, 1000)
    )
    await case("collector: on control by dept", store.control_counts)
    await case("collector: store size", store.size_bytes)
    # the managers' queries
    month_from = (end - dt.timedelta(days=100)).isoformat()
    month_to = (end - dt.timedelta(days=70)).isoformat()
    dept = DEPARTMENTS[7]
    await case(
        "manager: dept's messages of a month",
        lambda: store.search_messages(
            MessageQuery(parties=(dept,), received_from=month_from, received_to=month_to)
        ),
    )
    await case("manager: with a counterpart, a month", lambda: store.search_messages(
        MessageQuery(parties=(dept,), counterpart=DEPARTMENTS[8], received_from=month_from,
                     received_to=month_to)))  # fmt: skip
    three_days = (end - dt.timedelta(days=3)).isoformat()
    await case(
        "manager: not acknowledged after 3 days",
        lambda: store.search_messages(MessageQuery(state="delivered", received_to=three_days)),
    )
    await case(
        "manager: dept's, not acknowledged, 3 days",
        lambda: store.search_messages(
            MessageQuery(parties=(dept,), state="delivered", received_to=three_days)
        ),
    )
    week = (end - dt.timedelta(days=7)).isoformat()
    await case(
        "manager: rejections of the last week",
        lambda: store.search_messages(MessageQuery(state="rejected", received_from=week)),
    )
    await case(
        "manager: failed, everyone's", lambda: store.search_messages(MessageQuery(state="failed"))
    )
    today = end.date()
    number = await find_number(store, dept)
    await case(
        "manager: by registration number",
        lambda: store.search_documents(DocumentQuery(today=today, text=number)),
    )
    await case(
        "manager: dept's overdue documents",
        lambda: store.search_documents(
            DocumentQuery(today=today, parties=(dept,), direction="incoming", view="overdue")
        ),
    )
    await case(
        "manager: everyone's overdue documents",
        lambda: store.search_documents(DocumentQuery(today=today, view="overdue")),
    )
    return out


async def find_number(store: Store, dept: str) -> str:
    rows = await store.search_documents(
        DocumentQuery(today=dt.date.today(), parties=(dept,), direction="incoming", limit=500)
    )
    numbered = [r for r in rows if getattr(r, "number", None)]
    return str(numbered[-1].number) if numbered else "01-01/1"


def sample_ids(target: str, engine: str, count: int = 500) -> list[str]:
    if engine == "sqlite":
        conn = sqlite3.connect(target)
        total = conn.execute("SELECT MAX(rowid) FROM messages").fetchone()[0]
        ids = [
            conn.execute(
                "SELECT message_id FROM messages WHERE rowid = ?", (random.randrange(1, total),)
            ).fetchone()[0]
            for _ in range(count)
        ]
        conn.close()
        return ids
    import psycopg

    with psycopg.connect(target) as conn:
        return [r[0] for r in conn.execute(
            "SELECT message_id FROM messages TABLESAMPLE SYSTEM (0.01) LIMIT %s", (count,)
        ).fetchall()]  # fmt: skip


def trace_command(home: Path, message_id: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hub", "trace", message_id, "--config",
                        str(home / "hub.toml")], check=True, capture_output=True)  # fmt: skip
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def idle_serve(home: Path, seconds: float) -> float:
    """CPU of an idle ``hub serve`` over the store, as a share of one core (after start-up)."""
    env = dict(os.environ)
    command = [sys.executable, "-m", "hub", "serve", "--config", str(home / "hub.toml")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(15)  # start-up and the first refreshes
        before = cpu(proc.pid)
        time.sleep(seconds)
        used = cpu(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(30)
    return used / seconds


def cpu(pid: int) -> float:
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--envelope-bytes", type=int, default=7400)
    parser.add_argument("--keep", help="the store (a file or a URL) to fill or reuse")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--idle", type=float, default=60.0, help="seconds of idle hub serve (0: skip)"
    )
    args = parser.parse_args()
    end = dt.datetime.now(dt.UTC)
    tmp = Path(tempfile.mkdtemp(prefix="store-scale-"))
    if args.engine == "sqlite":
        target = args.keep or str(tmp / "hub.sqlite")
        url = f"sqlite:///{Path(target).resolve()}"
    else:
        target = url = args.keep or "postgresql://postgres@127.0.0.1:5432/hub_scale"
        ensure_database(url)
    from hub.scaffold import init_deployment

    home = tmp / "home"
    init_deployment(home, DEPARTMENTS[:3], metrics_address="127.0.0.1:19464",
                    api_address="127.0.0.1:18080", store_url=url)  # fmt: skip

    async def create() -> None:  # the schema, by the store itself
        await (await open_store(args.engine, target)).close()

    asyncio.run(create())
    filled = count(args.engine, target)
    if filled < args.messages:
        print(f"filling {args.engine} up to {args.messages:,} messages", flush=True)
        t0 = time.monotonic()
        if args.engine == "sqlite":
            fill_sqlite(Path(target), args.messages, args.envelope_bytes, end)
        else:
            fill_postgres(target, args.messages, args.envelope_bytes, end)
        print(f"filled in {time.monotonic() - t0:.0f} s")
    total = count(args.engine, target)
    ids = sample_ids(target, args.engine)

    async def run() -> tuple[list[tuple[str, float, float, str]], int]:
        store = await open_store(args.engine, target)
        try:
            return await measure(store, ids, args.runs, end), await store.size_bytes()
        finally:
            await store.close()

    results, size = asyncio.run(run())
    per_million = size / total * 1e6 / 1e9
    print(f"\n{args.engine}: {total:,} messages, {size / 1e9:.1f} GB ({per_million:.2f} GB per "
          f"million; envelopes of {args.envelope_bytes} B)")  # fmt: skip
    print(f"{'query':45} {'median ms':>10} {'p99 ms':>8}  rows")
    for name, median, p99, size_ in results:
        target_ms = 10 if name.startswith("lookup") else 15
        verdict = "ok" if median <= target_ms else f"OVER {target_ms} ms"
        print(f"{name:45} {median:10.2f} {p99:8.2f}  {size_:>6}  {verdict}")
    print(f"hub trace (the command, wall): {trace_command(home, ids[0]):.0f} ms")
    if args.idle:
        share = idle_serve(home, args.idle)
        print(f"idle hub serve: {share * 100:.1f} % of a core over {args.idle:.0f} s")


async def open_store(engine: str, target: str) -> Store:
    if engine == "sqlite":
        from hub.store.sqlite import SqliteStore

        return await SqliteStore.open(Path(target))
    from hub.store.postgres import PostgresStore

    return await PostgresStore.open(target)


def ensure_database(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"'.encode())


def count(engine: str, target: str) -> int:
    if engine == "sqlite":
        conn = sqlite3.connect(target)
        try:
            return int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM messages").fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(target) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])  # type: ignore[index]


if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = 1 << 16
    main()
