"""Where revocation is published, for tests: a folder over HTTP (the CRL a CA publishes) and an
OCSP responder, each on 127.0.0.1 in a thread of the test process."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from envelopes.pki import PrivateKey


@dataclass
class Served:
    """A running server: its base URL, how many requests it had, and a switch to fail them."""

    url: str
    requests: int = 0
    down: bool = False  # answer 503 to everything


@contextmanager
def folder_server(folder: Path) -> Iterator[Served]:
    """Serves ``folder``'s files (``GET /name``) as a CA's CRL distribution point does."""
    served = Served("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests += 1
            path = folder / self.path.lstrip("/")
            if served.down or not path.is_file() or path.parent != folder:
                self.send_error(503 if served.down else 404)
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/pkix-crl")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        served.url = f"http://127.0.0.1:{port}"
        yield served


@dataclass
class Responder(Served):
    """An OCSP responder for one CA: ``revoked`` maps serials to when they were revoked."""

    revoked: dict[int, dt.datetime] = field(default_factory=dict)
    sign_with: PrivateKey | None = None  # another key than the CA's: a forged answer


@contextmanager
def ocsp_responder(ca_key: PrivateKey, ca_cert: x509.Certificate) -> Iterator[Responder]:
    responder = Responder("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            responder.requests += 1
            if responder.down:
                self.send_error(503)
                return
            request = ocsp.load_der_ocsp_request(
                self.rfile.read(int(self.headers["Content-Length"]))
            )
            now = dt.datetime.now(dt.UTC)
            when = responder.revoked.get(request.serial_number)
            builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
                issuer_name_hash=request.issuer_name_hash,
                issuer_key_hash=request.issuer_key_hash,
                serial_number=request.serial_number,
                algorithm=request.hash_algorithm,
                cert_status=ocsp.OCSPCertStatus.REVOKED if when else ocsp.OCSPCertStatus.GOOD,
                this_update=now - dt.timedelta(minutes=1),
                next_update=now + dt.timedelta(hours=1),
                revocation_time=when,
                revocation_reason=x509.ReasonFlags.key_compromise if when else None,
            )
            key, cert = ca_key, ca_cert
            if responder.sign_with is not None:  # a look-alike: the CA's name, another key
                key, cert = responder.sign_with, _look_alike(ca_cert, responder.sign_with)
            response = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, cert).sign(
                key, hashes.SHA256()
            )
            data = response.public_bytes(serialization.Encoding.DER)
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    with _serving(Handler) as port:
        responder.url = f"http://127.0.0.1:{port}/ocsp"
        yield responder


def _look_alike(ca_cert: x509.Certificate, key: PrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(ca_cert.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
