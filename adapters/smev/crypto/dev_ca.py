"""A development GOST CA and participant certificates (``hub keys new --algorithm gost2012``).

For development and tests only: production SMEV certificates come from an accredited CA. The CA
lives in a folder as ``ca-gost.pem`` + ``ca-gost.key.pem`` and is made on first use; a
participant gets ``<id>.key.pem`` + ``<id>.pem`` with CN=<id> and the SubjectAltName URI
``urn:hub:participant:<id>`` (as envelopes' development PKI writes them). Keys are never
overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import core, x509

from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import (
    OID_GOST2012_256,
    OID_SIGN_GOST2012_256,
    Asn1Certificate,
    Certificate,
    TbsCertificate,
    as_utc,
    dump_gost_private_key,
    gost_key_parameters,
    load_certificate,
    load_gost_private_key,
)
from adapters.smev.errors import SmevCertificateError

CA_CERT_NAME = "ca-gost.pem"
CA_KEY_NAME = "ca-gost.key.pem"
CA_VALIDITY_DAYS = 3650
PARTICIPANT_URI_PREFIX = "urn:hub:participant:"
_PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: Certificate
    key: gost.GostPrivateKey


def _time(value: datetime) -> x509.Time:
    value = as_utc(value).replace(microsecond=0)
    if value.year < 2050:
        return x509.Time(name="utc_time", value=value)
    return x509.Time(name="general_time", value=value)


def _key_id(public_key: gost.GostPublicKey) -> bytes:
    # RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits.
    bits = core.OctetString(public_key.to_le_bytes()).dump()
    return hashlib.sha1(bits, usedforsecurity=False).digest()


def build_gost_certificate(
    *,
    subject: dict[str, str],
    public_key: gost.GostPublicKey,
    issuer_key: gost.GostPrivateKey,
    issuer: Certificate | None,
    not_before: datetime,
    not_after: datetime,
    is_ca: bool,
    san_uris: Sequence[str] = (),
    serial_number: int | None = None,
) -> Certificate:
    """Build and sign a certificate; ``issuer=None`` makes it self-signed."""
    subject_name = x509.Name.build(subject)
    issuer_name = subject_name if issuer is None else x509.Name.load(issuer.subject_der)
    issuer_public = issuer_key.public_key() if issuer is None else issuer.gost_public_key()
    extensions: list[dict[str, Any]] = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": is_ca}},
        {
            "extn_id": "key_usage",
            "critical": True,
            "extn_value": {"key_cert_sign", "crl_sign"}
            if is_ca
            else {"digital_signature", "non_repudiation"},
        },
        {"extn_id": "key_identifier", "critical": False, "extn_value": _key_id(public_key)},
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": _key_id(issuer_public)},
        },
    ]
    if san_uris:
        extensions.append(
            {
                "extn_id": "subject_alt_name",
                "critical": False,
                "extn_value": [
                    x509.GeneralName(name="uniform_resource_identifier", value=uri)
                    for uri in san_uris
                ],
            }
        )
    tbs = TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial_number or (secrets.randbits(63) | 1 << 62),
            "signature": {"algorithm": OID_SIGN_GOST2012_256},
            "issuer": issuer_name,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject_name,
            "subject_public_key_info": {
                "algorithm": {
                    "algorithm": OID_GOST2012_256,
                    "parameters": gost_key_parameters(public_key.param_set),
                },
                "public_key": core.OctetString(public_key.to_le_bytes()).dump(),
            },
            "extensions": extensions,
        }
    )
    signature = gost.sign(issuer_key, tbs.dump())
    cert = Asn1Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": OID_SIGN_GOST2012_256},
            "signature_value": signature,
        }
    )
    return Certificate(cert.dump())


def create_gost_ca(
    common_name: str = "Interagency Hub development GOST CA",
    *,
    days: int = CA_VALIDITY_DAYS,
    now: datetime | None = None,
    param_set: str = gost.CRYPTOPRO_A,
) -> IssuedCertificate:
    """A self-signed GOST CA for development (basicConstraints cA, keyCertSign)."""
    start = as_utc(now or datetime.now(UTC)) - timedelta(minutes=5)
    key = gost.generate_private_key(param_set)
    cert = build_gost_certificate(
        subject={"common_name": common_name, "organization_name": "Interagency Hub (development)"},
        public_key=key.public_key(),
        issuer_key=key,
        issuer=None,
        not_before=start,
        not_after=start + timedelta(days=days),
        is_ca=True,
    )
    return IssuedCertificate(cert, key)


def issue_participant_certificate(
    participant_id: str,
    ca: IssuedCertificate,
    *,
    days: int = 365,
    now: datetime | None = None,
    param_set: str = gost.CRYPTOPRO_A,
) -> IssuedCertificate:
    """A participant certificate: CN=<id>, SAN URI urn:hub:participant:<id>."""
    validate_participant_id(participant_id)
    if days <= 0:
        raise ValueError("days must be positive")
    start = as_utc(now or datetime.now(UTC)) - timedelta(minutes=5)
    key = gost.generate_private_key(param_set)
    cert = build_gost_certificate(
        subject={"common_name": participant_id},
        public_key=key.public_key(),
        issuer_key=ca.key,
        issuer=ca.certificate,
        not_before=start,
        not_after=start + timedelta(days=days),
        is_ca=False,
        san_uris=[PARTICIPANT_URI_PREFIX + participant_id],
    )
    return IssuedCertificate(cert, key)


def validate_participant_id(participant_id: str) -> None:
    """Participant ids become file names and URIs, so keep them to a safe alphabet."""
    if not _PARTICIPANT_ID.fullmatch(participant_id):
        raise ValueError(
            f"invalid participant id {participant_id!r}: use letters, digits, '.', '_', '-' "
            "(up to 64 characters, starting with a letter or digit)"
        )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively (never clobber a key) with the given permissions."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_or_create_gost_ca(out_dir: Path) -> IssuedCertificate:
    """The dev CA in ``out_dir`` (``ca-gost.pem`` + ``ca-gost.key.pem``), made on first use."""
    cert_path, key_path = out_dir / CA_CERT_NAME, out_dir / CA_KEY_NAME
    if cert_path.exists() and key_path.exists():
        ca = IssuedCertificate(
            load_certificate(cert_path.read_bytes()),
            load_gost_private_key(key_path.read_bytes()),
        )
        if ca.key.public_key() != ca.certificate.gost_public_key():
            raise SmevCertificateError(f"{key_path} does not belong to {cert_path}")
        return ca
    if cert_path.exists() or key_path.exists():
        present = cert_path if cert_path.exists() else key_path
        raise SmevCertificateError(f"{present} exists without its pair; refusing to replace the CA")
    ca = create_gost_ca()
    _write_new(key_path, dump_gost_private_key(ca.key), 0o600)
    _write_new(cert_path, ca.certificate.to_pem(), 0o644)
    return ca


def issue_gost_certificate(
    participant_id: str, out_dir: Path, days: int = 365
) -> tuple[Path, Path]:
    """Write ``<id>.key.pem`` and ``<id>.pem`` signed by the dev GOST CA; return (key, cert).

    Creates ``ca-gost.pem``/``ca-gost.key.pem`` in ``out_dir`` on first use. Refuses to
    overwrite an existing participant key or certificate (FileExistsError).
    """
    validate_participant_id(participant_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = out_dir / f"{participant_id}.key.pem", out_dir / f"{participant_id}.pem"
    for path in (key_path, cert_path):
        if path.exists():
            raise FileExistsError(f"{path} already exists; not overwriting it")
    ca = load_or_create_gost_ca(out_dir)
    issued = issue_participant_certificate(participant_id, ca, days=days)
    _write_new(key_path, dump_gost_private_key(issued.key), 0o600)
    _write_new(cert_path, issued.certificate.to_pem(), 0o644)
    return key_path, cert_path
