"""GOST certificates: reading real ones, the development CA, and chain/validity checks."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import core, pem

from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import (
    Certificate,
    GostTrustStore,
    PrivateKeyInfo,
    dump_gost_private_key,
    load_certificate,
    load_gost_private_key,
    verify_issued_by,
)
from adapters.smev.crypto.dev_ca import (
    CA_CERT_NAME,
    CA_KEY_NAME,
    IssuedCertificate,
    create_gost_ca,
    issue_gost_certificate,
    issue_participant_certificate,
)
from adapters.smev.crypto.xmldsig import DS_NS
from adapters.smev.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    CertificateParseError,
    UnsupportedKeyError,
    UntrustedCertificateError,
)
from adapters.smev.parsing import parse_xml
from tests.adapters.smev.conftest import DevPki


def _sample_certificate(data_dir: Path, sample: str) -> Certificate:
    tree = parse_xml((data_dir / sample).read_bytes())
    text = tree.getroot().findtext(f".//{{{DS_NS}}}X509Certificate")
    assert text
    return load_certificate(base64.b64decode(text))


def test_real_smev_certificate(data_dir: Path) -> None:
    cert = _sample_certificate(data_dir, "SendRequestResponce.xml")
    assert cert.key_algorithm == "1.2.643.7.1.1.1.1"
    assert cert.signature_algorithm == "1.2.643.7.1.1.3.2"
    assert cert.gost_param_set() == gost.CRYPTOPRO_XCHA
    assert cert.not_after == datetime(2021, 9, 2, 8, 7, 34, tzinfo=UTC)
    assert "Министерство цифрового развития" in cert.subject
    assert not cert.is_ca


def test_legacy_gost2001_certificate_is_read_but_not_usable(data_dir: Path) -> None:
    cert = _sample_certificate(data_dir, "SendRequestRequest_MR_example_GOST2001_signed.xml")
    assert cert.key_algorithm == "1.2.643.2.2.19"
    assert cert.subject == "OU=SYSTEM1, O=IS2, C=RU"
    with pytest.raises(UnsupportedKeyError):
        cert.gost_public_key()
    with pytest.raises(UnsupportedKeyError, match="unsupported legacy algorithm"):
        verify_issued_by(cert, cert)


def test_issue_writes_ca_and_participant_files(tmp_path: Path) -> None:
    key_path, cert_path = issue_gost_certificate("dept-b", tmp_path, days=30)
    assert (key_path, cert_path) == (tmp_path / "dept-b.key.pem", tmp_path / "dept-b.pem")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / CA_KEY_NAME).stat().st_mode) == 0o600
    ca = load_certificate((tmp_path / CA_CERT_NAME).read_bytes())
    cert = load_certificate(cert_path.read_bytes())
    assert ca.is_ca and ca.key_usage is not None and "key_cert_sign" in ca.key_usage
    assert cert.common_name == "dept-b" and cert.subject == "CN=dept-b"
    assert cert.san_uris == ("urn:hub:participant:dept-b",)
    assert not cert.is_ca
    assert cert.issuer_der == ca.subject_der
    assert timedelta(days=29) < cert.not_after - cert.not_before <= timedelta(days=30, minutes=5)
    assert cert.gost_param_set() == gost.CRYPTOPRO_A
    key = load_gost_private_key(key_path.read_bytes())
    assert key.public_key() == cert.gost_public_key()
    verify_issued_by(cert, ca)

    # the CA is reused for the next participant; existing files are never overwritten
    ca_bytes = (tmp_path / CA_CERT_NAME).read_bytes()
    _, second = issue_gost_certificate("dept-c", tmp_path)
    assert (tmp_path / CA_CERT_NAME).read_bytes() == ca_bytes
    assert load_certificate(second.read_bytes()).issuer_der == ca.subject_der
    with pytest.raises(FileExistsError):
        issue_gost_certificate("dept-b", tmp_path)


@pytest.mark.parametrize("bad_id", ["", "../etc", "a/b", "-x", "x" * 65, "dept a"])
def test_participant_id_validated(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(ValueError, match="invalid participant id"):
        issue_gost_certificate(bad_id, tmp_path)
    assert not list(tmp_path.iterdir())


def test_private_key_pkcs8_layout_and_encodings() -> None:
    key = gost.GostPrivateKey(gost.CRYPTOPRO_A, 0x1234567890ABCDEF)
    pem_bytes = dump_gost_private_key(key)
    assert pem_bytes.startswith(b"-----BEGIN PRIVATE KEY-----")
    _, _, der = pem.unarmor(pem_bytes)
    info = PrivateKeyInfo.load(der)
    assert info["private_key_algorithm"]["algorithm"].dotted == "1.2.643.7.1.1.1.1"
    inner = core.OctetString.load(info["private_key"].native).native
    assert inner == (0x1234567890ABCDEF).to_bytes(32, "little")
    assert load_gost_private_key(pem_bytes) == key
    assert load_gost_private_key(der) == key

    # older tools store the key as an INTEGER inside the OCTET STRING
    legacy = PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": info["private_key_algorithm"],
            "private_key": core.Integer(0x1234567890ABCDEF).dump(),
        }
    )
    assert load_gost_private_key(legacy.dump()) == key

    with pytest.raises(CertificateParseError, match="PRIVATE KEY"):
        load_gost_private_key(pem.armor("CERTIFICATE", der))


def test_chain_ok(dev_pki: DevPki) -> None:
    cert = load_certificate(dev_pki.cert.read_bytes())
    trust = GostTrustStore.from_files([dev_pki.ca])
    chain = trust.verify(cert)
    assert [c.common_name for c in chain] == ["dept-a", "Interagency Hub development GOST CA"]


def test_validity_window(dev_pki: DevPki) -> None:
    cert = load_certificate(dev_pki.cert.read_bytes())
    trust = GostTrustStore.from_files([dev_pki.ca])
    with pytest.raises(CertificateExpiredError, match="'dept-a' expired"):
        trust.verify(cert, at=cert.not_after + timedelta(seconds=1))
    with pytest.raises(CertificateNotYetValidError, match="not valid before"):
        trust.verify(cert, at=cert.not_before - timedelta(days=1))
    trust.verify(cert, at=cert.not_after - timedelta(seconds=1))


def test_ca_expiry_also_counts() -> None:
    now = datetime.now(UTC)
    ca = create_gost_ca(days=10, now=now)
    issued = issue_participant_certificate("dept-d", ca, days=365, now=now)
    trust = GostTrustStore([ca.certificate])
    with pytest.raises(CertificateExpiredError, match="development GOST CA"):
        trust.verify(issued.certificate, at=now + timedelta(days=20))


def test_other_ca_is_untrusted(dev_pki: DevPki, other_pki: DevPki) -> None:
    cert = load_certificate(other_pki.cert.read_bytes())
    trust = GostTrustStore.from_files([dev_pki.ca])
    # same CA name, different key: found by name, rejected by signature
    with pytest.raises(UntrustedCertificateError, match="does not verify"):
        trust.verify(cert)
    with pytest.raises(UntrustedCertificateError, match="not issued by a trusted CA"):
        GostTrustStore([load_certificate(dev_pki.cert.read_bytes())]).verify(cert)


def test_end_entity_cannot_act_as_ca(dev_pki: DevPki) -> None:
    participant_key = load_gost_private_key(dev_pki.key.read_bytes())
    participant = load_certificate(dev_pki.cert.read_bytes())
    forged = issue_participant_certificate(
        "forged", IssuedCertificate(participant, participant_key), days=5
    )
    trust = GostTrustStore([participant])
    with pytest.raises(UntrustedCertificateError, match="not a CA"):
        trust.verify(forged.certificate)


def test_tampered_certificate_rejected(dev_pki: DevPki) -> None:
    der = bytearray(load_certificate(dev_pki.cert.read_bytes()).der)
    index = der.index(b"dept-a")
    der[index : index + 6] = b"dept-z"
    tampered = load_certificate(bytes(der))
    with pytest.raises(UntrustedCertificateError, match="does not verify"):
        GostTrustStore.from_files([dev_pki.ca]).verify(tampered)


def test_garbage_is_a_parse_error() -> None:
    with pytest.raises(CertificateParseError):
        load_certificate(b"\x30\x03\x02\x01\x01")
    with pytest.raises(CertificateParseError):
        load_certificate(b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
