"""Hostile inputs the fuzzers found, built on purpose: certificates whose fields do not decode.

A certificate is bytes from outside: anyone can put a subject in it that breaks its own ASN.1
string type, with or without a CA's signature. ``undecodable_subject`` makes one (a UTF8String
holding no UTF-8), signed again by the given CA so that it even passes the trust check.
"""

from __future__ import annotations

import base64

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from envelopes.pki import PrivateKey, issue_certificate

_MARKER = "ZQZQZQZQ"  # a common name found again in the DER and overwritten


def undecodable_subject(
    participant_id: str,
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    *,
    resign: bool = True,
) -> x509.Certificate:
    """A participant certificate whose subject CN is not UTF-8 (``resign``: still CA-signed)."""
    cert = issue_certificate(participant_id, ca_key, ca_cert, public_key)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _MARKER)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(cert.issuer)
        .public_key(public_key)
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for extension in cert.extensions:  # the SAN still binds the participant
        builder = builder.add_extension(extension.value, extension.critical)
    der = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    assert der.count(_MARKER.encode()) == 1
    der = der.replace(_MARKER.encode(), b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")
    if resign:
        parsed = asn1_x509.Certificate.load(der)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        signature = ca_key.sign(parsed["tbs_certificate"].dump(), ec.ECDSA(hashes.SHA256()))
        parsed["signature_value"] = signature
        der = parsed.dump()
    return x509.load_der_x509_certificate(der)


def with_certificate(body: bytes, cert: x509.Certificate) -> bytes:
    """The envelope with its (first) X509Certificate replaced: needs no key at all."""
    start = body.index(b"<ds:X509Certificate>") + len(b"<ds:X509Certificate>")
    end = body.index(b"</ds:X509Certificate>", start)
    text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER))
    return body[:start] + text + body[end:]
