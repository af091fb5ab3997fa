"""Time MEDO packages: writing a signed 2.7.1 package, and reading + verifying one.

GOST R 34.10-2012 is pure Python (gostcrypto), so signatures dominate: these figures bound how
many packages one hub process can send or accept per second. Run:
``.venv/bin/python bench/medo_packages.py [--rounds N] [--files N] [--kib N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.medo import compose
from adapters.medo.model import Message, PackageType, Party, Passport, Signed
from adapters.medo.package import parse_package, read_folder, verify_package
from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.dev_ca import issue_gost_certificate
from adapters.smev.crypto.signers import GostSigner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--files", type=int, default=2, help="files per document (main + ...)")
    parser.add_argument("--kib", type=int, default=20, help="size of each file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key, cert = issue_gost_certificate("bench-medo", root / "pki")
        signer = GostSigner.from_files(key, cert)
        trust = GostTrustStore.from_files([root / "pki" / "ca-gost.pem"])
        files = {f"Файл {n}.pdf": os.urandom(args.kib * 1024) for n in range(args.files)}
        names = list(files)
        write, read = [], []
        for _ in range(args.rounds):
            uid = str(uuid.uuid4())
            passport = Passport(
                uid, "Письмо", "Тест", "1", compose.now().date(), "Администрация",
                document=Signed(names[0]), attachments=[Signed(n) for n in names[1:]],
            )  # fmt: skip
            message = Message(
                PackageType.DOCUMENT, uid, compose.now(), Party(uid), [Party(str(uuid.uuid4()))]
            )
            start = time.perf_counter()
            package = compose.document_files(message, passport, files, signer, "Тест")
            compose.write_package(root / "out", uid, package)
            write.append(time.perf_counter() - start)
            start = time.perf_counter()
            verify_package(parse_package(read_folder(root / "out" / uid)), trust)
            read.append(time.perf_counter() - start)
    print(f"{args.files} files of {args.kib} KiB, {args.rounds} rounds (median):")
    for label, times in (("write + sign", write), ("read + verify", read)):
        median = statistics.median(times)
        print(f"  {label:<14} {median * 1000:8.1f} ms/package  {1 / median:6.1f} packages/s")


if __name__ == "__main__":
    main()
