"""Envelope benchmark: µs per operation for a 5 KB and a 500 KB envelope (ECDSA P-256).

    .venv/bin/python bench/envelopes.py              # both sizes
    .venv/bin/python bench/envelopes.py --profile    # also where the time of one round goes

Single process, time.perf_counter over many iterations, best of several rounds. The key, the
certificate and the CA are made in a temporary folder at start and thrown away afterwards.

Target: validate + verify + sign of a 5 KB envelope <= 1200 µs on one core.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import io
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lxml import etree  # noqa: E402

from envelopes.codec import build_envelope, to_bytes  # noqa: E402
from envelopes.model import Attachment, Header, Kind  # noqa: E402
from envelopes.parsing import parse_xml  # noqa: E402
from envelopes.pki import (  # noqa: E402
    TrustStore,
    load_certificate,
    load_private_key,
    new_participant,
)
from envelopes.schemas import SchemaRegistry  # noqa: E402
from envelopes.signatures import Signer, verify_sender  # noqa: E402

SENDER, RECIPIENT, HUB = "dept.finance", "agency.tax", "hub.core"
TARGET_US = 1200.0
MEMO = REPO / "xsd" / "examples" / "memo.xml"
MEMO_NS = "urn:interagency-hub:payload:memo:1.0"


def _payload() -> etree._Element:
    """xsd/examples/memo.xml, or a generated memo of about the same size without it."""
    if MEMO.exists():
        return parse_xml(MEMO.read_bytes())
    memo = etree.Element(f"{{{MEMO_NS}}}Memo", nsmap={None: MEMO_NS})
    body = etree.SubElement(memo, f"{{{MEMO_NS}}}Body")
    for i in range(10):
        etree.SubElement(body, f"{{{MEMO_NS}}}Paragraph").text = f"Paragraph {i}. " + "x" * 440
    return memo


def _deterministic_bytes(size: int) -> bytes:
    out, block = bytearray(), b"seed"
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def _unsigned(payload: etree._Element, total_bytes: int | None) -> etree._Element:
    header = Header(
        message_id=uuid.uuid4(),
        sender=SENDER,
        recipient=RECIPIENT,
        message_type=str(payload.tag),
        kind=Kind.REQUEST,
        created=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
    root = build_envelope(header, payload)
    if total_bytes is None:
        return root
    base = len(to_bytes(root)) + 1_500  # signature and attachment markup
    raw = max(0, (total_bytes - base) * 3 // 4)
    attachment = Attachment.from_bytes(
        "att1", "register.xlsx", "application/octet-stream", _deterministic_bytes(raw)
    )
    return build_envelope(header, payload, [attachment])


@dataclass
class Case:
    name: str
    unsigned: etree._Element
    signed_bytes: bytes
    signed: etree._Element


def _time(operation: Callable[[], object], iterations: int, rounds: int) -> float:
    """Best mean over ``rounds`` rounds of ``iterations`` calls, in µs."""
    operation()  # warm caches (issuer lookup, readable schemas, ...)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(iterations):
            operation()
        best = min(best, (time.perf_counter() - started) / iterations)
    return best * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=0, help="per round (default: by size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile validate+verify+sign")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-pki-") as folder:
        pki = Path(folder)
        key_path, cert_path = new_participant(SENDER, pki, "ecdsa")
        hub_key, hub_cert = new_participant(HUB, pki, "ecdsa")
        signer = Signer(load_private_key(key_path), load_certificate(cert_path))
        hub = Signer(load_private_key(hub_key), load_certificate(hub_cert))
        trust = TrustStore.from_pem_files([pki / "ca.pem"])
    registry = SchemaRegistry(REPO / "xsd")
    received = dt.datetime.now(dt.UTC)

    payload = _payload()
    cases = []
    for name, total in (("5 KB", None), ("500 KB", 500 * 1024)):
        unsigned = _unsigned(payload, total)
        signed_bytes = to_bytes(signer.sign(parse_xml(to_bytes(unsigned))))
        cases.append(Case(name, unsigned, signed_bytes, parse_xml(signed_bytes)))

    print(f"python {sys.version.split()[0]}, ECDSA P-256, payload {MEMO.name} "
          f"({len(to_bytes(payload))} bytes), best of {args.rounds} rounds")  # fmt: skip
    print(f"{'operation':<44}{'5 KB':>12}{'500 KB':>12}")
    results: dict[str, list[float]] = {}
    for case in cases:
        small = case.name == "5 KB"
        n = args.iterations or (400 if small else 10)
        root, unsigned = case.signed, case.unsigned

        def total(root: etree._Element = root, unsigned: etree._Element = unsigned) -> None:
            registry.validate_envelope(root)
            verify_sender(root, trust)
            signer.sign(unsigned)

        def pipeline(data: bytes = case.signed_bytes) -> None:
            tree = parse_xml(data)
            registry.validate_envelope(tree)
            verify_sender(tree, trust)
            hub.countersign(tree, received=received, adapter="internal", address="queue.tax")
            to_bytes(tree)

        operations: list[tuple[str, Callable[[], object]]] = [
            ("parse (bytes -> tree)", lambda d=case.signed_bytes: parse_xml(d)),
            ("validate (envelope + payload schema)", lambda r=root: registry.validate_envelope(r)),
            ("verify (sender signature, trust, sender)", lambda r=root: verify_sender(r, trust)),
            ("sign (sender signature)", lambda u=unsigned: signer.sign(u)),
            ("validate + verify + sign", total),
            ("hub: parse+validate+verify+countersign+write", pipeline),
        ]
        for label, operation in operations:
            results.setdefault(label, []).append(_time(operation, n, args.rounds))
        results.setdefault("envelope size (bytes)", []).append(float(len(case.signed_bytes)))

    for label, values in results.items():
        print(f"{label:<44}" + "".join(f"{v:>12.0f}" for v in values))
    small_total = results["validate + verify + sign"][0]
    verdict = "within" if small_total <= TARGET_US else "OVER"
    print(
        f"\n5 KB validate + verify + sign: {small_total:.0f} µs "
        f"({verdict} the {TARGET_US:.0f} µs target)"
    )

    if args.profile:
        for case in cases:
            profile = cProfile.Profile()
            n = 500 if case.name == "5 KB" else 10
            profile.enable()
            for _ in range(n):
                registry.validate_envelope(case.signed)
                verify_sender(case.signed, trust)
                signer.sign(case.unsigned)
            profile.disable()
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out).sort_stats("tottime")
            stats.print_stats(15)
            print(f"\n--- profile, validate + verify + sign, {case.name}, {n} rounds ---")
            print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
