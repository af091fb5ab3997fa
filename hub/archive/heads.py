"""Signed tree heads: the hub's signature over (size, root hash, time) (docs/archive.md).

The signed bytes are a canonical JSON object (sorted keys, no whitespace, UTF-8)::

    {"at":"2026-12-06T13:40:00.000000Z","log":"hub-archive/1","root":"<64 hex>","size":N}

signed with the hub's key: RSA keys with RSASSA-PKCS1-v1_5 / SHA-256, EC keys with ECDSA /
SHA-256 (DER signature). The verifier needs only these bytes, the signature and the hub's
certificate.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

LOG_ID = "hub-archive/1"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class HeadError(ValueError):
    """A tree head whose signature or content does not hold."""


@dataclass(frozen=True)
class SignedHead:
    size: int
    root: bytes
    at: str
    signed: bytes  # the exact bytes the signature covers
    signature: bytes

    def as_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root": self.root.hex(),
            "at": self.at,
            "signed": base64.b64encode(self.signed).decode(),
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SignedHead:
        try:
            return cls(
                int(str(data["size"])),
                bytes.fromhex(str(data["root"])),
                str(data["at"]),
                base64.b64decode(str(data["signed"]), validate=True),
                base64.b64decode(str(data["signature"]), validate=True),
            )
        except (KeyError, ValueError) as exc:
            raise HeadError(f"not a signed tree head: {exc}") from None


def now_at() -> str:
    """A head's time: UTC, microseconds, ``Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def head_bytes(size: int, root: bytes, at: str) -> bytes:
    obj = {"at": at, "log": LOG_ID, "root": root.hex(), "size": size}
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sign_head(key: PrivateKey, size: int, root: bytes, at: str) -> SignedHead:
    signed = head_bytes(size, root, at)
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    return SignedHead(size, root, at, signed, signature)


def verify_head(head: SignedHead, cert: x509.Certificate) -> None:
    """HeadError unless the hub's certificate's key signed exactly this head."""
    public = cert.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(head.signature, head.signed, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(head.signature, head.signed, ec.ECDSA(hashes.SHA256()))
        else:
            raise HeadError("the certificate's key is neither RSA nor EC")
    except InvalidSignature:
        raise HeadError(
            f"tree head {head.size}: the signature does not verify with the hub's certificate"
        ) from None
    if head.signed != head_bytes(head.size, head.root, head.at):
        raise HeadError(f"tree head {head.size}: its fields differ from what was signed")
