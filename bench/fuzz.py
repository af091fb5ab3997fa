"""The fuzzers' long run: every parser for N minutes, with what each did (issue 20).

    .venv/bin/python bench/fuzz.py --minutes 30 [--targets envelope,mail] [--jobs 2]
                                   [--seed 7] [--hang-seconds 5] [--findings DIR]

Prints per target: inputs tried, accepted, clean rejections, unexpected exceptions (findings),
critical findings (a mutant that verified with other content than was signed) and hangs
(an input that took longer than --hang-seconds; a Python-level loop is interrupted then).
Each finding's input and traceback are written to --findings DIR (default fuzz-findings/):
put the input into tests/fuzz/corpus/<target>/ with its fix. The time is split between the
targets by weight (WEIGHTS: what each needs to reach the issue's goals); with --jobs 2 the
targets run in two processes (--minutes is then wall time: twice the CPU time).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Shares of the time: what each target needs to reach the goals (100,000 envelope
# inputs, 20,000 for each other parser) at the rates measured on the 2-core dev machine
# (envelope ~130 inputs/s, mail ~17, rules ~120, SMEV 200-400, API ~1,200).
WEIGHTS = {
    "envelope": 13.0,
    "smev-response": 1.2,
    "smev-request": 2.2,
    "mail": 20.0,
    "rules": 3.3,
    "api": 0.5,
}


class Hang(Exception):
    """The input ran past --hang-seconds."""


@dataclass
class Tally:
    target: str
    seconds: float = 0.0
    tried: int = 0
    accepted: int = 0
    rejected: int = 0
    unexpected: int = 0
    critical: int = 0
    hangs: int = 0
    slowest: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def run_target(name: str, seconds: float, seed: int, hang: float, findings: str) -> Tally:
    from tests.fuzz.targets import TARGETS, CriticalFinding

    target = TARGETS[name]
    tally = Tally(name)
    for warm in target.seeds():  # schemas, PKI, imports: built before the clock starts
        target.run(warm)
    target.run(b"<x/>")
    rng = random.Random(seed)
    out = Path(findings) / name
    signal.signal(signal.SIGALRM, _alarm)
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            data = target.mutant(rng)
        except Exception:  # a mutation that cannot apply to this input: draw another
            tally.kinds["(mutation skipped)"] = tally.kinds.get("(mutation skipped)", 0) + 1
            continue
        began = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, hang * 3)
        try:
            outcome = target.run(data)
            problem = None
            trace = ""
        except Hang:
            outcome, problem, trace = "hang", "Hang", traceback.format_exc()
        except CriticalFinding as exc:
            outcome, problem = "critical", f"CriticalFinding: {exc}"
            trace = traceback.format_exc()
        except Exception as exc:
            outcome, problem = "unexpected", f"{type(exc).__name__}: {str(exc)[:120]}"
            trace = traceback.format_exc()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.monotonic() - began
        tally.slowest = max(tally.slowest, took)
        tally.tried += 1
        if outcome == "accepted":
            tally.accepted += 1
        elif outcome == "rejected":
            tally.rejected += 1
        if took > hang and outcome != "hang":
            outcome, problem = "hang", f"slow: {took:.1f} s"
        if outcome == "hang":
            tally.hangs += 1
        elif outcome == "critical":
            tally.critical += 1
        elif outcome == "unexpected":
            tally.unexpected += 1
        if problem is not None:
            first = tally.kinds.get(problem, 0) == 0
            tally.kinds[problem] = tally.kinds.get(problem, 0) + 1
            if first:  # one input per kind of finding is enough to reproduce it
                out.mkdir(parents=True, exist_ok=True)
                stem = out / f"{tally.tried}"
                stem.with_suffix(".bin").write_bytes(data)
                stem.with_suffix(".txt").write_text(f"{problem}\n\n{trace}")
    tally.seconds = time.monotonic() - start
    return tally


def _run(args: tuple[str, float, int, float, str]) -> Tally:
    return run_target(*args)


def run_atheris(name: str, seconds: float, findings: str) -> None:
    """Coverage-guided: libFuzzer (through atheris) mutates from the target's seeds, guided by
    the lines of hub code each input reaches. Exits the process when done (libFuzzer's way);
    a crash leaves its input in --findings as crash-*."""
    import atheris  # optional: pip install atheris (a manylinux wheel for CPython 3.11)

    # only the hub's own code is instrumented, as it is imported (the targets import lazily,
    # so running the seeds loads what the target reaches); instrumenting everything loaded
    # (lxml, cryptography, pydantic...: ~7,700 functions) took minutes before the first input
    with atheris.instrument_imports(include=["envelopes", "adapters", "hub"]):
        from tests.fuzz.targets import TARGETS

        target = TARGETS[name]
        corpus = Path(findings) / "atheris" / name
        corpus.mkdir(parents=True, exist_ok=True)
        for n, seed in enumerate(target.seeds()):
            (corpus / f"seed-{n}").write_bytes(seed)
            target.run(seed)

    def one_input(data: bytes) -> None:
        target.run(data)  # anything but a clean verdict propagates: libFuzzer records a crash

    atheris.Setup(
        [
            sys.argv[0],
            str(corpus),
            f"-max_total_time={int(seconds)}",
            f"-artifact_prefix={findings}/{name}-",
            "-rss_limit_mb=4096",
            "-timeout=10",
        ],
        one_input,
    )
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--targets", default=",".join(WEIGHTS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    parser.add_argument("--findings", default="fuzz-findings")
    parser.add_argument(
        "--atheris", metavar="TARGET", help="a coverage-guided run of one target instead"
    )
    args = parser.parse_args()
    if args.atheris:
        if args.atheris not in WEIGHTS:
            parser.error(f"unknown target {args.atheris!r}; known: {', '.join(WEIGHTS)}")
        run_atheris(args.atheris, args.minutes * 60, args.findings)
        return 0
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in WEIGHTS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(WEIGHTS)}")
    total = args.minutes * 60 * max(1, args.jobs)
    weight = sum(WEIGHTS[n] for n in names)
    work = [
        (n, total * WEIGHTS[n] / weight, args.seed + i, args.hang_seconds, args.findings)
        for i, n in enumerate(names)
    ]
    print(
        f"fuzzing {', '.join(names)} for {args.minutes:g} min, {args.jobs} job(s), seed {args.seed}"
    )
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            tallies = pool.map(_run, sorted(work, key=lambda w: -w[1]), chunksize=1)
    else:
        tallies = [_run(w) for w in work]
    header = (
        f"{'target':<14}{'seconds':>8}{'inputs':>9}{'per s':>7}{'accepted':>9}"
        f"{'rejected':>10}{'unexpected':>11}{'critical':>9}{'hangs':>6}{'slowest s':>10}"
    )
    print(header)
    for t in sorted(tallies, key=lambda t: names.index(t.target)):
        print(
            f"{t.target:<14}{t.seconds:>8.0f}{t.tried:>9}{t.tried / max(t.seconds, 1e-9):>7.0f}"
            f"{t.accepted:>9}{t.rejected:>10}{t.unexpected:>11}{t.critical:>9}{t.hangs:>6}"
            f"{t.slowest:>10.2f}"
        )
        for kind, count in sorted(t.kinds.items(), key=lambda kv: -kv[1]):
            print(f"    {count:>6} x {kind}")
    bad = sum(t.unexpected + t.critical + t.hangs for t in tallies)
    if bad:
        print(f"findings written to {args.findings}/")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
