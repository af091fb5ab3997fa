"""Development PKI: a CA and participant certificates, and a trust store that checks them.

A certificate belongs to a participant when it carries the SubjectAltName URI
``urn:hub:participant:<id>`` (the CN repeats the id for humans, but only the SAN binds). Production
deployments issue such certificates from their own CA; ``hub keys new`` makes development ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from envelopes.errors import (
    CertificateError,
    CertificateExpiredError,
    KeyUsageError,
    SenderMismatchError,
    UntrustedCertificateError,
)

PARTICIPANT_URI_PREFIX = "urn:hub:participant:"
CA_NAME = "ca"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key algorithm {algorithm!r} (rsa, ecdsa)")


def _write_key(path: Path, key: PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_private_key(path: str | Path) -> PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{path}: only RSA and ECDSA keys are supported")
    return key


def load_certificate(path: str | Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def load_certificates(path: str | Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except ValueError:  # not PEM, or no CERTIFICATE block in it
        raise CertificateError(f"{path}: holds no PEM certificate") from None


def ensure_ca(out_dir: Path, days: int = 3650) -> tuple[PrivateKey, x509.Certificate]:
    """The development CA in out_dir (ca.pem, ca.key.pem), created on first use."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out_dir / f"{CA_NAME}.pem", out_dir / f"{CA_NAME}.key.pem"
    if cert_path.exists() and key_path.exists():
        return load_private_key(key_path), load_certificate(cert_path)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Interagency hub (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Development CA"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return key, cert


def issue_certificate(
    participant_id: str,
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    *,
    days: int = 365,
    not_before: dt.datetime | None = None,
    key_usage_sign: bool = True,
) -> x509.Certificate:
    """A participant certificate: CN and SAN URI name the participant."""
    start = not_before or (_now() - dt.timedelta(minutes=5))
    return (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Interagency hub participant"),
                    x509.NameAttribute(NameOID.COMMON_NAME, participant_id),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=key_usage_sign,
                content_commitment=key_usage_sign,
                key_encipherment=not key_usage_sign,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(PARTICIPANT_URI_PREFIX + participant_id)]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def new_participant(
    participant_id: str, out_dir: Path, algorithm: str = "ecdsa", days: int = 365
) -> tuple[Path, Path]:
    """Key and certificate for a participant (DIR/ID.key.pem, DIR/ID.pem) from DIR's CA."""
    ca_key, ca_cert = ensure_ca(out_dir)
    key = new_private_key(algorithm)
    cert = issue_certificate(participant_id, ca_key, ca_cert, key.public_key(), days=days)
    key_path, cert_path = out_dir / f"{participant_id}.key.pem", out_dir / f"{participant_id}.pem"
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return key_path, cert_path


def participant_ids(cert: x509.Certificate) -> list[str]:
    """The participant ids a certificate is bound to (its SAN URIs)."""
    ids = _PARTICIPANT_IDS.get(cert)
    if ids is None:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            ids = ()
        else:
            ids = tuple(
                uri.removeprefix(PARTICIPANT_URI_PREFIX)
                for uri in san.get_values_for_type(x509.UniformResourceIdentifier)
                if uri.startswith(PARTICIPANT_URI_PREFIX)
            )
        if len(_PARTICIPANT_IDS) > 4096:  # bounded: certificates come from outside
            _PARTICIPANT_IDS.clear()
        _PARTICIPANT_IDS[cert] = ids
    return list(ids)


# The same few certificates sign most envelopes: their SANs are read once.
_PARTICIPANT_IDS: dict[x509.Certificate, tuple[str, ...]] = {}


def name_text(cert: x509.Certificate, which: str = "subject") -> str:
    """A certificate's subject or issuer as RFC 4514 text, whatever bytes it holds.

    cryptography decodes names lazily and raises on strings that break their ASN.1 type (a
    UTF8String that is no UTF-8, an odd-length BMPString...). Anyone can put such a name in a
    certificate without any key, and the message that refuses the certificate must not fail:
    then the name is shown as the hex of its DER instead.
    """
    try:
        name = cert.subject if which == "subject" else cert.issuer
        return name.rfc4514_string()
    except Exception:  # any decoding failure of untrusted bytes: show them, never raise
        try:
            tbs = _tbs_name_der(cert, which)
        except Exception:
            tbs = b""
        return f"(undecodable {which}, DER {tbs[:64].hex()}{'...' if len(tbs) > 64 else ''})"


def _tbs_name_der(cert: x509.Certificate, which: str) -> bytes:
    from asn1crypto import x509 as asn1_x509

    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return bytes(parsed["tbs_certificate"][which].dump())


def describe(cert: x509.Certificate) -> str:
    """How error messages name a certificate: subject and serial (never raises)."""
    return f"certificate {name_text(cert)!r} (serial {cert.serial_number:x})"


def unreadable_fields(cert: x509.Certificate) -> str | None:
    """What of a certificate the hub cannot decode (None: all of it reads).

    Checked once, when a certificate comes from outside, so that nothing later (trust checks,
    participant ids, the managers' page) meets a field that raises when it is read.
    """
    problems = []
    for what, read in (
        ("subject", lambda: cert.subject.rfc4514_string()),
        ("issuer", lambda: cert.issuer.rfc4514_string()),
        ("extensions", lambda: list(cert.extensions)),
        ("validity", lambda: (cert.not_valid_before_utc, cert.not_valid_after_utc)),
        ("public key", cert.public_key),
    ):
        try:
            read()
        except Exception as exc:  # untrusted DER: whatever cryptography raises is a finding
            problems.append(f"{what} ({exc})")
    return "; ".join(problems) or None


@dataclass
class TrustStore:
    """The CAs we accept participant certificates from; never the system or certifi store."""

    authorities: list[x509.Certificate]
    # keyed by the certificate itself (hashed and compared by its DER): cheaper than a fingerprint
    _issuer_of: dict[x509.Certificate, x509.Certificate] = field(default_factory=dict, repr=False)

    @classmethod
    def from_pem_files(cls, paths: Iterable[str | Path]) -> TrustStore:
        authorities: list[x509.Certificate] = []
        for path in paths:
            authorities.extend(load_certificates(path))
        return cls(authorities)

    def check(self, cert: x509.Certificate, at: dt.datetime | None = None) -> None:
        """Raise unless cert was issued by one of our CAs, is valid at ``at`` and may sign."""
        at = at or _now()
        verified = self._issuer_of.get(cert)
        if verified is not None:  # chain, CA constraints and key usage were checked before
            self._check_validity(verified, cert, at)
            return
        verified = self._find_issuer(cert)
        if verified is None:
            raise UntrustedCertificateError(
                f"{describe(cert)} was not issued by a trusted CA "
                f"(issuer {name_text(cert, 'issuer')!r})"
            )
        self._check_validity(verified, cert, at)
        try:
            constraints = verified.extensions.get_extension_for_class(x509.BasicConstraints).value
            if not constraints.ca:
                raise UntrustedCertificateError(f"{describe(verified)} is not a CA certificate")
        except x509.ExtensionNotFound:
            raise UntrustedCertificateError(
                f"{describe(verified)} has no basicConstraints; not usable as a CA"
            ) from None
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not (usage.digital_signature or usage.content_commitment):
            raise KeyUsageError(f"{describe(cert)}: key usage does not allow digital signatures")
        if len(self._issuer_of) > 4096:  # bounded: certificates come from outside
            self._issuer_of.clear()
        self._issuer_of[cert] = verified

    @staticmethod
    def _check_validity(ca: x509.Certificate, cert: x509.Certificate, at: dt.datetime) -> None:
        for which in (ca, cert):
            if not which.not_valid_before_utc <= at <= which.not_valid_after_utc:
                raise CertificateExpiredError(
                    f"{describe(which)} is not valid at {at.isoformat(timespec='seconds')} "
                    f"(valid {which.not_valid_before_utc.isoformat()} to "
                    f"{which.not_valid_after_utc.isoformat()})"
                )

    def _find_issuer(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The CA whose key signed cert (the costly part of check, so its answer is cached)."""
        for ca in self.authorities:
            if ca.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return ca
        return None

    @staticmethod
    def check_sender(cert: x509.Certificate, sender: str) -> None:
        """Raise unless cert is bound to participant ``sender``."""
        bound = participant_ids(cert)
        if sender not in bound:
            owner = ", ".join(bound) if bound else "no participant"
            raise SenderMismatchError(
                f"{describe(cert)} belongs to {owner}, not to the envelope's Sender {sender!r}"
            )
