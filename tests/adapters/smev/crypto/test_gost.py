"""GOST R 34.11-2012 and GOST R 34.10-2012 against the standards' own examples.

The standards print messages, digests and keys as big-endian numbers; implementations (and
XMLDSig) work on the byte strings in the opposite order. The tests keep the standards' numbers
as printed and convert them explicitly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import load_certificate
from adapters.smev.errors import GostError


def _bytes_of_number(hex_number: str) -> bytes:
    """The byte string whose little-endian value is the number the standard prints."""
    return bytes.fromhex(hex_number)[::-1]


# GOST R 34.11-2012 section A / RFC 6986 section 10, as printed there.
M1 = (
    "323130393837363534333231303938373635343332313039383736353433323130"
    "393837363534333231303938373635343332313039383736353433323130"
)
M2 = (
    "fbe2e5f0eee3c820fbeafaebef20fffbf0e1e0f0f520e0ed20e8ece0ebe5f0f2f120fff0eeec20f120faf2"
    "fee5e2202ce8f6f3ede220e8e6eee1e8f0f2d1202ce8f0f2e5e220e5d1"
)
H512_M1 = (
    "486f64c1917879417fef082b3381a4e211c324f074654c38823a7b76f830ad00"
    "fa1fbae42b1285c0352f227524bc9ab16254288dd6863dccd5b9f54a1ad0541b"
)
H256_M1 = "00557be5e584fd52a449b16b0251d05d27f94ab76cbaa6da890b59d8ef1e159d"
H512_M2 = (
    "28fbc9bada033b1460642bdcddb90c3fb3e56c497ccd0f62b8a2ad4935e85f03"
    "7613966de4ee00531ae60f3b5a47f8dae06915d5f2f194996fcabf2622e6881e"
)
H256_M2 = "508f7e553c06501d749a66fc28c6cac0b005746d97537fa85d9e40904efed29d"

# GOST R 34.10-2012 example 1 / RFC 7091 section 7.1 (256-bit, test curve).
D = 0x7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28
QX = 0x7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B
QY = 0x26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA
E = 0x2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5
K = 0x77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3
R = 0x41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493
S = 0x01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40


def _example_digest() -> bytes:
    # e is the hash read as a little-endian integer (and already < q).
    return E.to_bytes(32, "little")


def _s_r(s: int, r: int) -> bytes:
    return s.to_bytes(32, "big") + r.to_bytes(32, "big")


def test_m1_is_the_ascii_digits_the_standard_describes() -> None:
    assert (
        _bytes_of_number(M1) == b"012345678901234567890123456789012345678901234567890123456789012"
    )


@pytest.mark.parametrize(
    ("message", "h256", "h512"),
    [(M1, H256_M1, H512_M1), (M2, H256_M2, H512_M2)],
    ids=["M1", "M2"],
)
def test_streebog_examples(message: str, h256: str, h512: str) -> None:
    data = _bytes_of_number(message)
    assert gost.streebog256(data) == _bytes_of_number(h256)
    assert gost.streebog512(data) == _bytes_of_number(h512)


def test_signature_example_public_key() -> None:
    key = gost.GostPrivateKey(gost.TEST_PARAM_SET, D)
    assert key.public_key() == gost.GostPublicKey(gost.TEST_PARAM_SET, QX, QY)


def test_signature_example_verifies() -> None:
    public = gost.GostPublicKey(gost.TEST_PARAM_SET, QX, QY)
    assert gost.verify_digest(public, _example_digest(), _s_r(S, R))
    # r || s (gostcrypto's native order) is not the interoperable form.
    assert not gost.verify_digest(public, _example_digest(), _s_r(R, S))
    # the digest read big-endian is a different e.
    assert not gost.verify_digest(public, _example_digest()[::-1], _s_r(S, R))


def test_signature_example_reproduced_with_fixed_k() -> None:
    key = gost.GostPrivateKey(gost.TEST_PARAM_SET, D)
    assert gost.sign_digest(key, _example_digest(), k=K) == _s_r(S, R)


def test_rfc9215_certificate_signature_reproduced(data_dir: Path) -> None:
    """The RFC 9215 example certificate is signed with the example's d and k: same bytes."""
    cert = load_certificate((data_dir / "rfc9215-example-256-testparamset.pem").read_bytes())
    key = gost.GostPrivateKey(gost.TEST_PARAM_SET, D)
    assert cert.gost_public_key() == key.public_key()  # X || Y little-endian in the cert
    signature = gost.sign_digest(key, gost.streebog256(cert.tbs_der), k=K)
    assert signature == cert.signature
    assert signature[32:] == R.to_bytes(32, "big")
    assert gost.verify(cert.gost_public_key(), cert.tbs_der, cert.signature)


def test_rfc9215_paramset_a_certificate(data_dir: Path) -> None:
    """tc26 paramSetA is a twisted Edwards curve; gostcrypto converts it to Weierstrass."""
    cert = load_certificate((data_dir / "rfc9215-example-256-paramsetA.pem").read_bytes())
    assert cert.gost_param_set() == gost.TC26_256_A
    key = gost.GostPrivateKey(gost.TC26_256_A, D % gost.curve_order(gost.TC26_256_A))
    assert cert.gost_public_key() == key.public_key()
    assert gost.verify(cert.gost_public_key(), cert.tbs_der, cert.signature)
    tampered = bytearray(cert.tbs_der)
    tampered[-1] ^= 1
    assert not gost.verify(cert.gost_public_key(), bytes(tampered), cert.signature)


def test_round_trip_on_cryptopro_a() -> None:
    key = gost.generate_private_key(gost.CRYPTOPRO_A)
    public = key.public_key()
    signature = gost.sign(key, b"payload")
    assert len(signature) == 64
    assert gost.verify(public, b"payload", signature)
    assert not gost.verify(public, b"payload!", signature)
    flipped = bytearray(signature)
    flipped[10] ^= 0x40
    assert not gost.verify(public, b"payload", bytes(flipped))
    assert not gost.verify(public, b"payload", signature[:63])
    # randomised k: two signatures of the same data differ but both verify
    again = gost.sign(key, b"payload")
    assert again != signature and gost.verify(public, b"payload", again)


def test_cryptopro_a_and_xcha_are_tc26_paramset_b() -> None:
    curve = gost.curve_parameters(gost.TC26_256_B)
    assert gost.curve_parameters(gost.CRYPTOPRO_A) == curve
    assert gost.curve_parameters(gost.CRYPTOPRO_XCHA) == curve
    assert curve["p"] == 2**256 - 617 and curve["b"] == 0xA6  # CryptoPro-A, RFC 4357


def test_invalid_keys_rejected() -> None:
    with pytest.raises(GostError):
        gost.GostPrivateKey(gost.CRYPTOPRO_A, 0)
    with pytest.raises(GostError):
        gost.GostPrivateKey(gost.CRYPTOPRO_A, gost.curve_order(gost.CRYPTOPRO_A))
    with pytest.raises(GostError, match="not on the curve"):
        gost.GostPublicKey(gost.TEST_PARAM_SET, QX, QY + 1)
    with pytest.raises(GostError, match="parameter set"):
        gost.curve_parameters("1.2.3.4")
    with pytest.raises(GostError, match="32-byte digest"):
        gost.sign_digest(gost.GostPrivateKey(gost.TEST_PARAM_SET, D), b"short")


def test_private_key_repr_hides_secret() -> None:
    assert f"{D:x}" not in repr(gost.GostPrivateKey(gost.TEST_PARAM_SET, D)).lower()
