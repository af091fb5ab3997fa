"""X.509 certificates with GOST R 34.10-2012 keys: reading them, GOST private keys, chain checks.

asn1crypto's stock classes refuse GOST public keys (they look the key type up in a closed
table), so the certificate structure is declared here with the subject public key kept as raw
bytes; the GOST-specific parts (parameters, key encoding) are decoded by this module. The same
classes read RSA/EC certificates too; their signatures are checked through ``cryptography``.

Private keys are stored as unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``) with the
algorithm OID 1.2.643.7.1.1.1.1 and the key as an OCTET STRING of 32 little-endian bytes, the
layout OpenSSL's gost-engine writes, so the files can be used with it as well.

The development CA that issues such certificates is in ``dev_ca.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from asn1crypto import core, pem, x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from adapters.smev.crypto import gost
from adapters.smev.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    CertificateParseError,
    GostError,
    SmevCertificateError,
    UnsupportedKeyError,
    UntrustedCertificateError,
)

# Public-key algorithms
OID_GOST2012_256 = "1.2.643.7.1.1.1.1"
OID_GOST2012_512 = "1.2.643.7.1.1.1.2"
OID_GOST2001 = "1.2.643.2.2.19"
# Signature algorithms
OID_SIGN_GOST2012_256 = "1.2.643.7.1.1.3.2"
OID_SIGN_GOST2012_512 = "1.2.643.7.1.1.3.3"
OID_SIGN_GOST2001 = "1.2.643.2.2.3"
# Digest parameter sets
OID_STREEBOG256 = "1.2.643.7.1.1.2.2"
OID_GOSTR3411_94_CRYPTOPRO = "1.2.643.2.2.30.1"

GOST_KEY_OIDS = {OID_GOST2012_256, OID_GOST2012_512, OID_GOST2001}
LEGACY_SIGNATURE_OIDS = {OID_SIGN_GOST2001: "GOST R 34.10-2001 with GOST R 34.11-94"}

_MAX_CHAIN = 8


# --- ASN.1 structures -------------------------------------------------------------------


class AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class GostPublicKeyParameters(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """GostR3410-2012-PublicKeyParameters (RFC 9215); also fits the 2001 form."""

    _fields: ClassVar[list[Any]] = [
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
        ("encryption_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


class SubjectPublicKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("algorithm", AlgorithmIdentifier),
        ("public_key", core.OctetBitString),
    ]


class TbsCertificate(x509.TbsCertificate):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("version", x509.Version, {"explicit": 0, "default": "v1"}),
        ("serial_number", core.Integer),
        ("signature", AlgorithmIdentifier),
        ("issuer", x509.Name),
        ("validity", x509.Validity),
        ("subject", x509.Name),
        ("subject_public_key_info", SubjectPublicKeyInfo),
        ("issuer_unique_id", core.OctetBitString, {"implicit": 1, "optional": True}),
        ("subject_unique_id", core.OctetBitString, {"implicit": 2, "optional": True}),
        ("extensions", x509.Extensions, {"explicit": 3, "optional": True}),
    ]


class Asn1Certificate(x509.Certificate):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("tbs_certificate", TbsCertificate),
        ("signature_algorithm", AlgorithmIdentifier),
        ("signature_value", core.OctetBitString),
    ]


class _Attributes(core.SetOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = core.Any


class PrivateKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer),
        ("private_key_algorithm", AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", _Attributes, {"implicit": 0, "optional": True}),
    ]


# --- reading certificates ---------------------------------------------------------------

_NAME_LABELS = {
    "common_name": "CN",
    "surname": "SN",
    "given_name": "G",
    "organization_name": "O",
    "organizational_unit_name": "OU",
    "country_name": "C",
    "state_or_province_name": "ST",
    "locality_name": "L",
    "street_address": "STREET",
    "email_address": "E",
    "title": "T",
}


def _name_text(name: x509.Name) -> str:
    parts: list[str] = []
    for rdn in name.chosen:
        for attribute in rdn:
            key = attribute["type"].native
            label = _NAME_LABELS.get(key, attribute["type"].dotted)
            value = attribute["value"].native
            parts.append(f"{label}={value}")
    return ", ".join(parts) or "(empty name)"


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


class Certificate:
    """A parsed X.509 certificate (any key type) with the fields the verifier needs."""

    def __init__(self, der: bytes) -> None:
        try:
            asn1 = Asn1Certificate.load(der, strict=True)
            tbs = asn1["tbs_certificate"]
            self.subject = _name_text(tbs["subject"])
            self.issuer = _name_text(tbs["issuer"])
            self.subject_der: bytes = tbs["subject"].dump()
            self.issuer_der: bytes = tbs["issuer"].dump()
            self.serial_number: int = tbs["serial_number"].native
            self.not_before = as_utc(tbs["validity"]["not_before"].native)
            self.not_after = as_utc(tbs["validity"]["not_after"].native)
            spki = tbs["subject_public_key_info"]
            self.key_algorithm: str = spki["algorithm"]["algorithm"].dotted
            self.signature_algorithm: str = asn1["signature_algorithm"]["algorithm"].dotted
            self.tbs_der: bytes = tbs.dump()
            self.signature: bytes = asn1["signature_value"].native
            self.is_ca = bool(asn1.ca)
            usage = asn1.key_usage_value
            self.key_usage: frozenset[str] | None = (
                None if usage is None else frozenset(usage.native)
            )
            san = asn1.subject_alt_name_value
            self.san_uris: tuple[str, ...] = tuple(
                general.native
                for general in (san or [])
                if general.name == "uniform_resource_identifier"
            )
            self.common_name: str | None = tbs["subject"].native.get("common_name")
        except (ValueError, TypeError, KeyError) as exc:
            raise CertificateParseError(f"not a valid X.509 certificate: {exc}") from exc
        self.der = der
        self._asn1 = asn1

    def __repr__(self) -> str:
        return f"Certificate(subject={self.subject!r}, serial={self.serial_number:x})"

    @property
    def name(self) -> str:
        """Short name for messages: the CN, else the whole subject."""
        return self.common_name or self.subject

    @property
    def is_gost(self) -> bool:
        return self.key_algorithm in GOST_KEY_OIDS

    def gost_public_key(self) -> gost.GostPublicKey:
        """The GOST R 34.10-2012 256-bit public key (``X || Y`` little-endian in the cert)."""
        if self.key_algorithm != OID_GOST2012_256:
            if self.key_algorithm in (OID_GOST2012_512, OID_GOST2001):
                raise UnsupportedKeyError(
                    f"certificate '{self.name}' has a {self.key_algorithm} key; "
                    "only GOST R 34.10-2012 256-bit keys are supported"
                )
            raise UnsupportedKeyError(f"certificate '{self.name}' does not hold a GOST key")
        spki = self._asn1["tbs_certificate"]["subject_public_key_info"]
        try:
            params = GostPublicKeyParameters.load(spki["algorithm"]["parameters"].dump())
            param_set = params["public_key_param_set"].dotted
            raw = core.OctetString.load(spki["public_key"].native).native
            return gost.GostPublicKey.from_le_bytes(param_set, raw)
        except GostError as exc:
            raise UnsupportedKeyError(f"certificate '{self.name}': {exc}") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise CertificateParseError(
                f"certificate '{self.name}' has a malformed GOST public key: {exc}"
            ) from exc

    def gost_param_set(self) -> str:
        return self.gost_public_key().param_set

    def check_validity(self, at: datetime) -> None:
        """Raise if the certificate is not valid at ``at`` (an aware datetime)."""
        at = as_utc(at)
        if at < self.not_before:
            raise CertificateNotYetValidError(
                f"certificate '{self.name}' is not valid before {_iso(self.not_before)} "
                f"(checked at {_iso(at)})"
            )
        if at > self.not_after:
            raise CertificateExpiredError(
                f"certificate '{self.name}' expired at {_iso(self.not_after)} "
                f"(checked at {_iso(at)})"
            )

    def to_pem(self) -> bytes:
        return bytes(pem.armor("CERTIFICATE", self.der))


def load_certificates(data: bytes) -> list[Certificate]:
    """All certificates in PEM (one or more blocks) or a single DER certificate."""
    if pem.detect(data):
        certs = [
            Certificate(der)
            for kind, _headers, der in pem.unarmor(data, multiple=True)
            if kind == "CERTIFICATE"
        ]
        if not certs:
            raise CertificateParseError("no CERTIFICATE block in PEM data")
        return certs
    return [Certificate(data)]


def load_certificate(data: bytes) -> Certificate:
    """One certificate from PEM or DER."""
    return load_certificates(data)[0]


# --- certificate signatures and chains --------------------------------------------------


def verify_issued_by(cert: Certificate, issuer: Certificate) -> None:
    """Check that ``issuer``'s key signed ``cert``; raises UntrustedCertificateError if not."""
    algorithm = cert.signature_algorithm
    if algorithm in LEGACY_SIGNATURE_OIDS:
        raise UnsupportedKeyError(
            f"certificate '{cert.name}' is signed with {LEGACY_SIGNATURE_OIDS[algorithm]}: "
            "unsupported legacy algorithm"
        )
    if algorithm == OID_SIGN_GOST2012_256:
        key = issuer.gost_public_key()
        if not gost.verify(key, cert.tbs_der, cert.signature):
            raise UntrustedCertificateError(
                f"certificate '{cert.name}': signature of issuer '{issuer.name}' does not verify"
            )
        return
    if algorithm == OID_SIGN_GOST2012_512:
        raise UnsupportedKeyError(
            f"certificate '{cert.name}' is signed with GOST R 34.10-2012 512-bit: unsupported"
        )
    try:
        child = cx509.load_der_x509_certificate(cert.der)
        parent = cx509.load_der_x509_certificate(issuer.der)
        child.verify_directly_issued_by(parent)
    except InvalidSignature as exc:
        raise UntrustedCertificateError(
            f"certificate '{cert.name}': signature of issuer '{issuer.name}' does not verify"
        ) from exc
    except (UnsupportedAlgorithm, TypeError) as exc:
        raise UnsupportedKeyError(
            f"certificate '{cert.name}': unsupported signature algorithm {algorithm}"
        ) from exc
    except ValueError as exc:
        raise UntrustedCertificateError(f"certificate '{cert.name}': {exc}") from exc


def _check_can_issue(issuer: Certificate, child: Certificate) -> None:
    if not issuer.is_ca:
        raise UntrustedCertificateError(
            f"'{issuer.name}' issued '{child.name}' but is not a CA (basicConstraints)"
        )
    if issuer.key_usage is not None and "key_cert_sign" not in issuer.key_usage:
        raise UntrustedCertificateError(
            f"'{issuer.name}' issued '{child.name}' but its keyUsage lacks keyCertSign"
        )


class GostTrustStore:
    """Trusted CA certificates: a certificate is trusted if it chains to one of them.

    Not ``envelopes.pki.TrustStore``, which holds ``cryptography`` certificates and so cannot
    check a GOST signature; this one checks GOST and RSA chains alike.
    """

    def __init__(self, anchors: Iterable[Certificate]) -> None:
        self.anchors: list[Certificate] = list(anchors)

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> GostTrustStore:
        anchors: list[Certificate] = []
        for path in paths:
            anchors.extend(load_certificates(Path(path).read_bytes()))
        return cls(anchors)

    def __len__(self) -> int:
        return len(self.anchors)

    def verify(
        self,
        cert: Certificate,
        at: datetime | None = None,
        intermediates: Sequence[Certificate] = (),
    ) -> list[Certificate]:
        """Validate ``cert`` at ``at`` (default: now); return the chain ending at an anchor.

        ``intermediates`` (e.g. extra X509Certificate elements of a KeyInfo) are untrusted
        helpers for building the chain. Raises a SmevCertificateError subclass naming the reason.
        """
        moment = as_utc(at or datetime.now(UTC))
        cert.check_validity(moment)
        anchor_ders = {anchor.der for anchor in self.anchors}
        chain = [cert]
        current = cert
        for _ in range(_MAX_CHAIN):
            if current.der in anchor_ders:
                return chain
            failures: list[SmevCertificateError] = []
            for anchor in self.anchors:
                if anchor.subject_der != current.issuer_der:
                    continue
                try:
                    _check_can_issue(anchor, current)
                    verify_issued_by(current, anchor)
                except SmevCertificateError as exc:
                    failures.append(exc)
                    continue
                anchor.check_validity(moment)
                return [*chain, anchor]
            if failures:
                raise failures[0]
            helper = next(
                (
                    c
                    for c in intermediates
                    if c.subject_der == current.issuer_der and c.der not in {x.der for x in chain}
                ),
                None,
            )
            if helper is None:
                raise UntrustedCertificateError(
                    f"certificate '{current.name}' is not issued by a trusted CA "
                    f"(issuer: {current.issuer})"
                )
            _check_can_issue(helper, current)
            verify_issued_by(current, helper)
            helper.check_validity(moment)
            chain.append(helper)
            current = helper
        raise UntrustedCertificateError(f"certificate chain of '{cert.name}' is too long")


def verify_certificate(
    cert: Certificate,
    trust: GostTrustStore,
    at: datetime | None = None,
    intermediates: Sequence[Certificate] = (),
) -> list[Certificate]:
    """Function form of GostTrustStore.verify."""
    return trust.verify(cert, at, intermediates)


# --- GOST private keys ------------------------------------------------------------------


def dump_gost_private_key(key: gost.GostPrivateKey) -> bytes:
    """PKCS#8 PEM for a GOST R 34.10-2012 256-bit key (see module docstring)."""
    info = PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {
                "algorithm": OID_GOST2012_256,
                "parameters": gost_key_parameters(key.param_set),
            },
            "private_key": core.OctetString(key.to_le_bytes()).dump(),
        }
    )
    return bytes(pem.armor("PRIVATE KEY", info.dump()))


def load_gost_private_key(data: bytes) -> gost.GostPrivateKey:
    """Read a PKCS#8 GOST 2012-256 key (PEM or DER).

    The inner key may be an OCTET STRING of 32 little-endian bytes (current gost-engine), an
    INTEGER (older tools) or the bare 32 little-endian bytes.
    """
    der = data
    if pem.detect(data):
        kind, _headers, der = pem.unarmor(data)
        if kind != "PRIVATE KEY":
            raise CertificateParseError(f"expected a PKCS#8 'PRIVATE KEY' PEM block, got {kind!r}")
    try:
        info = PrivateKeyInfo.load(der, strict=True)
        algorithm = info["private_key_algorithm"]["algorithm"].dotted
        if algorithm != OID_GOST2012_256:
            raise UnsupportedKeyError(f"not a GOST R 34.10-2012 256-bit key ({algorithm})")
        params = GostPublicKeyParameters.load(info["private_key_algorithm"]["parameters"].dump())
        param_set = params["public_key_param_set"].dotted
        inner: bytes = info["private_key"].native
    except SmevCertificateError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CertificateParseError(f"malformed PKCS#8 private key: {exc}") from exc
    d = _decode_private_scalar(inner)
    try:
        return gost.GostPrivateKey(param_set, d)
    except GostError as exc:
        raise UnsupportedKeyError(str(exc)) from exc


def _decode_private_scalar(inner: bytes) -> int:
    try:
        value = core.load(inner, strict=True)
    except ValueError:
        value = None
    if isinstance(value, core.OctetString) and len(value.native) == gost.SIZE:
        return int.from_bytes(value.native, "little")
    if isinstance(value, core.Integer):
        return int(value.native)
    if len(inner) == gost.SIZE:
        return int.from_bytes(inner, "little")
    raise CertificateParseError("unrecognised GOST private key encoding")


def gost_key_parameters(param_set: str) -> GostPublicKeyParameters:
    """The key parameters a certificate or a PKCS#8 key carries for this parameter set."""
    fields: dict[str, Any] = {"public_key_param_set": param_set}
    # RFC 9215: the digest OID accompanies the CryptoPro/test sets, not the tc26 ones.
    if not param_set.startswith("1.2.643.7.1.2.1.1."):
        fields["digest_param_set"] = OID_STREEBOG256
    return GostPublicKeyParameters(fields)
