"""SMEV XMLDSig signing and verification: round trips, tampering, real SMEV samples."""

from __future__ import annotations

import base64
import copy
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import GostTrustStore, load_certificate
from adapters.smev.crypto.signers import ExternalCommandSigner, GostSigner, RsaSigner
from adapters.smev.crypto.xmldsig import (
    DS_NS,
    ENVELOPED_SIGNATURE,
    EXC_C14N,
    GOST2012_256_DIGEST,
    GOST2012_256_SIGNATURE,
    RSA_SHA256_SIGNATURE,
    SMEV_TRANSFORM,
    Problem,
    XmlSigner,
    find_by_id,
    sign,
    sign_smev_element,
    verify,
    verify_or_raise,
)
from adapters.smev.errors import SignatureVerificationError, SignerError, SigningError
from adapters.smev.parsing import parse_xml
from tests.adapters.smev.conftest import TYPES_11, DevPki

REPO_ROOT = Path(__file__).resolve().parents[4]
SAMPLE_TIME = datetime(2021, 3, 23, 7, 3, 8, tzinfo=UTC)


def _ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


@pytest.fixture(scope="module")
def signer(dev_pki: DevPki) -> GostSigner:
    return GostSigner.from_files(dev_pki.key, dev_pki.cert)


@pytest.fixture(scope="module")
def trust(dev_pki: DevPki) -> GostTrustStore:
    return GostTrustStore.from_files([dev_pki.ca])


@pytest.fixture(scope="module")
def signed_request(unsigned_request: bytes, signer: GostSigner) -> bytes:
    tree = parse_xml(unsigned_request)
    sign_smev_element(tree.getroot(), "SIGNED_BY_CONSUMER", signer)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def test_signature_structure(signed_request: bytes, dev_pki: DevPki) -> None:
    root = parse_xml(signed_request).getroot()
    request = root.find(f".//{{{TYPES_11}}}SendRequestRequest")
    assert request is not None
    container = request[-1]
    assert container.tag == f"{{{TYPES_11}}}CallerInformationSystemSignature"
    (signature,) = container
    assert signature.tag == _ds("Signature")
    signed_info = signature.find(_ds("SignedInfo"))
    assert signed_info is not None
    assert signed_info.find(_ds("CanonicalizationMethod")).get("Algorithm") == EXC_C14N  # type: ignore[union-attr]
    assert signed_info.find(_ds("SignatureMethod")).get("Algorithm") == GOST2012_256_SIGNATURE  # type: ignore[union-attr]
    reference = signed_info.find(_ds("Reference"))
    assert reference is not None and reference.get("URI") == "#SIGNED_BY_CONSUMER"
    transforms = [t.get("Algorithm") for t in reference.iter(_ds("Transform"))]
    assert transforms == [EXC_C14N, SMEV_TRANSFORM]
    assert reference.find(_ds("DigestMethod")).get("Algorithm") == GOST2012_256_DIGEST  # type: ignore[union-attr]
    value = base64.b64decode(signature.findtext(_ds("SignatureValue")) or "")
    assert len(value) == 64
    cert_text = signature.findtext(f".//{_ds('X509Certificate')}")
    assert base64.b64decode(cert_text or "") == load_certificate(dev_pki.cert.read_bytes()).der


def test_round_trip_verifies(signed_request: bytes, trust: GostTrustStore) -> None:
    tree = parse_xml(signed_request)
    (report,) = verify(tree, trust=trust)
    assert report.ok, report.problems
    assert report.container == "CallerInformationSystemSignature"
    assert report.references == ("#SIGNED_BY_CONSUMER",)
    (signed,) = report.signed_elements
    assert etree.QName(signed).localname == "SenderProvidedRequestData"
    assert report.certificate is not None and report.certificate.common_name == "dept-a"
    verify_or_raise(tree, trust=trust)


def test_tampered_content_is_a_digest_mismatch_only(signed_request: bytes) -> None:
    tampered = signed_request.replace(b"GIBDD<", b"GIBDX<")
    assert tampered != signed_request
    (report,) = verify(parse_xml(tampered))
    assert report.kinds() == {Problem.DIGEST_MISMATCH}
    assert report.problems[0].reference == "#SIGNED_BY_CONSUMER"
    with pytest.raises(SignatureVerificationError, match="digest mismatch"):
        verify_or_raise(parse_xml(tampered))


def test_tampered_signature_value_is_a_signature_mismatch_only(signed_request: bytes) -> None:
    tree = parse_xml(signed_request)
    value = tree.getroot().find(f".//{_ds('SignatureValue')}")
    assert value is not None and value.text
    raw = bytearray(base64.b64decode(value.text))
    raw[5] ^= 1
    value.text = base64.b64encode(bytes(raw)).decode()
    (report,) = verify(tree)
    assert report.kinds() == {Problem.SIGNATURE_MISMATCH}


def test_reformatted_signed_info_fails_like_the_pretty_printed_samples(
    signed_request: bytes,
) -> None:
    tree = parse_xml(signed_request)
    signed_info = tree.getroot().find(f".//{_ds('SignedInfo')}")
    assert signed_info is not None
    etree.indent(signed_info, space="  ", level=4)
    (report,) = verify(tree)
    assert report.kinds() == {Problem.SIGNATURE_MISMATCH}


def test_pretty_printed_sample_digest_ok_signature_value_not(data_dir: Path) -> None:
    tree = parse_xml((data_dir / "SendRequestResponce.xml").read_bytes())
    (report,) = verify(tree, at=SAMPLE_TIME)
    assert report.container == "SMEVSignature"
    assert report.kinds() == {Problem.SIGNATURE_MISMATCH}, report.problems
    assert len(report.signed_elements) == 1  # the digest matched


def test_real_smev_signature_verifies_once_pretty_printing_is_undone(data_dir: Path) -> None:
    """Interop check of every convention (digest LE, s||r, key LE, XchA curve) against a
    signature made by SMEV itself. The whitespace is removed here, in the test; the verifier
    never does that."""
    tree = parse_xml((data_dir / "SendRequestResponce.xml").read_bytes())
    signed_info = tree.getroot().find(f".//{_ds('SignedInfo')}")
    assert signed_info is not None
    for node in signed_info.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node is not signed_info and node.tail is not None and not node.tail.strip():
            node.tail = None
    (report,) = verify(tree, at=SAMPLE_TIME)
    assert report.ok, report.problems
    assert report.certificate is not None
    assert report.certificate.gost_param_set() == gost.CRYPTOPRO_XCHA


def test_sample_with_edited_content_fails_digest(data_dir: Path) -> None:
    tree = parse_xml((data_dir / "GetResponseResponse_ValidResponse.xml").read_bytes())
    reports = verify(tree, at=SAMPLE_TIME)
    assert [r.container for r in reports] == ["SenderInformationSystemSignature", "SMEVSignature"]
    for report in reports:
        assert Problem.DIGEST_MISMATCH in report.kinds()


def test_sample_certificates_expired_now(data_dir: Path) -> None:
    tree = parse_xml((data_dir / "GetResponseResponce_InvalidContent.xml").read_bytes())
    reports = verify(tree)
    assert len(reports) == 2
    for report in reports:
        assert Problem.CERTIFICATE_EXPIRED in report.kinds()
        assert Problem.DIGEST_MISMATCH not in report.kinds()


def test_enveloped_signature_first_is_accepted(data_dir: Path) -> None:
    """The MyLab Ack sample lists enveloped-signature before exc-c14n; its digest checks."""
    tree = parse_xml((data_dir / "AckRequest_GOST2012_cert_elided.xml").read_bytes())
    (report,) = verify(tree)
    assert report.kinds() == {Problem.CERTIFICATE_INVALID}  # only the elided certificate
    (signed,) = report.signed_elements
    assert etree.QName(signed).localname == "AckTargetMessage"


def test_sign_with_enveloped_transform_round_trip(
    unsigned_request: bytes, signer: GostSigner, trust: GostTrustStore
) -> None:
    tree = parse_xml(unsigned_request)
    (target,) = find_by_id(tree, "SIGNED_BY_CONSUMER")
    parent = target.getparent()
    assert parent is not None
    container = etree.SubElement(parent, f"{{{TYPES_11}}}CallerInformationSystemSignature")
    signature = sign(tree.getroot(), "SIGNED_BY_CONSUMER", signer, container, enveloped=True)
    transforms = [t.get("Algorithm") for t in signature.iter(_ds("Transform"))]
    assert transforms == [ENVELOPED_SIGNATURE, EXC_C14N, SMEV_TRANSFORM]
    reparsed = parse_xml(etree.tostring(tree))
    (report,) = verify(reparsed, trust=trust)
    assert report.ok, report.problems


def test_signature_inside_signed_element_uses_enveloped(
    unsigned_request: bytes, signer: GostSigner
) -> None:
    tree = parse_xml(unsigned_request)
    (target,) = find_by_id(tree, "SIGNED_BY_CONSUMER")
    inner = etree.SubElement(target, f"{{{TYPES_11}}}PersonalSignature")
    inner.tail = "\n"
    signature = sign(tree.getroot(), "SIGNED_BY_CONSUMER", signer, inner)
    assert signature.find(f".//{_ds('Transform')}").get("Algorithm") == ENVELOPED_SIGNATURE  # type: ignore[union-attr]
    (report,) = verify(parse_xml(etree.tostring(tree)))
    assert report.ok, report.problems
    with pytest.raises(SigningError, match="enveloped"):
        sign(tree.getroot(), "SIGNED_BY_CONSUMER", signer, inner, enveloped=False)


def test_personal_and_caller_signatures_together(
    unsigned_request: bytes, signer: GostSigner, trust: GostTrustStore
) -> None:
    tree = parse_xml(unsigned_request)
    root = tree.getroot()
    sign_smev_element(root, "PERSONAL_SIGNATURE", signer)  # next sibling of BreachRequest
    sign_smev_element(root, "SIGNED_BY_CONSUMER", signer)  # covers the personal signature
    reports = verify(parse_xml(etree.tostring(tree)), trust=trust)
    assert [r.references for r in reports] == [("#PERSONAL_SIGNATURE",), ("#SIGNED_BY_CONSUMER",)]
    assert all(r.ok for r in reports), [r.problems for r in reports]


def test_legacy_gost2001_sample_is_reported_not_crashed(data_dir: Path) -> None:
    tree = parse_xml((data_dir / "SendRequestRequest_MR_example_GOST2001_signed.xml").read_bytes())
    (report,) = verify(tree, at=datetime(2016, 1, 1, tzinfo=UTC))
    assert report.kinds() == {Problem.UNSUPPORTED_ALGORITHM}
    assert all("unsupported legacy algorithm" in p.message for p in report.problems)


def test_duplicate_and_missing_ids(signed_request: bytes) -> None:
    tree = parse_xml(signed_request)
    (target,) = find_by_id(tree, "SIGNED_BY_CONSUMER")
    parent = target.getparent()
    assert parent is not None
    parent.insert(0, copy.deepcopy(target))  # signature wrapping attempt
    (report,) = verify(tree)
    assert report.kinds() == {Problem.AMBIGUOUS_REFERENCE}

    tree = parse_xml(signed_request)
    (target,) = find_by_id(tree, "SIGNED_BY_CONSUMER")
    target.set("Id", "SOMETHING_ELSE")
    (report,) = verify(tree)
    assert report.kinds() == {Problem.REFERENCE_NOT_FOUND}


def test_untrusted_expired_and_not_yet_valid(
    signed_request: bytes, other_pki: DevPki, dev_pki: DevPki
) -> None:
    tree = parse_xml(signed_request)
    (report,) = verify(tree, trust=GostTrustStore.from_files([other_pki.ca]))
    assert report.kinds() == {Problem.UNTRUSTED_CERTIFICATE}
    cert = load_certificate(dev_pki.cert.read_bytes())
    trust = GostTrustStore.from_files([dev_pki.ca])
    (report,) = verify(tree, trust=trust, at=cert.not_after + timedelta(days=1))
    assert report.kinds() == {Problem.CERTIFICATE_EXPIRED}
    (report,) = verify(tree, trust=trust, at=cert.not_before - timedelta(days=1))
    assert report.kinds() == {Problem.CERTIFICATE_NOT_YET_VALID}


def test_unsupported_transform_chain(signed_request: bytes) -> None:
    tree = parse_xml(signed_request)
    transforms = tree.getroot().find(f".//{_ds('Transforms')}")
    assert transforms is not None
    transforms.remove(transforms[-1])  # drop the SMEV transform
    (report,) = verify(tree)
    assert Problem.UNSUPPORTED_ALGORITHM in report.kinds()
    assert any("SMEV transform" in p.message for p in report.problems)


def test_no_signature_at_all(unsigned_request: bytes) -> None:
    assert verify(parse_xml(unsigned_request)) == []
    with pytest.raises(SignatureVerificationError, match="no ds:Signature"):
        verify_or_raise(parse_xml(unsigned_request))


def test_sign_errors(unsigned_request: bytes, signer: GostSigner, dev_pki: DevPki) -> None:
    tree = parse_xml(unsigned_request)
    with pytest.raises(SigningError, match="no element with Id"):
        sign_smev_element(tree.getroot(), "MISSING", signer)
    with pytest.raises(SignerError, match="does not match"):
        GostSigner.from_files(dev_pki.key, dev_pki.ca)


# --- pluggable signers ------------------------------------------------------------------


def _rsa_identity(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "rsa-partner")])
    now = datetime.now(UTC)
    cert = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = tmp_path / "rsa.key.pem", tmp_path / "rsa.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def test_rsa_signer_round_trip(unsigned_request: bytes, tmp_path: Path) -> None:
    key_path, cert_path = _rsa_identity(tmp_path)
    rsa_signer = RsaSigner.from_files(key_path, cert_path)
    tree = parse_xml(unsigned_request)
    sign_smev_element(tree.getroot(), "SIGNED_BY_CONSUMER", rsa_signer)
    reparsed = parse_xml(etree.tostring(tree))
    (report,) = verify(reparsed, trust=GostTrustStore.from_files([cert_path]))
    assert report.ok, report.problems
    assert report.signature_method == RSA_SHA256_SIGNATURE
    reparsed.getroot().find(f".//{_ds('SignatureValue')}").text = base64.b64encode(  # type: ignore[union-attr]
        b"\x00" * 256
    ).decode()
    (report,) = verify(reparsed)
    assert report.kinds() == {Problem.SIGNATURE_MISMATCH}


_EXTERNAL_SIGNER = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import load_gost_private_key
key = load_gost_private_key(Path(sys.argv[1]).read_bytes())
signature = gost.sign(key, sys.stdin.buffer.read())
if sys.argv[2:] == ["r-s"]:
    signature = signature[32:] + signature[:32]
sys.stdout.buffer.write(signature)
"""


def _external(dev_pki: DevPki, *extra: str) -> ExternalCommandSigner:
    code = _EXTERNAL_SIGNER.format(root=str(REPO_ROOT))
    command = [sys.executable, "-c", code, str(dev_pki.key), *extra]
    cert_der = load_certificate(dev_pki.cert.read_bytes()).der
    return ExternalCommandSigner(command, cert_der, timeout=30)


def test_external_command_signer_round_trip(
    unsigned_request: bytes, dev_pki: DevPki, trust: GostTrustStore
) -> None:
    external = _external(dev_pki)
    assert external.digest_uri == GOST2012_256_DIGEST
    tree = parse_xml(unsigned_request)
    sign_smev_element(tree.getroot(), "SIGNED_BY_CONSUMER", external)
    (report,) = verify(parse_xml(etree.tostring(tree)), trust=trust)
    assert report.ok, report.problems


def test_external_signer_wrong_byte_order_caught(dev_pki: DevPki) -> None:
    with pytest.raises(SignerError, match="bad signature"):
        _external(dev_pki, "r-s").sign(b"data")


def test_external_signer_failure_reported(dev_pki: DevPki) -> None:
    cert_der = load_certificate(dev_pki.cert.read_bytes()).der
    failing = ExternalCommandSigner(
        [sys.executable, "-c", "import sys; print('token not present', file=sys.stderr); exit(3)"],
        cert_der,
    )
    with pytest.raises(SignerError, match="status 3: token not present"):
        failing.sign(b"data")
    missing = ExternalCommandSigner(["/nonexistent/signer"], cert_der)
    with pytest.raises(SignerError, match="not found"):
        missing.sign(b"data")


def test_signers_satisfy_protocol(dev_pki: DevPki, signer: GostSigner, tmp_path: Path) -> None:
    key_path, cert_path = _rsa_identity(tmp_path)
    for candidate in (signer, RsaSigner.from_files(key_path, cert_path), _external(dev_pki)):
        assert isinstance(candidate, XmlSigner)
