"""A large attachment end to end: department → hub → department, by reference.

    .venv/bin/python bench/attachments.py [--size-mb 1024] [--rabbitmq] [--smev]

An embedded ``hub serve`` (its own process tree; with ``--rabbitmq``, on the RabbitMQ on
127.0.0.1 in a fresh vhost, made and dropped with rabbitmqctl) and two departments working
remotely over the HTTP API, as a department on another machine does: dept.finance builds an
envelope with ``hub envelope new --attach`` (the file goes by reference), signs it and sends
it with ``hub send --url`` (the blob is uploaded, streamed, then the envelope submitted);
dept.culture takes it with ``hub inbox --url -o`` (the envelope, then the blob downloaded,
streamed, and checked against the signed SHA-256). Prints each step's time and MB/s, the peak
RSS of every process (the hub's main process and its workers sampled every 50 ms and the
kernel's VmHWM; each client's from the kernel when it exits), and the largest message the
queues carried (embedded: the biggest row the ``queue`` table held, sampled; RabbitMQ: the
envelope as delivered).

``--smev``: the same file goes to an agency through the SMEV 3 simulator instead (run in this
process, with its FTP file storage): dept.finance sends it to agency.rosreestr, the hub's SMEV
adapter streams the blob to the simulator's FTP storage (RefAttachmentHeader), the simulator
checks it and answers with a copy (FSAttachment), the adapter streams that into a blob, and
dept.finance takes the answer with ``hub inbox -o`` (the file downloaded and checked).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

_spec = importlib.util.spec_from_file_location("bench_throughput", HERE / "throughput.py")
assert _spec is not None and _spec.loader is not None
throughput: Any = importlib.util.module_from_spec(_spec)  # its process-tree helpers
_spec.loader.exec_module(throughput)

from hub.scaffold import init_deployment  # noqa: E402

HUB = [sys.executable, "-m", "hub"]
MEMO = HERE.parent / "xsd" / "examples" / "memo.xml"
EXTRACT = HERE.parent / "xsd" / "examples" / "extract-request.xml"
SMEV_RULES = """\
rules:
  - name: agencies-over-smev
    priority: 100
    match:
      recipient: "agency.*"
    deliver:
      - adapter: smev
        address: ROSREESTR
access:
  rights:
    - name: bench-departments-to-agencies
      senders: "dept.*"
      recipients: "agency.*"
    - name: bench-agencies-to-departments
      senders: "agency.*"
      recipients: "dept.*"
"""


class Simulator(threading.Thread):
    """The SMEV 3 simulator with its FTP file storage, on its own event loop in this process
    (so its memory is not the hub's); it answers every request with the sample extract, and
    the answer echoes the request's files."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.ready = threading.Event()
        self.sim: object = None
        self._halt: object = None

    def run(self) -> None:
        import asyncio

        from lxml import etree

        from adapters.smev.simulator import SmevSimulator

        answer = etree.parse(str(HERE.parent / "xsd" / "examples" / "extract-response.xml"))

        async def main() -> None:
            sim = SmevSimulator(
                responder=lambda content, kind: answer.getroot(),
                mnemonics={"hub-is": "HUB01"}, file_storage=True, emit_statuses=False,
            )  # fmt: skip
            await sim.start()
            stop = asyncio.Event()
            self.sim, self._halt = sim, (asyncio.get_running_loop(), stop)
            self.ready.set()
            await stop.wait()
            await sim.stop()

        asyncio.run(main())

    def stop(self) -> None:
        loop, event = self._halt  # type: ignore[misc]
        loop.call_soon_threadsafe(event.set)
        self.join(30)


def smev_settings(work: Path, sim: object) -> str:
    """``[adapters.smev]`` for the simulator: a development GOST key, its CA trusted, files
    above 1 MiB through the file storage."""
    from adapters.smev.crypto.dev_ca import issue_gost_certificate

    keys = work / "smev-pki"
    keys.mkdir()
    key, cert = issue_gost_certificate("hub-is", keys)
    ca = keys / "simulator-ca.pem"
    ca.write_bytes(sim.ca_pem)  # type: ignore[attr-defined]
    store = sim.file_store  # type: ignore[attr-defined]
    return f"""
[adapters.smev]
type = "smev"
url = "{sim.url}"
mnemonic = "HUB01"
key = "{key}"
cert = "{cert}"
trust = ["{ca}"]
poll_min = 0.05
poll_max = 0.3
request_timeout = 60
participants = {{ SIMAGENCY = "agency.rosreestr" }}
fs_host = "{store.host}"
fs_port = {store.port}
fs_user = "{store.user}"
fs_password = "{store.password}"
fs_threshold = 1048576
fs_timeout = 120
"""  # type: ignore[attr-defined]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sampler(threading.Thread):
    """Peak RSS of every process of the hub's tree, and the biggest queued message."""

    def __init__(self, hub_pid: int, database: Path | None) -> None:
        super().__init__(daemon=True)
        self.hub_pid = hub_pid
        self.database = database
        self.peaks: dict[int, int] = {}
        self.largest_queued = 0
        self.stopping = False

    def run(self) -> None:
        db = None
        while not self.stopping:
            for pid in throughput.tree_pids(self.hub_pid):
                self.peaks[pid] = max(self.peaks.get(pid, 0), throughput.status_kb(pid))
            if self.database is not None:
                try:
                    if db is None:
                        db = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=1)
                    (size,) = db.execute(
                        "SELECT COALESCE(MAX(LENGTH(body)), 0) FROM queue"
                    ).fetchone()
                    self.largest_queued = max(self.largest_queued, int(size))
                except sqlite3.Error:
                    db = None
            time.sleep(0.05)


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a command: (seconds, peak RSS in KB from the kernel, stdout)."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    out = process.stdout.read() if process.stdout else b""  # type: ignore[union-attr]
    err = process.stderr.read() if process.stderr else b""  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:5])} failed ({process.returncode}): {err.decode()}")
    return seconds, int(usage.ru_maxrss), out.decode()


def make_file(path: Path, size: int) -> str:
    """A file of ``size`` bytes (random blocks), and its SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as handle:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            handle.write(piece)
            digest.update(piece)
            left -= len(piece)
            block = block[1:] + block[:1]  # no two blocks alike, no urandom per block
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rabbitmq", action="store_true", help="default: embedded")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--smev", action="store_true", help="to an agency over SMEV (FTP)")
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    host = ""
    if args.rabbitmq:
        host = f"bench-{os.urandom(4).hex()}"
        for argv in (
            ["add_vhost", host],
            ["set_permissions", "-p", host, "guest", ".*", ".*", ".*"],
        ):
            subprocess.run(["rabbitmqctl", *argv], check=True, capture_output=True)
    args.broker = f"amqp://guest:guest@127.0.0.1:5672/{host}" if host else ""
    try:
        run(args, size)
    finally:
        if host:
            subprocess.run(["rabbitmqctl", "delete_vhost", host], capture_output=True)


def run(args: argparse.Namespace, size: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-attachments-"))
    api_port = free_port()
    config = init_deployment(
        work / "hub", ["dept.finance", "dept.culture"], args.broker,
        metrics_address=f"127.0.0.1:{free_port()}", api_address=f"127.0.0.1:{api_port}",
    )  # fmt: skip
    text = re.sub(r"(?m)^workers = \d+$", "workers = 1", config.read_text())
    simulator = None
    if args.smev:
        simulator = Simulator()
        simulator.start()
        simulator.ready.wait(60)
        text += smev_settings(work, simulator.sim)
        (work / "hub" / "routing_rules" / "smev-bench.yaml").write_text(SMEV_RULES)
    config.write_text(text)
    try:
        _run(args, size, work, config, api_port)
    finally:
        if simulator is not None:
            simulator.stop()


def _run(args: argparse.Namespace, size: int, work: Path, config: Path, api_port: int) -> None:
    url = f"http://127.0.0.1:{api_port}"
    tokens = {}
    for who in ("dept.finance", "dept.culture"):
        _, _, out = timed([*HUB, "tokens", "create", who, "--config", str(config)])
        tokens[who] = out.strip().splitlines()[-1]
    print(f"making a {args.size_mb} MB file …", flush=True)
    out_dir = work / "finance"
    out_dir.mkdir()
    big = out_dir / "scan.bin"
    digest = make_file(big, size)

    hub = subprocess.Popen([*HUB, "serve", "--config", str(config)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/openapi.json", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)  # the workers started
        baseline = {pid: throughput.status_kb(pid) for pid in throughput.tree_pids(hub.pid)}
        hwm_before = {
            pid: throughput.status_kb(pid, "VmHWM") for pid in throughput.tree_pids(hub.pid)
        }
        database = None if args.broker else work / "hub" / "data" / "hub.sqlite"
        sampler = Sampler(hub.pid, database)
        sampler.start()
        pki = work / "hub" / "pki"
        steps: list[tuple[str, float, int]] = []
        to, payload = ("agency.rosreestr", EXTRACT) if args.smev else ("dept.culture", MEMO)
        seconds, rss, _ = timed([*HUB, "envelope", "new", "--from", "dept.finance",
                                 "--to", to, "--payload", str(payload),
                                 "--attach", str(big), "-o", str(out_dir / "env.xml")])  # fmt: skip
        steps.append(("envelope new (hash)", seconds, rss))
        seconds, rss, _ = timed([*HUB, "envelope", "sign", str(out_dir / "env.xml"),
                                 "--key", str(pki / "dept.finance.key.pem"),
                                 "--cert", str(pki / "dept.finance.pem"),
                                 "-o", str(out_dir / "signed.xml")])  # fmt: skip
        steps.append(("envelope sign", seconds, rss))
        started = time.monotonic()
        seconds, rss, out = timed([*HUB, "send", str(out_dir / "signed.xml"), "--url", url,
                                   "--token", tokens["dept.finance"], "--wait", "60"])  # fmt: skip
        steps.append(("send (upload + submit)", seconds, rss))
        message_id, state = out.split()[:2]
        in_dir = work / "culture"
        reader = "dept.finance" if args.smev else "dept.culture"  # the agency's answer
        seconds = 0.0
        for _ in range(120):  # over SMEV, receipts may come first: until the answer's file
            took, rss, out = timed([*HUB, "inbox", reader, "--url", url,
                                    "--token", tokens[reader], "--wait", "5",
                                    "-o", str(in_dir)])  # fmt: skip
            seconds += took
            if not args.smev or any(in_dir.glob("*.files/*")):
                break
        steps.append(("inbox (download + check)", seconds, rss))
        end_to_end = time.monotonic() - started
        sampler.stopping = True
        sampler.join()
        found = sorted(in_dir.glob("*.files/*"))
        received = found[0] if found else in_dir / f"{message_id}.files" / "scan.bin"
        check = hashlib.sha256()
        with received.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                check.update(chunk)
        envelope_sizes = [p.stat().st_size for p in in_dir.glob("*.xml")]
        hwm_after = {
            pid: throughput.status_kb(pid, "VmHWM") for pid in throughput.tree_pids(hub.pid)
        }
    finally:
        hub.terminate()
        hub.wait(30)
    mb = size / 1e6
    mode = (
        ("RabbitMQ" if args.broker else "embedded")
        + " hub"
        + (
            " (to the SMEV simulator over FTP and back: dept.finance's inbox takes the echo)"
            if args.smev
            else ""
        )
    )
    intact = check.hexdigest() == digest
    print(f"\n{args.size_mb} MiB ({mb:.0f} MB) attachment, {mode}; message {message_id} "
          f"{state}; received intact: {intact}")  # fmt: skip
    print(f"{'step':28} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12}")
    for name, seconds, rss in steps:
        rate = mb / seconds if "hash" in name or "send" in name or "inbox" in name else 0
        print(f"{name:28} {seconds:8.2f} {rate:8.1f} {rss / 1024:12.1f}")
    print(f"{'end to end (send + inbox)':28} {end_to_end:8.2f} {mb / end_to_end:8.1f}")
    print("\nhub serve processes (RSS MB: before the transfer → peak during it, growth)")
    for pid, peak in sorted(sampler.peaks.items()):
        before = baseline.get(pid, 0)
        role = "main" if pid == hub.pid else "worker/child"
        print(f"  {pid:7} {role:13} {before / 1024:8.1f} → {peak / 1024:8.1f}  "
              f"(+{(peak - before) / 1024:.1f})")  # fmt: skip
    main_growth = (sampler.peaks.get(hub.pid, 0) - baseline.get(hub.pid, 0)) / 1024
    print(f"hub main process peak RSS growth: {main_growth:.1f} MB (target < 100 MB)")
    for pid, after in sorted(hwm_after.items()):
        print(f"  {pid:7} VmHWM (kernel's peak since start) {hwm_before.get(pid, 0) / 1024:.1f}"
              f" → {after / 1024:.1f} MB")  # fmt: skip
    largest = max([sampler.largest_queued, *envelope_sizes])
    print(f"largest queued message: {sampler.largest_queued} bytes sampled in the queue table; "
          f"envelopes as delivered: {envelope_sizes} bytes (target < 64 KB each: "
          f"{'met' if largest < 64 * 1024 else 'NOT met'})")  # fmt: skip
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")


if __name__ == "__main__":
    main()
