"""Detached CMS (PKCS#7) signatures, GOST R 34.10-2012 / 34.11-2012 (256), on asn1crypto.

MEDO signs each file of a package with a detached ``.p7s``: a ContentInfo/SignedData without
the content, with the signer's certificate and signed attributes (content type, message
digest, signing time), as RFC 5652 and RFC 4490/9337 (GOST in CMS) describe. The GOST
arithmetic and certificate handling are the SMEV adapter's (``adapters.smev.crypto``); the
signer is any object with ``sign(data)`` and ``certificate_der`` (the SMEV signers: the built-in
GOST one, or an external command for a certified provider).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from asn1crypto import cms

from adapters.medo.errors import SignatureError
from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import Certificate, GostTrustStore
from adapters.smev.errors import SmevError

OID_STREEBOG256 = "1.2.643.7.1.1.2.2"  # id-tc26-gost3411-12-256
OID_GOST2012_256 = "1.2.643.7.1.1.1.1"  # id-tc26-gost3410-12-256 (the key, as RFC 4490 signs)
OID_SIGN_WITH_256 = "1.2.643.7.1.1.3.2"  # id-tc26-signwithdigest-gost3410-12-256
_SIGNATURE_OIDS = {OID_GOST2012_256, OID_SIGN_WITH_256}
MAX_SIGNATURE_BYTES = 256 * 1024  # a .p7s holds a certificate or three, not megabytes


class CmsSigner(Protocol):
    """What signs: raw GOST signature (``s || r``) over data, and the certificate it goes with."""

    certificate_der: bytes

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class VerifiedSignature:
    """Who signed a file and when they said they did."""

    signer: str  # the certificate's name (CN or subject)
    serial: int
    signed_at: dt.datetime | None


def sign_detached(data: bytes, signer: CmsSigner, at: dt.datetime | None = None) -> bytes:
    """A DER ``.p7s`` over ``data`` (the content itself is not inside)."""
    certificate = Certificate(signer.certificate_der)
    moment = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    attributes = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": moment})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [gost.streebog256(data)]}),
        ]
    )
    signature = signer.sign(attributes.dump())
    digest_algorithm = cms.DigestAlgorithm({"algorithm": OID_STREEBOG256})
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {
                            "issuer": _certificate(certificate)["tbs_certificate"]["issuer"],
                            "serial_number": certificate.serial_number,
                        }
                    )
                }
            ),
            "digest_algorithm": digest_algorithm,
            "signed_attrs": attributes,
            "signature_algorithm": cms.SignedDigestAlgorithm({"algorithm": OID_GOST2012_256}),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [digest_algorithm],
            "encap_content_info": {"content_type": "data"},
            "certificates": [_certificate(certificate)],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def _certificate(certificate: Certificate) -> cms.Certificate:
    return cms.Certificate.load(certificate.der)


def verify_detached(
    data: bytes, p7s: bytes, trust: GostTrustStore, at: dt.datetime | None = None
) -> list[VerifiedSignature]:
    """Check every SignerInfo of ``p7s`` over ``data``; SignatureError names what fails.

    Each signer's certificate must be in the ``.p7s`` and chain to ``trust`` (at ``at``, by
    default now); the message digest attribute must be the Streebog-256 of ``data`` and the
    signature over the signed attributes must verify with the certificate's key.
    """
    if len(p7s) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"the signature is {len(p7s)} bytes (at most {MAX_SIGNATURE_BYTES})")
    try:
        info = cms.ContentInfo.load(p7s, strict=True)
        if info["content_type"].native != "signed_data":
            raise SignatureError("it is CMS but not SignedData")
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        certificates = [
            Certificate(c.chosen.dump())
            for c in (signed["certificates"] or [])
            if c.name == "certificate"
        ]
    except SignatureError:
        raise
    except (ValueError, TypeError, KeyError, SmevError) as exc:
        raise SignatureError(f"not a readable CMS signature: {exc}") from None
    if not signer_infos:
        raise SignatureError("the CMS structure has no signer")
    if signed["encap_content_info"]["content"].native is not None:
        raise SignatureError("the signature carries content: a detached signature is expected")
    found: list[VerifiedSignature] = []
    for signer_info in signer_infos:
        found.append(_verify_one(data, signer_info, certificates, trust, at))
    return found


def _verify_one(
    data: bytes,
    signer_info: cms.SignerInfo,
    certificates: list[Certificate],
    trust: GostTrustStore,
    at: dt.datetime | None,
) -> VerifiedSignature:
    try:
        digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
        signature_oid = signer_info["signature_algorithm"]["algorithm"].dotted
        sid = signer_info["sid"]
        attributes = signer_info["signed_attrs"]
        signature = bytes(signer_info["signature"].native)
    except (ValueError, TypeError, KeyError) as exc:
        raise SignatureError(f"a signer entry cannot be read: {exc}") from None
    if digest_oid != OID_STREEBOG256:
        raise SignatureError(f"digest {digest_oid} is not GOST R 34.11-2012 (256)")
    if signature_oid not in _SIGNATURE_OIDS:
        raise SignatureError(f"signature algorithm {signature_oid} is not GOST R 34.10-2012 (256)")
    if sid.name != "issuer_and_serial_number":
        raise SignatureError("the signer is named by key identifier; issuer and serial expected")
    issuer = sid.chosen["issuer"].dump()
    serial = sid.chosen["serial_number"].native
    certificate = next(
        (c for c in certificates if c.issuer_der == issuer and c.serial_number == serial), None
    )
    if certificate is None:
        raise SignatureError(f"the signer's certificate (serial {serial:x}) is not in the .p7s")
    if not isinstance(attributes, cms.CMSAttributes) or attributes.native is None:
        raise SignatureError("no signed attributes (a message digest is required)")
    values = {a["type"].native: a["values"] for a in attributes}
    if values.get("content_type") is None or values["content_type"][0].native != "data":
        raise SignatureError("the signed content type is not 'data'")
    digest = values.get("message_digest")
    if digest is None:
        raise SignatureError("no message digest among the signed attributes")
    if bytes(digest[0].native) != gost.streebog256(data):
        raise SignatureError("the file does not match its signature (digest differs)")
    try:
        trust.verify(certificate, at)
        key = certificate.gost_public_key()
    except SmevError as exc:
        raise SignatureError(f"certificate '{certificate.name}': {exc}") from None
    signed_bytes = _as_set(attributes)
    if not gost.verify(key, signed_bytes, signature):
        raise SignatureError(f"the signature of '{certificate.name}' does not verify")
    signing_time = values.get("signing_time")
    when = signing_time[0].native if signing_time is not None else None
    return VerifiedSignature(certificate.name, serial, when)


def _as_set(attributes: cms.CMSAttributes) -> bytes:
    """The signed attributes as signed: a SET OF (tag 0x31), not the [0] IMPLICIT they travel as."""
    raw: bytes = attributes.dump()
    contents: bytes = attributes.contents
    header_length = len(raw) - len(contents)
    return b"\x31" + raw[1:header_length] + contents
