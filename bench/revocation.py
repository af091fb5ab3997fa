"""What revocation checking costs per verified signature: the trust store's check with no
revocation, with a cached CRL of N entries (served over HTTP on 127.0.0.1), and with OCSP
(a good answer kept until its nextUpdate).

    python bench/revocation.py [--entries 10000] [--checks 2000]

Prints microseconds per check for each, and the CRL's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envelopes.pki import TrustStore, ensure_ca, load_certificate, new_participant
from envelopes.revocation import RevocationChecker
from tests.support.pki_servers import folder_server, ocsp_responder


def per_check(trust: TrustStore, cert: x509.Certificate, checks: int) -> float:
    trust.check(cert)  # warm: chain verified, CRL fetched
    started = time.perf_counter()
    for _ in range(checks):
        trust.check(cert)
    return (time.perf_counter() - started) / checks * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10000, help="revoked serials in the CRL")
    parser.add_argument("--checks", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ca_key, ca_cert = ensure_ca(folder)
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now)
            .next_update(now + dt.timedelta(days=1))
        )
        for serial in range(1, args.entries + 1):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        (folder / "ca.crl").write_bytes(crl)
        with folder_server(folder) as server, ocsp_responder(ca_key, ca_cert) as responder:
            new_participant("dept.finance", folder, crl_url=f"{server.url}/ca.crl")
            cert = load_certificate(folder / "dept.finance.pem")
            ca = [folder / "ca.pem"]
            plain = per_check(TrustStore.from_pem_files(ca), cert, args.checks)
            with_crl = per_check(
                TrustStore.from_pem_files(ca, RevocationChecker()), cert, args.checks
            )
            with_ocsp = per_check(
                TrustStore.from_pem_files(ca, RevocationChecker(ocsp_url=responder.url)),
                cert,
                max(50, args.checks // 20),
            )
    print(f"CRL: {args.entries} entries, {len(crl) / 1024:.0f} KiB")
    print(f"trust check, no revocation:       {plain:8.1f} µs")
    print(f"trust check, cached CRL:          {with_crl:8.1f} µs")
    print(f"trust check, OCSP (answer kept): {with_ocsp:8.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
