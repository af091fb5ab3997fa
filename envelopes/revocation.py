"""Is a participant certificate revoked? CRLs (fetched, cached, refreshed) and OCSP.

Where to ask comes from the certificate (its CRL distribution points, its OCSP responder in
Authority Information Access) or from configuration (CRL URLs and an OCSP responder for every
certificate). A CRL or an OCSP answer counts only if the certificate's own issuer signed it (or,
for OCSP, a responder the issuer delegated to with the OCSPSigning purpose).

CRLs are kept in memory and, when a cache folder is given, on disk (so a restart or another
worker process does not fetch them again); one is fetched again when its ``nextUpdate`` has
passed or it is older than ``refresh`` seconds. When none can be had (the server is down, the
CRL is stale and cannot be renewed, the signature is wrong) the ``on_unavailable`` policy
decides: ``reject`` (fail closed, the default) or ``accept``. A certificate with no known place
to ask is not checked unless ``require`` is set (then it is refused as if unavailable).

Synchronous on purpose: verification runs in the hub's worker processes, off the event loop.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from envelopes.errors import CertificateRevokedError, RevocationUnknownError

log = logging.getLogger("envelopes.revocation")

MAX_CRL_BYTES = 16 * 1024 * 1024  # a CRL comes from outside: bounded


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _serial(cert: x509.Certificate) -> str:
    return f"{cert.serial_number:x}"


def _verify_signed_by(
    issuer: x509.Certificate, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def crl_urls_of(cert: x509.Certificate) -> list[str]:
    """The HTTP(S) CRL distribution points a certificate names."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    urls = []
    for point in points:
        for name in point.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(
                ("http://", "https://")
            ):
                urls.append(name.value)
    return urls


def ocsp_urls_of(cert: x509.Certificate) -> list[str]:
    """The OCSP responders a certificate names (Authority Information Access)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


class _Unavailable(Exception):
    """This source could not say (unreachable, stale, badly signed): the policy decides."""


@dataclass
class _Cached:
    crl: x509.CertificateRevocationList
    fetched: float  # time.time() of the fetch
    # issuers whose signature on it was verified: not verified again for every envelope
    verified: set[x509.Certificate] = field(default_factory=set)
    _revoked: dict[int, tuple[dt.datetime, str | None]] | None = None
    until: float | None = None  # its nextUpdate as a timestamp, once read

    def revoked(self, serial: int) -> tuple[dt.datetime, str | None] | None:
        """When and why ``serial`` was revoked: a map built once per CRL (the library's own
        lookup walks the whole list, milliseconds per envelope for a large CRL)."""
        if self._revoked is None:
            self._revoked = {e.serial_number: (e.revocation_date_utc, _reason(e)) for e in self.crl}
        return self._revoked.get(serial)


@dataclass
class RevocationChecker:
    """Answers "is this certificate revoked?" from CRLs and OCSP; raises when it is."""

    crl_urls: Sequence[str] = ()  # checked for every certificate (those of its issuer count)
    ocsp_url: str = ""  # a responder asked for every certificate, before its CRLs
    refresh: float = 3600.0  # seconds a CRL is used before it is fetched again
    timeout: float = 5.0  # seconds per HTTP request
    on_unavailable: Literal["reject", "accept"] = "reject"
    require: bool = False  # a certificate with nowhere to ask is refused
    cache_dir: Path | None = None
    _crls: dict[str, _Cached] = field(default_factory=dict, repr=False)
    # OCSP "good" answers, kept until their nextUpdate (at most ``refresh`` seconds)
    _good: dict[tuple[str, int], float] = field(default_factory=dict, repr=False)
    _named: dict[x509.Certificate, tuple[list[str], list[str]]] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ the check
    def check(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime | None = None
    ) -> None:
        """Raise CertificateRevokedError if revoked; RevocationUnknownError if nobody can say
        and the policy is to fail closed."""
        at = at or _now()
        problems: list[str] = []
        named = self._named.get(cert)
        if named is None:  # the extensions are parsed once per certificate
            if len(self._named) > 4096:  # bounded: certificates come from outside
                self._named.clear()
            named = self._named[cert] = (ocsp_urls_of(cert), crl_urls_of(cert))
        ocsp_urls = [self.ocsp_url] if self.ocsp_url else named[0]
        for url in ocsp_urls:
            try:
                self._check_ocsp(url, cert, issuer)
                return  # a good, fresh, signed answer
            except _Unavailable as exc:
                problems.append(str(exc))
        crl_urls = list(dict.fromkeys([*named[1], *self.crl_urls]))
        answered = False
        for url in crl_urls:
            try:
                crl = self._crl(url, issuer)
            except _Unavailable as exc:
                problems.append(str(exc))
                continue
            if crl is None:  # another CA's CRL (a configured URL): not about this certificate
                continue
            answered = True
            entry = crl.revoked(cert.serial_number)
            if entry is not None:
                self._revoked(cert, *entry)
        if answered:
            return
        if not problems:
            if self.require:
                self._unknown(cert, ["no CRL distribution point or OCSP responder is known"])
            return
        self._unknown(cert, problems)

    def _revoked(self, cert: x509.Certificate, when: dt.datetime, reason: str | None) -> None:
        because = f" ({reason})" if reason else ""
        raise CertificateRevokedError(
            f"certificate {cert.subject.rfc4514_string()!r} (serial {_serial(cert)}) was revoked "
            f"on {when.isoformat(timespec='seconds')}{because}",
            serial=_serial(cert),
            revoked_at=when,
        )

    def _unknown(self, cert: x509.Certificate, problems: list[str]) -> None:
        detail = "; ".join(problems)
        if self.on_unavailable == "accept":
            log.warning(
                "revocation of serial %s unknown, accepted by policy: %s", _serial(cert), detail
            )
            return
        raise RevocationUnknownError(
            f"certificate {cert.subject.rfc4514_string()!r} (serial {_serial(cert)}): its "
            f"revocation status cannot be established ({detail}); refused (fail closed)"
        )

    # ------------------------------------------------------------------ CRLs
    def _crl(self, url: str, issuer: x509.Certificate) -> _Cached | None:
        """The current CRL at url if issuer issued it (None if another CA did)."""
        now = time.time()
        with self._lock:
            cached = self._crls.get(url) or self._from_disk(url)
        if cached is not None and self._fresh(cached, now):
            return self._mine(cached, issuer, url)
        try:
            data = self._get(url)
            crl = _load_crl(data)
        except _Unavailable:
            if cached is not None and self._usable(cached.crl):
                # could not refresh, but the one we have has not passed its nextUpdate
                return self._mine(cached, issuer, url)
            raise
        fresh = _Cached(crl, now)
        mine = self._mine(fresh, issuer, url)
        if not self._usable(crl) and mine is not None:
            raise _Unavailable(f"{url}: the CRL's nextUpdate has passed (stale)")
        with self._lock:
            self._crls[url] = fresh
        self._to_disk(url, data)
        return mine

    def _mine(self, cached: _Cached, issuer: x509.Certificate, url: str) -> _Cached | None:
        if issuer in cached.verified:
            return cached
        if self._if_issued_by(cached.crl, issuer, url) is None:
            return None
        cached.verified.add(issuer)
        return cached

    def _fresh(self, cached: _Cached, now: float) -> bool:
        if cached.until is None:
            next_update = cached.crl.next_update_utc
            cached.until = next_update.timestamp() if next_update else float("inf")
        return now - cached.fetched < self.refresh and now <= cached.until

    @staticmethod
    def _usable(crl: x509.CertificateRevocationList) -> bool:
        next_update = crl.next_update_utc
        return next_update is None or _now() <= next_update

    @staticmethod
    def _if_issued_by(
        crl: x509.CertificateRevocationList, issuer: x509.Certificate, url: str
    ) -> x509.CertificateRevocationList | None:
        if crl.issuer != issuer.subject:
            return None
        if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise _Unavailable(f"{url}: the CRL is not signed by {issuer.subject.rfc4514_string()}")
        return crl

    def _get(self, url: str, body: bytes | None = None, content_type: str = "") -> bytes:
        request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data: bytes = response.read(MAX_CRL_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise _Unavailable(f"{url}: cannot be fetched ({exc})") from None
        if len(data) > MAX_CRL_BYTES:
            raise _Unavailable(f"{url}: larger than {MAX_CRL_BYTES} bytes")
        return data

    def _cache_file(self, url: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".crl")

    def _from_disk(self, url: str) -> _Cached | None:
        path = self._cache_file(url)
        if path is None or not path.is_file():
            return None
        try:
            cached = _Cached(_load_crl(path.read_bytes()), path.stat().st_mtime)
        except (_Unavailable, OSError):
            return None
        self._crls[url] = cached
        return cached

    def _to_disk(self, url: str, data: bytes) -> None:
        path = self._cache_file(url)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{threading.get_ident()}.part")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: other worker processes read whole files only
        except OSError as exc:
            log.warning("cannot cache the CRL of %s: %s", url, exc)

    # ------------------------------------------------------------------ OCSP
    def _check_ocsp(self, url: str, cert: x509.Certificate, issuer: x509.Certificate) -> None:
        key = (url, cert.serial_number)
        if self._good.get(key, 0.0) > time.time():
            return
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
        data = self._get(
            url, request.public_bytes(serialization.Encoding.DER), "application/ocsp-request"
        )
        try:
            response = ocsp.load_der_ocsp_response(data)
        except ValueError:
            raise _Unavailable(f"{url}: not an OCSP response") from None
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise _Unavailable(f"{url}: OCSP responder says {response.response_status.name}")
        if response.serial_number != cert.serial_number:
            raise _Unavailable(f"{url}: the OCSP answer is about another certificate")
        signer = self._ocsp_signer(response, issuer)
        if signer is None or not _verify_signed_by(
            signer,
            response.signature,
            response.tbs_response_bytes,
            response.signature_hash_algorithm,
        ):
            raise _Unavailable(
                f"{url}: the OCSP answer is not signed by the issuer or its delegate"
            )
        now = _now()
        next_update = response.next_update_utc
        if response.this_update_utc > now + dt.timedelta(minutes=5) or (
            next_update is not None and next_update < now
        ):
            raise _Unavailable(f"{url}: the OCSP answer is not current")
        if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            when = response.revocation_time_utc or now
            reason = response.revocation_reason
            self._revoked(cert, when, reason.name if reason else None)
        if response.certificate_status != ocsp.OCSPCertStatus.GOOD:
            raise _Unavailable(f"{url}: the OCSP responder does not know the certificate")
        until = time.time() + self.refresh
        if next_update is not None:
            until = min(until, next_update.timestamp())
        if len(self._good) > 4096:  # bounded: one entry per certificate seen
            self._good.clear()
        self._good[key] = until

    @staticmethod
    def _ocsp_signer(
        response: ocsp.OCSPResponse, issuer: x509.Certificate
    ) -> x509.Certificate | None:
        """The issuer itself, or a certificate it issued for OCSP signing (RFC 6960 4.2.2.2)."""
        if response.responder_name == issuer.subject:
            return issuer
        for delegate in response.certificates:
            if delegate.issuer != issuer.subject:
                continue
            try:
                delegate.verify_directly_issued_by(issuer)
                usage = delegate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
                continue
            if ExtendedKeyUsageOID.OCSP_SIGNING in usage:
                return delegate
        return None


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise _Unavailable("not a CRL (neither DER nor PEM)") from None


def _reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    except (x509.ExtensionNotFound, ValueError):
        return None
