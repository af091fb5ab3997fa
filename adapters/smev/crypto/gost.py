"""GOST R 34.11-2012 (Streebog) digests and GOST R 34.10-2012 (256-bit) signatures.

The arithmetic is gostcrypto's (pure Python, no CryptoPro needed); this module pins down the
byte-order conventions that gostcrypto leaves to the caller and that interoperable GOST
software (RFC 4491/9215, CryptoPro, OpenSSL gost-engine, SMEV) agrees on:

- a Streebog digest is the byte string the hash function outputs (what XMLDSig DigestValue
  carries); the signature scheme reads it as a *little-endian* integer (gostcrypto would read it
  big-endian, so we reverse it before handing it over);
- a signature is 64 bytes ``s || r``, each big-endian (gostcrypto returns ``r || s``);
- a public key in a certificate is ``X || Y``, each little-endian (gostcrypto wants big-endian).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gostcrypto import gosthash, gostsignature

from adapters.smev.errors import GostError

SIZE = 32  # bytes in r, s, a coordinate and a private key for the 256-bit variant

# Parameter-set OIDs (RFC 4357, RFC 7836/9215) -> gostcrypto curve names. CryptoPro-A/XchA are
# the curve tc26 calls 256-paramSetB; CryptoPro-B is paramSetC; CryptoPro-C/XchB is paramSetD.
TEST_PARAM_SET = "1.2.643.2.2.35.0"  # id-GostR3410-2001-TestParamSet (RFC 7091/9215 examples)
CRYPTOPRO_A = "1.2.643.2.2.35.1"
CRYPTOPRO_B = "1.2.643.2.2.35.2"
CRYPTOPRO_C = "1.2.643.2.2.35.3"
CRYPTOPRO_XCHA = "1.2.643.2.2.36.0"
CRYPTOPRO_XCHB = "1.2.643.2.2.36.1"
TC26_256_A = "1.2.643.7.1.2.1.1.1"
TC26_256_B = "1.2.643.7.1.2.1.1.2"
TC26_256_C = "1.2.643.7.1.2.1.1.3"
TC26_256_D = "1.2.643.7.1.2.1.1.4"

PARAM_SET_NAMES: dict[str, str] = {
    TEST_PARAM_SET: "id-GostR3410-2001-TestParamSet",
    CRYPTOPRO_A: "id-GostR3410-2001-CryptoPro-A-ParamSet",
    CRYPTOPRO_B: "id-GostR3410-2001-CryptoPro-B-ParamSet",
    CRYPTOPRO_C: "id-GostR3410-2001-CryptoPro-C-ParamSet",
    CRYPTOPRO_XCHA: "id-GostR3410-2001-CryptoPro-XchA-ParamSet",
    CRYPTOPRO_XCHB: "id-GostR3410-2001-CryptoPro-XchB-ParamSet",
    TC26_256_A: "id-tc26-gost-3410-2012-256-paramSetA",
    TC26_256_B: "id-tc26-gost-3410-2012-256-paramSetB",
    TC26_256_C: "id-tc26-gost-3410-2012-256-paramSetC",
    TC26_256_D: "id-tc26-gost-3410-2012-256-paramSetD",
}

_GOSTCRYPTO_CURVE: dict[str, str] = {
    CRYPTOPRO_A: "id-tc26-gost-3410-2012-256-paramSetB",
    CRYPTOPRO_XCHA: "id-tc26-gost-3410-2012-256-paramSetB",
    TC26_256_B: "id-tc26-gost-3410-2012-256-paramSetB",
    CRYPTOPRO_B: "id-tc26-gost-3410-2012-256-paramSetC",
    TC26_256_C: "id-tc26-gost-3410-2012-256-paramSetC",
    CRYPTOPRO_C: "id-tc26-gost-3410-2012-256-paramSetD",
    CRYPTOPRO_XCHB: "id-tc26-gost-3410-2012-256-paramSetD",
    TC26_256_D: "id-tc26-gost-3410-2012-256-paramSetD",
    TC26_256_A: "id-tc26-gost-3410-2012-256-paramSetA",
}

# The example curve of GOST R 34.10-2012 / RFC 7091 section 7.1; gostcrypto does not ship it.
_TEST_CURVE: dict[str, int] = {
    "p": 0x8000000000000000000000000000000000000000000000000000000000000431,
    "a": 0x7,
    "b": 0x5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E,
    "m": 0x8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3,
    "q": 0x8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3,
    "x": 0x2,
    "y": 0x08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8,
}


def streebog256(data: bytes) -> bytes:
    """GOST R 34.11-2012 256-bit digest, in the byte order XMLDSig and RFC 6986 tools use."""
    return bytes(gosthash.new("streebog256", data=bytearray(data)).digest())


def streebog512(data: bytes) -> bytes:
    """GOST R 34.11-2012 512-bit digest."""
    return bytes(gosthash.new("streebog512", data=bytearray(data)).digest())


def sha256(data: bytes) -> bytes:
    """SHA-256, for the RSA signer and certificates signed with RSA."""
    return hashlib.sha256(data).digest()


def param_set_name(oid: str) -> str:
    return PARAM_SET_NAMES.get(oid, oid)


def curve_parameters(param_set: str) -> dict[str, int]:
    """Curve parameters for a 256-bit parameter-set OID, as gostcrypto expects them."""
    if param_set == TEST_PARAM_SET:
        return dict(_TEST_CURVE)
    name = _GOSTCRYPTO_CURVE.get(param_set)
    if name is None:
        raise GostError(f"unsupported GOST R 34.10 parameter set {param_set}")
    curve: dict[str, int] = gostsignature.CURVES_R_1323565_1_024_2019[name]
    return dict(curve)


@lru_cache(maxsize=16)
def _engine(param_set: str) -> Any:
    """A gostcrypto signer for the curve; it holds only curve constants, so it is shared."""
    return gostsignature.new(gostsignature.MODE_256, curve_parameters(param_set))


def _weierstrass(param_set: str) -> tuple[int, int, int, int]:
    """(p, a, b, q) in short Weierstrass form, as gostcrypto computed it.

    tc26 paramSetA is specified as a twisted Edwards curve; gostcrypto converts it on
    construction and keeps the result in private attributes, which we read rather than
    repeat the conversion.
    """
    engine = _engine(param_set)
    return int(engine._p), int(engine._a), int(engine._b), int(engine._q)


def curve_order(param_set: str) -> int:
    """The order q of the base point (private keys are 1..q-1)."""
    return _weierstrass(param_set)[3]


def _on_curve(param_set: str, x: int, y: int) -> bool:
    p, a, b, _ = _weierstrass(param_set)
    return 0 <= x < p and 0 <= y < p and (y * y - (x * x * x + a * x + b)) % p == 0


@dataclass(frozen=True)
class GostPublicKey:
    """A GOST R 34.10-2012 256-bit public key: a point on the curve of ``param_set``."""

    param_set: str
    x: int
    y: int

    def __post_init__(self) -> None:
        if not _on_curve(self.param_set, self.x, self.y):
            raise GostError("public key point is not on the curve of its parameter set")

    @classmethod
    def from_le_bytes(cls, param_set: str, raw: bytes) -> GostPublicKey:
        """From the 64-byte ``X || Y`` little-endian form used inside certificates."""
        if len(raw) != 2 * SIZE:
            raise GostError(f"GOST 256-bit public key must be 64 bytes, got {len(raw)}")
        return cls(
            param_set, int.from_bytes(raw[:SIZE], "little"), int.from_bytes(raw[SIZE:], "little")
        )

    def to_le_bytes(self) -> bytes:
        return self.x.to_bytes(SIZE, "little") + self.y.to_bytes(SIZE, "little")

    def _gostcrypto_bytes(self) -> bytearray:
        return bytearray(self.x.to_bytes(SIZE, "big") + self.y.to_bytes(SIZE, "big"))


@dataclass(frozen=True)
class GostPrivateKey:
    """A GOST R 34.10-2012 256-bit private key ``d`` (1 <= d < q)."""

    param_set: str
    d: int

    def __post_init__(self) -> None:
        if not 0 < self.d < curve_order(self.param_set):
            raise GostError("private key is out of range for its parameter set")

    def __repr__(self) -> str:  # never print the secret
        return f"GostPrivateKey(param_set={self.param_set!r}, d=<hidden>)"

    def public_key(self) -> GostPublicKey:
        raw = _engine(self.param_set).public_key_generate(bytearray(self.d.to_bytes(SIZE, "big")))
        return GostPublicKey(
            self.param_set, int.from_bytes(raw[:SIZE], "big"), int.from_bytes(raw[SIZE:], "big")
        )

    def to_le_bytes(self) -> bytes:
        return self.d.to_bytes(SIZE, "little")


def generate_private_key(param_set: str = CRYPTOPRO_A) -> GostPrivateKey:
    """A fresh key from the OS CSPRNG."""
    return GostPrivateKey(param_set, 1 + secrets.randbelow(curve_order(param_set) - 1))


def _digest_for_engine(digest: bytes) -> bytearray:
    if len(digest) != SIZE:
        raise GostError(f"GOST R 34.10-2012/256 signs a 32-byte digest, got {len(digest)}")
    return bytearray(digest[::-1])  # little-endian integer -> the big-endian bytes gostcrypto reads


def sign_digest(key: GostPrivateKey, digest: bytes, *, k: int | None = None) -> bytes:
    """Sign a Streebog-256 digest; returns ``s || r`` (64 bytes, each big-endian).

    ``k`` fixes the per-signature random number; only the standard's test examples need it.
    """
    engine = _engine(key.param_set)
    rand_k = bytearray(b"") if k is None else bytearray(k.to_bytes(SIZE, "big"))
    # gostcrypto zero-fills the key buffer it is given, so it always gets a fresh copy.
    r_s = bytes(
        engine.sign(bytearray(key.d.to_bytes(SIZE, "big")), _digest_for_engine(digest), rand_k)
    )
    return r_s[SIZE:] + r_s[:SIZE]


def verify_digest(key: GostPublicKey, digest: bytes, signature: bytes) -> bool:
    """Check an ``s || r`` signature over a Streebog-256 digest."""
    if len(signature) != 2 * SIZE:
        return False
    if key.x == 0 or key.y == 0:
        # gostcrypto treats a zero coordinate as "use the base point"; refuse instead.
        return False
    r_s = bytearray(signature[SIZE:] + signature[:SIZE])
    return bool(
        _engine(key.param_set).verify(key._gostcrypto_bytes(), _digest_for_engine(digest), r_s)
    )


def sign(key: GostPrivateKey, data: bytes) -> bytes:
    """GOST R 34.10-2012 signature with GOST R 34.11-2012 (256) over ``data``."""
    return sign_digest(key, streebog256(data))


def verify(key: GostPublicKey, data: bytes, signature: bytes) -> bool:
    return verify_digest(key, streebog256(data), signature)
