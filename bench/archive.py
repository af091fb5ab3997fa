"""The archive's figures (docs/archive.md): what appending costs the ingest transaction, how fast
proofs come out of a ten-million-entry log, and how fast bundles export and verify.

    .venv/bin/python bench/archive.py [--messages 20000] [--log 10000000] [--bundle 100000]
        [--postgres URL] [--keep DIR]

1. Append cost: ``--messages`` decisions stored through ``Store.record_ingest`` in batches of 128
   (the hub's batch size) — each makes an envelope entry and three events, so four leaves. The
   leaves' share is timed inside the write (``entries.canonical`` + ``sql_archive.append``:
   entries made, hashed and queued as pending rows) and printed per entry; the same run without
   the archive (made no-ops) gives the whole ingest's cost for comparison; then the sequencer's
   integration of them (off the hot path) is timed. SQLite, and PostgreSQL with ``--postgres``.
2. Proofs at ``--log`` entries: a synthetic log — leaf hashes of ``b"synthetic <n>"`` appended in
   chunks of 65,536 through the store's own ``place`` (leaves and nodes as the hub writes them;
   no envelopes or events behind them) into a SQLite file (kept in ``--keep`` for later runs) —
   then 1,000 inclusion proofs of random entries and 100 consistency proofs, each checked;
   median and 99th percentile.
4. Two nodes (``--postgres`` only): two stores on that database — each its own pool, as two
   hub nodes have — write at once, first only audit-log rows (what the archive logs besides the
   messages: nothing else in those writes can conflict), then ``--messages`` ingested each;
   writes per second and the batches PostgreSQL refused and the store ran again.
3. Export: ``--bundle`` messages (5 KB envelopes) stored as above, exported whole with
   ``hub.ops.archive.export``, then verified with ``verify_bundle`` and the hub's certificate,
   each in a process of its own: entries per second both ways, each one's peak RSS, and the
   bundle's size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from hub.abc import Destination  # noqa: E402
from hub.archive import entries  # noqa: E402
from hub.archive.entries import Entry  # noqa: E402
from hub.archive.merkle import verify_consistency, verify_inclusion  # noqa: E402
from hub.records import Outgoing, Processed  # noqa: E402
from hub.store import open_store, sql_archive  # noqa: E402
from hub.store.base import Store  # noqa: E402

BATCH = 128
INTERNAL = Destination("internal", "dept.culture")


def decision(body: bytes) -> Processed:
    return Processed(
        message_id=str(uuid.uuid4()), state="accepted", envelope=body, code=None, reasons=[],
        sender="dept.finance", recipient="dept.culture", message_type="{urn:x}Memo",
        kind="notification", correlation_id=None, digest=os.urandom(16).hex(), rule="r1",
        rules_version="v1", outgoing=[Outgoing("internal", "dept.culture", b"<c/>")],
    )  # fmt: skip


class Timed:
    """The archive's functions wrapped so the time spent in them is summed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.entries = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


async def ingest(store: Store, count: int, body_size: int = 600) -> float:
    body = b"<Envelope>" + b"x" * body_size + b"</Envelope>"
    start = time.perf_counter()
    pending = []
    for _ in range(count // BATCH):
        batch = [decision(body) for _ in range(BATCH)]
        pending.append(store.record_ingest(batch, [None] * BATCH, [None] * BATCH))
        if len(pending) >= 4:  # a few batches in flight, as the pipeline has
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    return time.perf_counter() - start


async def append_cost(url_or_path: str | Path, messages: int, label: str) -> None:
    append, canonical, envelope = sql_archive.append, entries.canonical, entries.envelope
    flush = sql_archive.flush
    timer = Timed()
    sql_archive.append = timer.wrap(append)  # type: ignore[assignment]
    sql_archive.flush = timer.wrap(flush)  # type: ignore[assignment]
    entries.canonical = timer.wrap(canonical)  # type: ignore[assignment]
    store = await open_store(url_or_path)
    try:
        seconds = await ingest(store, messages)
        pending = len(await store.archive_pending())
        start = time.perf_counter()
        await store.archive_integrate()
        sequenced = time.perf_counter() - start
        count = await store.archive_size()
    finally:
        await store.close()
        sql_archive.append, entries.canonical = append, canonical  # type: ignore[assignment]
        sql_archive.flush = flush  # type: ignore[assignment]
    off: Callable[..., Any] = lambda *a: None  # noqa: E731
    sql_archive.append = off  # type: ignore[assignment]
    entries.canonical = lambda *a: b""  # type: ignore[assignment]
    entries.envelope = lambda *a: Entry("envelope", "", None, "", b"")  # type: ignore[assignment]
    store = await open_store(_fresh(url_or_path))
    try:
        bare = await ingest(store, messages)
    finally:
        await store.close()
        sql_archive.append, entries.canonical = append, canonical  # type: ignore[assignment]
        entries.envelope = envelope  # type: ignore[assignment]
    print(
        f"[{label}] append: {timer.seconds / pending * 1e6:.1f} µs/entry inside the write "
        f"(entries made, hashed, inserted as pending rows: {pending} entries of {messages} "
        f"messages); ingest {seconds / messages * 1e6:.0f} µs/message with the archive, "
        f"{bare / messages * 1e6:.0f} without (difference {(seconds - bare) / pending * 1e6:+.1f}"
        f" µs/entry); the sequencer, off the hot path: {sequenced / count * 1e6:.1f} µs/entry "
        f"({count} integrated in {sequenced:.2f} s)"
    )


def _fresh(url_or_path: str | Path) -> str | Path:
    if isinstance(url_or_path, Path):
        return url_or_path.with_name(url_or_path.stem + "-bare.sqlite")
    return url_or_path


async def synthetic_log(path: Path, size: int) -> Store:
    store = await open_store(path)
    have = await store.archive_size()
    chunk = 65_536
    started = time.perf_counter()
    while have < size:
        n = min(chunk, size - have)
        new = [Entry("event", str(i), None, "2026-01-01", b"synthetic %d" % i)
               for i in range(have, have + n)]  # fmt: skip

        def run(conn: Any, new: list[Entry] = new, have: int = have) -> None:
            sql_archive.place(conn, have, new)

        await store.database.write(run)  # type: ignore[attr-defined]
        have += n
        if have % (chunk * 16) == 0 or have == size:
            print(f"  synthetic log: {have:,} entries ({time.perf_counter() - started:.0f} s)")
    return store


async def proofs(path: Path, size: int) -> None:
    store = await synthetic_log(path, size)
    try:
        root = await store.archive_root(size)
        times = []
        for _ in range(1000):
            index = random.randrange(size)
            start = time.perf_counter()
            leaf, path_ = await store.archive_inclusion(index, size)
            times.append(time.perf_counter() - start)
            verify_inclusion(leaf.hash, index, size, path_, root)
        old_times = []
        for _ in range(100):
            old = random.randrange(1, size)
            start = time.perf_counter()
            proof = await store.archive_consistency(old, size)
            old_times.append(time.perf_counter() - start)
            verify_consistency(old, size, await store.archive_root(old), root, proof)
    finally:
        await store.close()
    print(
        f"[sqlite] inclusion proof at {size:,} entries: median "
        f"{statistics.median(times) * 1e3:.2f} ms, p99 "
        f"{statistics.quantiles(times, n=100)[98] * 1e3:.2f} ms; consistency proof median "
        f"{statistics.median(old_times) * 1e3:.2f} ms (1,000 and 100 proofs, each verified)"
    )


async def export_rate(directory: Path, messages: int) -> None:
    from hub.config import load_config
    from hub.scaffold import init_deployment

    config_path = init_deployment(directory / "deploy", ["dept.finance", "dept.culture"], "")
    config = load_config(config_path)
    store = await open_store(config)
    try:
        await ingest(store, messages, body_size=5000)
        await store.archive_integrate()
    finally:
        await store.close()
    out = directory / "bundle.zip"
    made = child("export", str(config_path), str(out))
    checked = child("verify", str(config_path), str(out))
    print(
        f"[sqlite] export: {made['messages']:,} messages, {made['entries']:,} entries in "
        f"{made['seconds']:.1f} s ({made['entries'] / made['seconds']:,.0f} entries/s, "
        f"{made['messages'] / made['seconds']:,.0f} messages/s), "
        f"{out.stat().st_size / 1e6:.0f} MB, peak RSS {made['rss_mb']:.0f} MB (anonymous "
        f"{made['anon_mb']:.0f} MB); offline verify: {checked['seconds']:.1f} s "
        f"({checked['entries'] / checked['seconds']:,.0f} entries/s), peak RSS "
        f"{checked['rss_mb']:.0f} MB (anonymous {checked['anon_mb']:.0f} MB), ok"
    )


def child(what: str, config: str, bundle: str) -> dict[str, float]:
    """``export`` or ``verify`` in a process of its own: its time, counts and peak RSS."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", what, config, bundle], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = status
    if status:
        raise SystemExit(f"{what} failed ({status})")
    result: dict[str, float] = json.loads(output)
    result["rss_mb"] = usage.ru_maxrss / 1024  # KB on Linux
    return result


async def run_child(what: str, config_path: str, bundle: str) -> None:
    from envelopes.pki import load_certificate
    from hub.archive.bundle import verify_bundle
    from hub.config import load_config
    from hub.ops.archive import export
    from hub.store.bundle_spool import SqliteSpool

    config = load_config(Path(config_path))
    peak = [0.0]
    threading.Thread(target=_sample_anon, args=(peak,), daemon=True).start()
    start = time.perf_counter()
    if what == "export":
        store = await open_store(config)
        try:
            done = await export(store, config, Path(bundle), since="2000-01-01")
        finally:
            await store.close()
        counts = {"messages": done.messages, "entries": done.entries}
    else:
        cert = load_certificate(config.path(config.pki.cert))
        verified = verify_bundle(Path(bundle), cert, SqliteSpool)
        counts = {"messages": len(verified.messages), "entries": verified.entries}
    seconds = time.perf_counter() - start
    print(json.dumps({**counts, "seconds": seconds, "anon_mb": peak[0]}))


def _sample_anon(peak: list[float]) -> None:
    """The process's anonymous memory (its heap: not the store's file mapped by SQLite's
    mmap, which the peak RSS counts), its maximum sampled every 20 ms."""
    while True:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 1024)
        time.sleep(0.02)


async def two_nodes(url: str, messages: int) -> None:
    for what in ("audit rows", "messages"):
        stores = [await open_store(url) for _ in range(2)]
        try:
            before = [s.database.retries for s in stores]  # type: ignore[attr-defined]
            start = time.perf_counter()
            if what == "audit rows":
                await asyncio.gather(*(_audit_rows(s, 3000, n) for n, s in enumerate(stores)))
                count = 6000
            else:
                await asyncio.gather(*(ingest(s, messages) for s in stores))
                count = 2 * messages
            took = time.perf_counter() - start
            retried = sum(
                s.database.retries - b  # type: ignore[attr-defined]
                for s, b in zip(stores, before, strict=True)
            )
            await stores[0].archive_integrate()
        finally:
            for s in stores:
                await s.close()
        print(
            f"[postgresql] two nodes writing {count} {what} at once: {count / took:,.0f}/s, "
            f"{retried} batches refused and run again"
        )


async def _audit_rows(store: Store, count: int, node: int) -> None:
    for start in range(0, count, 64):
        await asyncio.gather(
            *(
                store.audit(f"admin@{node}", "cli", "token.create", f"t{i}", "bench", "{}")
                for i in range(start, min(count, start + 64))
            )
        )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--log", type=int, default=10_000_000)
    parser.add_argument("--bundle", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database or schema)")
    parser.add_argument("--keep", type=Path, help="keep the synthetic log here between runs")
    parser.add_argument("--only", choices=["append", "proofs", "export", "nodes"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        await run_child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.only in (None, "append"):
            await append_cost(directory / "append.sqlite", args.messages, "sqlite")
            if args.postgres:
                await append_cost(args.postgres, args.messages, "postgresql")
        if args.only in (None, "nodes") and args.postgres:
            await two_nodes(args.postgres, args.messages // 2)
        if args.only in (None, "proofs"):
            keep = args.keep or directory
            keep.mkdir(parents=True, exist_ok=True)
            await proofs(keep / f"log-{args.log}.sqlite", args.log)
        if args.only in (None, "export"):
            await export_rate(directory, args.bundle)


if __name__ == "__main__":
    asyncio.run(main())
