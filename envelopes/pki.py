"""Development PKI: a CA and participant certificates, and a trust store that checks them.

A certificate belongs to a participant when it carries the SubjectAltName URI
``urn:hub:participant:<id>`` (the CN repeats the id for humans, but only the SAN binds). Production
deployments issue such certificates from their own CA; ``hub keys new`` makes development ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from envelopes.errors import (
    CertificateError,
    CertificateExpiredError,
    KeyUsageError,
    SenderMismatchError,
    UntrustedCertificateError,
)
from envelopes.revocation import RevocationChecker

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


PASSPHRASE_ENV = "HUB_KEY_PASSPHRASE"  # where the commands look for a key passphrase


def read_passphrase(env: str | None = None, file: str | Path | None = None) -> bytes | None:
    """A key passphrase from a file (its first line) or an environment variable; never from
    the command line, where every user of the machine can read it (ps, /proc, shell history)."""
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CertificateError(
                f"{file}: cannot read the key passphrase ({exc.strerror})"
            ) from None
        if not text or not text[0]:
            raise CertificateError(f"{file}: the key passphrase file is empty")
        return text[0].encode()
    if env:
        value = os.environ.get(env)
        if value:
            return value.encode()
    return None


def _write_key(path: Path, key: PrivateKey, passphrase: bytes | None = None) -> None:
    """PKCS#8 PEM, encrypted (PBES2, AES-256-CBC, PBKDF2) when a passphrase is given."""
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
    )
    path.touch(mode=0o600)
    path.chmod(0o600)  # before the key is in it
    path.write_bytes(pem)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> PrivateKey:
    """A PKCS#8 (or traditional) PEM key; an encrypted one needs its passphrase."""
    data = Path(path).read_bytes()
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in data
    if encrypted and not passphrase:
        raise CertificateError(
            f"{path}: the key is encrypted; give its passphrase in the environment "
            f"({PASSPHRASE_ENV} or [pki] key_passphrase_env) or a file ([pki] key_passphrase_file)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except (ValueError, TypeError):
        what = "the passphrase does not open it" if encrypted else "not a PEM private key"
        raise CertificateError(f"{path}: {what}") from None
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


def ensure_ca(
    out_dir: Path, days: int = 3650, passphrase: bytes | None = None
) -> tuple[PrivateKey, x509.Certificate]:
    """The development CA in out_dir (ca.pem, ca.key.pem), created on first use."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out_dir / f"{CA_NAME}.pem", out_dir / f"{CA_NAME}.key.pem"
    if cert_path.exists() and key_path.exists():
        return load_private_key(key_path, passphrase), load_certificate(cert_path)
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
    _write_key(key_path, key, passphrase)
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
    crl_url: str = "",
    ocsp_url: str = "",
) -> x509.Certificate:
    """A participant certificate: CN and SAN URI name the participant; where its revocation
    is published (CRL distribution point, OCSP responder) when given."""
    start = not_before or (_now() - dt.timedelta(minutes=5))
    builder = x509.CertificateBuilder()
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if ocsp_url:
        access = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    return (
        builder.subject_name(
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
    participant_id: str,
    out_dir: Path,
    algorithm: str = "ecdsa",
    days: int = 365,
    *,
    passphrase: bytes | None = None,
    crl_url: str = "",
    ocsp_url: str = "",
) -> tuple[Path, Path]:
    """Key and certificate for a participant (DIR/ID.key.pem, DIR/ID.pem) from DIR's CA; the
    key (and a CA made now) encrypted when a passphrase is given."""
    ca_key, ca_cert = ensure_ca(out_dir, passphrase=passphrase)
    key = new_private_key(algorithm)
    cert = issue_certificate(
        participant_id,
        ca_key,
        ca_cert,
        key.public_key(),
        days=days,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
    )
    key_path, cert_path = out_dir / f"{participant_id}.key.pem", out_dir / f"{participant_id}.pem"
    _write_key(key_path, key, passphrase)
    _write_cert(cert_path, cert)
    return key_path, cert_path


CRL_NAME = f"{CA_NAME}.crl"  # DER, as served over HTTP (RFC 5280 4.2.1.13)


def publish_crl(
    out_dir: Path,
    revoke: x509.Certificate | None = None,
    *,
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
    days: float = 7,
    passphrase: bytes | None = None,
) -> tuple[Path, dt.datetime | None]:
    """(Re)issue the development CA's CRL (DIR/ca.crl), adding ``revoke`` to the entries it had;
    returns the file and when ``revoke`` was (or had already been) revoked."""
    ca_key, ca_cert = ensure_ca(out_dir, passphrase=passphrase)
    path = out_dir / CRL_NAME
    entries: list[x509.RevokedCertificate] = []
    number = 1
    if path.is_file():
        old = x509.load_der_x509_crl(path.read_bytes())
        entries = list(old)
        with contextlib.suppress(x509.ExtensionNotFound):
            number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    now = _now()
    when: dt.datetime | None = None
    if revoke is not None:
        if revoke.issuer != ca_cert.subject:
            raise CertificateError(f"{describe(revoke)} was not issued by this CA")
        known = [e for e in entries if e.serial_number == revoke.serial_number]
        if known:
            when = known[0].revocation_date_utc
        else:
            when = now.replace(microsecond=0)
            entries.append(
                x509.RevokedCertificateBuilder()
                .serial_number(revoke.serial_number)
                .revocation_date(when)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for entry in entries:
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(ca_key, hashes.SHA256())
    partial = path.with_suffix(".crl.part")
    partial.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    partial.replace(path)  # a server publishing the folder never serves half a CRL
    return path, when


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
    # asked after the chain is checked, every time (it keeps its own cache of CRLs)
    revocation: RevocationChecker | None = None
    # keyed by the certificate itself (hashed and compared by its DER): cheaper than a fingerprint
    _issuer_of: dict[x509.Certificate, x509.Certificate] = field(default_factory=dict, repr=False)

    @classmethod
    def from_pem_files(
        cls, paths: Iterable[str | Path], revocation: RevocationChecker | None = None
    ) -> TrustStore:
        authorities: list[x509.Certificate] = []
        for path in paths:
            authorities.extend(load_certificates(path))
        return cls(authorities, revocation)

    def check(self, cert: x509.Certificate, at: dt.datetime | None = None) -> None:
        """Raise unless cert was issued by one of our CAs, is valid at ``at``, may sign and is
        not revoked."""
        at = at or _now()
        verified = self._issuer_of.get(cert)
        if verified is not None:  # chain, CA constraints and key usage were checked before
            self._check_validity(verified, cert, at)
            if self.revocation is not None:
                self.revocation.check(cert, verified, at)
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
        if self.revocation is not None:
            self.revocation.check(cert, verified, at)

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
