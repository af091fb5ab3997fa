"""Command-line start-up: CPU seconds and peak memory of ``hub --help``, ``hub trace`` and friends.

    .venv/bin/python bench/startup.py [--runs 7]

Each command runs as its own process against a fresh embedded deployment (``hub init`` in a
temporary folder); the figures are the median CPU time (user + system, from the kernel's
accounting of the child) and the largest peak RSS over the runs, with the number of modules
the command imported. Every ``hub send`` or ``hub trace`` pays this start-up.

Target: ``hub --help`` and ``hub trace`` within 0.3 s of CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HUB = [sys.executable, "-m", "hub"]
# runs `hub ARGS` as the console script does, then reports its own peak RSS and module count
WRAPPER = (
    "import json, resource, runpy, sys\n"
    "sys.argv = ['hub'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('hub', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "print(json.dumps([usage.ru_maxrss, len(sys.modules)]), file=sys.stderr)\n"
)


def run_cpu(command: list[str]) -> tuple[float, str]:
    """CPU seconds (user + system) of one child process, and what it wrote to stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return spent, done.stderr


def measure(args: list[str] | None, runs: int) -> tuple[float, float, int]:
    """(median CPU seconds, peak RSS in MB, modules imported) of ``hub ARGS``."""
    cpu: list[float] = []
    rss, modules = 0.0, 0
    for _ in range(runs):
        if args is None:
            spent, _ = run_cpu([sys.executable, "-c", "pass"])
        else:
            spent, err = run_cpu([sys.executable, "-c", WRAPPER, *args])
            peak, modules = json.loads(err.strip().splitlines()[-1])
            rss = max(rss, peak / 1024)
        cpu.append(spent)
    return statistics.median(cpu), rss, modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-startup-") as tmp:
        init = [*HUB, "init", tmp, "--metrics-address", "127.0.0.1:0"]
        subprocess.run(init, check=True, capture_output=True, cwd=REPO)
        config = str(Path(tmp) / "hub.toml")
        commands = {
            "python -c pass": None,
            "hub --help": ["--help"],
            "hub trace ID": ["trace", "0b0e8e6e-1c4e-4f3b-9a57-1f0e2d3c4b5a", "--config", config],
            "hub status": ["status", "--config", config],
            "hub routes --help": ["routes", "--help"],
        }
        rows = [(label, *measure(args, options.runs)) for label, args in commands.items()]
    print(f"{'command':<20} {'CPU s':>7} {'peak MB':>8} {'modules':>8}")
    for label, cpu, rss, modules in rows:
        print(f"{label:<20} {cpu:>7.3f} {rss:>8.1f} {modules:>8}")
    print(json.dumps({label: round(cpu, 3) for label, cpu, _, _ in rows}))


if __name__ == "__main__":
    main()
