"""XMLDSig: the sender's signature, the hub's countersignature and every way to refuse them."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod

from envelopes.codec import ROUTING_ID, q, to_bytes
from envelopes.errors import (
    AlgorithmNotAllowedError,
    AttachmentError,
    CertificateError,
    CertificateExpiredError,
    KeyUsageError,
    SenderMismatchError,
    SignatureError,
    SignatureMissingError,
    UntrustedCertificateError,
)
from envelopes.pki import PrivateKey, TrustStore
from envelopes.signatures import (
    Signer,
    content_digest,
    signed_document,
    verify_hub,
    verify_sender,
)
from tests.conftest import HUB, RSA_SENDER, SENDER, Identity, Pki
from tests.envelopes.helpers import (
    DS,
    c14n,
    clone,
    make_envelope,
    reparse,
    sample_attachment,
    sender_signature,
    sign_legacy,
)

SHA1_RSA = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"
RECEIVED = dt.datetime(2026, 3, 12, 10, 0, 5, tzinfo=dt.UTC)


def signed(signer: Signer, sender: str = SENDER, **kwargs: object) -> etree._Element:
    """A freshly signed envelope, re-read from its bytes as a receiver would."""
    root = make_envelope(sender=sender, **kwargs)  # type: ignore[arg-type]
    signer.sign(root)
    return reparse(root)


def countersigned(root: etree._Element, hub_signer: Signer) -> etree._Element:
    hub_signer.countersign(
        root, received=RECEIVED, adapter="internal", address="queue.tax", rules_version="7"
    )
    return reparse(root)


def content(root: etree._Element) -> etree._Element:
    element = root.find(q("Content"))
    assert element is not None
    return element


def subject(root: etree._Element) -> etree._Element:
    element = root.find(".//{urn:interagency-hub:payload:memo:1.0}Subject")
    assert element is not None
    return element


def rejected(
    root: etree._Element, trust: TrustStore, expected: type[SignatureError | AttachmentError]
) -> str:
    """The reason verify_sender gives for ``root``; asserts the class and the one-line form."""
    with pytest.raises(expected) as caught:
        verify_sender(reparse(root), trust)
    error = caught.value
    assert error.problems == [str(error)]
    assert "\n" not in str(error)
    return str(error)


# ==================================================================================== positive
@pytest.mark.parametrize("which", ["ecdsa", "rsa"])
def test_sign_and_verify_round_trip(
    which: str, signer: Signer, rsa_signer: Signer, trust: TrustStore, pki: Pki
) -> None:
    chosen, sender = (signer, SENDER) if which == "ecdsa" else (rsa_signer, RSA_SENDER)
    root = signed(chosen, sender)
    verified = verify_sender(root, trust)
    assert verified.signer_id == sender
    assert verified.envelope.header.sender == sender
    assert verified.certificate == pki[sender].cert
    method = sender_signature(root).find(f"{DS}SignedInfo/{DS}SignatureMethod")
    expected = SignatureMethod.ECDSA_SHA256 if which == "ecdsa" else SignatureMethod.RSA_SHA256
    assert method is not None and method.get("Algorithm") == expected.value


def test_signature_uses_sha256_and_exclusive_c14n(signer: Signer) -> None:
    info = sender_signature(signed(signer)).find(f"{DS}SignedInfo")
    assert info is not None
    c14n_method = info.find(f"{DS}CanonicalizationMethod")
    assert c14n_method is not None
    assert c14n_method.get("Algorithm") == "http://www.w3.org/2001/10/xml-exc-c14n#"
    (reference,) = info.findall(f"{DS}Reference")
    assert reference.get("URI") == "#content"
    digest = reference.find(f"{DS}DigestMethod")
    assert digest is not None and digest.get("Algorithm") == DigestAlgorithm.SHA256.value


def test_signature_sits_in_sender_signature_right_after_content(signer: Signer) -> None:
    root = signed(signer, attachments=[sample_attachment()])
    names = [etree.QName(c).localname for c in root]
    assert names == ["Content", "SenderSignature", "AttachmentData"]


def test_attachments_are_covered_through_the_manifest(signer: Signer, trust: TrustStore) -> None:
    attachments = [sample_attachment(4096, "att1"), sample_attachment(10, "att2")]
    verified = verify_sender(signed(signer, attachments=attachments), trust)
    assert verified.envelope.attachments == attachments


def test_resigning_replaces_the_old_signature(signer: Signer, trust: TrustStore) -> None:
    root = make_envelope()
    signer.sign(root)
    signer.sign(root)
    assert len(root.findall(q("SenderSignature"))) == 1
    verify_sender(reparse(root), trust)


def test_verified_envelope_is_built_from_signed_content_only(
    signer: Signer, trust: TrustStore
) -> None:
    """Comments are outside exclusive c14n: they may be added, but never reach the caller."""
    root = signed(signer)
    subject(root).addprevious(etree.Comment(" unsigned remark "))
    verified = verify_sender(reparse(root), trust)
    assert b"unsigned remark" not in etree.tostring(verified.envelope.payload)
    assert verified.content is not None
    assert c14n(verified.content) == c14n(content(root))


def test_signed_document_reproduces_the_signed_content_exactly(
    signer: Signer, trust: TrustStore
) -> None:
    """Even values the header model would normalise (Z, explicit Test=false) stay as signed."""
    root = make_envelope(attachments=[sample_attachment()])
    head = content(root).find(q("Header"))
    assert head is not None
    created = head.find(q("Created"))
    assert created is not None
    created.text = (created.text or "").replace("+00:00", "Z")
    etree.SubElement(head, q("Test")).text = "false"
    signer.sign(root)
    verified = verify_sender(reparse(root), trust)
    document = reparse(signed_document(verified))
    assert c14n(content(document)) == c14n(content(root))
    assert [etree.QName(c).localname for c in document] == ["Content", "AttachmentData"]
    assert document.find(f"{q('AttachmentData')}/{q('Data')}").text == (  # type: ignore[union-attr]
        root.find(f"{q('AttachmentData')}/{q('Data')}").text  # type: ignore[union-attr]
    )


def test_verification_time_is_honoured(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    verify_sender(root, trust, at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    with pytest.raises(CertificateExpiredError, match="is not valid at 2100"):
        verify_sender(root, trust, at=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


# ============================================================================== countersignature
def test_countersign_then_both_signatures_verify(
    signer: Signer, hub_signer: Signer, trust: TrustStore
) -> None:
    root = signed(signer, attachments=[sample_attachment()])
    sender_bytes = c14n(root.find(q("SenderSignature")))  # type: ignore[arg-type]
    root = countersigned(root, hub_signer)
    names = [etree.QName(c).localname for c in root]
    assert names == ["Content", "SenderSignature", "Routing", "HubSignature", "AttachmentData"]
    assert c14n(root.find(q("SenderSignature"))) == sender_bytes  # type: ignore[arg-type]
    by_sender = verify_sender(root, trust)
    by_hub = verify_hub(root, trust, HUB)
    assert by_sender.signer_id == SENDER
    assert by_hub.signer_id == HUB
    assert by_hub.envelope.header == by_sender.envelope.header
    assert by_hub.routing is not None
    assert by_hub.routing.findtext(q("Hub")) == HUB
    routing = root.find(q("Routing"))
    assert routing is not None
    assert (
        routing.findtext(q("ContentSha256"))
        == base64.b64encode(content_digest(content(root))).decode()
    )


def test_countersigning_twice_keeps_one_routing(
    signer: Signer, hub_signer: Signer, trust: TrustStore
) -> None:
    root = countersigned(countersigned(signed(signer), hub_signer), hub_signer)
    assert len(root.findall(q("Routing"))) == 1
    assert len(root.findall(q("HubSignature"))) == 1
    verify_sender(root, trust)
    verify_hub(root, trust, HUB)


def test_tampered_routing_breaks_only_the_hub_signature(
    signer: Signer, hub_signer: Signer, trust: TrustStore
) -> None:
    root = countersigned(signed(signer), hub_signer)
    route = root.find(f"{q('Routing')}/{q('Route')}")
    assert route is not None
    route.set("Address", "queue.attacker")
    root = reparse(root)
    verify_sender(root, trust)
    with pytest.raises(SignatureError, match="Envelope/HubSignature: digest mismatch"):
        verify_hub(root, trust, HUB)


def test_hub_signature_must_come_from_the_hub(signer: Signer, trust: TrustStore) -> None:
    """A participant countersigning as if it were the hub is refused."""
    root = countersigned(signed(signer), signer)
    with pytest.raises(SenderMismatchError, match=r"not to the envelope's Sender 'hub\.core'"):
        verify_hub(root, trust, HUB)


def test_hub_verification_needs_a_hub_signature(signer: Signer, trust: TrustStore) -> None:
    with pytest.raises(SignatureMissingError, match="Envelope/HubSignature"):
        verify_hub(signed(signer), trust, HUB)


def test_forged_routing_in_front_of_the_signed_one_is_refused(
    signer: Signer, hub_signer: Signer, trust: TrustStore
) -> None:
    root = countersigned(signed(signer), hub_signer)
    original = root.find(q("Routing"))
    assert original is not None
    forged = clone(original)
    del forged.attrib["Id"]
    forged.find(q("Route")).set("Address", "queue.attacker")  # type: ignore[union-attr]
    wrapper = etree.SubElement(root, q("Moved"))
    original.addprevious(forged)
    wrapper.append(original)
    with pytest.raises(SignatureError, match="Envelope/Routing: the signed element is not"):
        verify_hub(reparse(root), trust, HUB)


# ===================================================================================== tampering
def test_tampered_payload_is_refused(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    subject(root).text = "Forged subject"
    reason = rejected(root, trust, SignatureError)
    assert reason.startswith("Envelope/SenderSignature: digest mismatch")
    assert "#content" in reason


@pytest.mark.parametrize("element", ["Recipient", "Sender", "MessageType", "Kind"])
def test_tampered_header_is_refused(element: str, signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    target = root.find(f"{q('Content')}/{q('Header')}/{q(element)}")
    assert target is not None
    target.text = (target.text or "") + "x"
    assert "digest mismatch" in rejected(root, trust, SignatureError)


def test_removed_content_id_is_refused(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    del content(root).attrib["Id"]
    assert "Id 'content' appears 0 times" in rejected(root, trust, SignatureError)


def test_tampered_attachment_data_is_refused(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer, attachments=[sample_attachment()])
    data = root.find(f"{q('AttachmentData')}/{q('Data')}")
    assert data is not None
    data.text = base64.b64encode(b"forged" * 300).decode()
    reason = rejected(root, trust, AttachmentError)
    assert "Envelope/AttachmentData/Data[@Ref='att1']" in reason


def test_tampered_attachment_with_a_matching_manifest_is_refused(
    signer: Signer, trust: TrustStore
) -> None:
    """Rewriting the manifest entry to match the forged data breaks the sender's signature."""
    import hashlib

    root = signed(signer, attachments=[sample_attachment()])
    forged = b"forged attachment"
    root.find(f"{q('AttachmentData')}/{q('Data')}").text = base64.b64encode(forged).decode()  # type: ignore[union-attr]
    entry = root.find(f".//{q('Attachment')}")
    assert entry is not None
    entry.set("Size", str(len(forged)))
    entry.set("Sha256", base64.b64encode(hashlib.sha256(forged).digest()).decode())
    assert "digest mismatch" in rejected(root, trust, SignatureError)


def test_attachment_smuggled_in_after_signing_is_refused(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer, attachments=[sample_attachment()])
    extra = etree.SubElement(root.find(q("AttachmentData")), q("Data"), Ref="att9")  # type: ignore[arg-type]
    extra.text = "AAAA"
    assert "Data[@Ref='att9']" in rejected(root, trust, AttachmentError)


# ============================================================================ signature wrapping
def _forge_in_front(root: etree._Element, keep_id: bool) -> tuple[etree._Element, etree._Element]:
    """Put a forged Content first; returns (original, forged) with the original detached."""
    original = content(root)
    forged = clone(original)
    if not keep_id:
        del forged.attrib["Id"]
    subject(forged).text = "Forged subject"
    original.addprevious(forged)
    root.remove(original)
    return original, forged


def _into_object(root: etree._Element, original: etree._Element) -> None:
    obj = etree.SubElement(sender_signature(root), f"{DS}Object")
    obj.append(original)


def _into_wrapper(root: etree._Element, original: etree._Element) -> None:
    wrapper = etree.Element(q("Wrapper"))
    wrapper.append(original)
    root.find(q("SenderSignature")).addnext(wrapper)  # type: ignore[union-attr]


def _after_signature(root: etree._Element, original: etree._Element) -> None:
    root.find(q("SenderSignature")).addnext(original)  # type: ignore[union-attr]


def _into_payload(root: etree._Element, original: etree._Element) -> None:
    content(root).find(q("Payload")).append(original)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "move",
    [_into_object, _into_wrapper, _after_signature, _into_payload],
    ids=["into-ds-Object", "into-extra-wrapper", "after-signature", "into-forged-payload"],
)
@pytest.mark.parametrize("keep_id", [False, True], ids=["forged-without-Id", "duplicated-Id"])
def test_signature_wrapping_is_refused(
    move: Callable[[etree._Element, etree._Element], None],
    keep_id: bool,
    signer: Signer,
    trust: TrustStore,
) -> None:
    root = signed(signer)
    original, _ = _forge_in_front(root, keep_id)
    move(root, original)
    reason = rejected(root, trust, SignatureError)
    if keep_id:
        assert "Id 'content' appears 2 times" in reason
        assert "signature wrapping" in reason
    else:
        assert reason == "Envelope/Content: the signed element is not the envelope's Content"


def test_forged_element_with_a_namespaced_id_is_refused(signer: Signer, trust: TrustStore) -> None:
    """signxml resolves any attribute named Id, whatever its namespace: so do we."""
    root = signed(signer)
    decoy = etree.SubElement(root, q("Decoy"))
    decoy.set("{urn:example:wsu}Id", "content")
    assert "Id 'content' appears 2 times" in rejected(root, trust, SignatureError)


@pytest.mark.parametrize("uri", ["", "#other", "#routing", "#xpointer(/)", "#content#"])
def test_changed_reference_uri_is_refused(uri: str, signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    reference = sender_signature(root).find(f"{DS}SignedInfo/{DS}Reference")
    assert reference is not None
    reference.set("URI", uri)
    reason = rejected(root, trust, SignatureError)
    assert reason.startswith("Envelope/SenderSignature: references")
    assert "must reference exactly ['#content']" in reason


def test_reference_uri_following_a_renamed_content_is_refused(
    signer: Signer, trust: TrustStore
) -> None:
    """Forged Content first, original renamed and the reference pointed at it."""
    root = signed(signer)
    original, forged = _forge_in_front(root, keep_id=False)
    forged.set("Id", "content")
    original.set("Id", "original")
    _after_signature(root, original)
    reference = sender_signature(root).find(f"{DS}SignedInfo/{DS}Reference")
    reference.set("URI", "#original")  # type: ignore[union-attr]
    assert "must reference exactly ['#content']" in rejected(root, trust, SignatureError)


def test_extra_reference_is_refused(signer: Signer, hub_signer: Signer, trust: TrustStore) -> None:
    """The hub's two-reference signature moved into SenderSignature is not the sender's."""
    root = countersigned(signed(signer), hub_signer)
    hub_signature = root.find(f"{q('HubSignature')}/{DS}Signature")
    holder = root.find(q("SenderSignature"))
    assert hub_signature is not None and holder is not None
    holder.remove(holder[0])
    holder.append(hub_signature)
    assert "must reference exactly ['#content']" in rejected(root, trust, SignatureError)


# ============================================================================ signature location
def test_unsigned_envelope_is_refused(trust: TrustStore) -> None:
    reason = rejected(make_envelope(), trust, SignatureMissingError)
    assert reason == "Envelope/SenderSignature: the envelope is not signed"


def test_signature_outside_its_holder_is_not_looked_for(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    holder = root.find(q("SenderSignature"))
    assert holder is not None
    holder.addprevious(holder[0])
    root.remove(holder)
    assert "not signed" in rejected(root, trust, SignatureMissingError)


def test_two_sender_signatures_are_refused(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    holder = root.find(q("SenderSignature"))
    assert holder is not None
    holder.addnext(clone(holder))
    assert "Envelope/SenderSignature: appears 2 times" in rejected(root, trust, SignatureError)


def test_two_signatures_in_one_holder_are_refused(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    holder = root.find(q("SenderSignature"))
    assert holder is not None
    holder.append(clone(holder[0]))
    assert "exactly one ds:Signature" in rejected(root, trust, SignatureError)


# ==================================================================================== algorithms
def test_real_sha1_signature_is_refused(pki: Pki, trust: TrustStore) -> None:
    root = make_envelope(sender=RSA_SENDER)
    sign_legacy(
        root,
        pki[RSA_SENDER].key,
        pki[RSA_SENDER].cert,
        SignatureMethod.RSA_SHA1,
        DigestAlgorithm.SHA1,
    )
    reason = rejected(root, trust, AlgorithmNotAllowedError)
    assert "Envelope/SenderSignature/Signature/SignedInfo/SignatureMethod" in reason
    assert SHA1_RSA in reason


def test_sha1_digest_alone_is_refused(pki: Pki, trust: TrustStore) -> None:
    root = make_envelope(sender=RSA_SENDER)
    sign_legacy(
        root,
        pki[RSA_SENDER].key,
        pki[RSA_SENDER].cert,
        SignatureMethod.RSA_SHA256,
        DigestAlgorithm.SHA1,
    )
    reason = rejected(root, trust, AlgorithmNotAllowedError)
    assert "SignedInfo/Reference/DigestMethod" in reason
    assert SHA1_DIGEST in reason


def test_sha1_is_refused_before_anything_else(pki: Pki, trust: TrustStore) -> None:
    """Untrusted certificate, wrong sender and SHA-1 at once: the allow-list speaks first."""
    assert pki.rogue is not None
    root = make_envelope(sender=RSA_SENDER)
    sign_legacy(
        root, pki.rogue.key, pki.rogue.cert, SignatureMethod.ECDSA_SHA1, DigestAlgorithm.SHA1
    )
    assert "SignatureMethod" in rejected(root, trust, AlgorithmNotAllowedError)


@pytest.mark.parametrize(
    ("path", "uri", "named"),
    [
        (f"{DS}SignedInfo/{DS}SignatureMethod", SHA1_RSA, "SignatureMethod"),
        (f"{DS}SignedInfo/{DS}Reference/{DS}DigestMethod", SHA1_DIGEST, "DigestMethod"),
        (
            f"{DS}SignedInfo/{DS}CanonicalizationMethod",
            "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
            "CanonicalizationMethod",
        ),
        (
            f"{DS}SignedInfo/{DS}Reference/{DS}Transforms/{DS}Transform",
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
            "Transforms",
        ),
        (
            f"{DS}SignedInfo/{DS}Reference/{DS}Transforms/{DS}Transform",
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            "Transforms",
        ),
        (
            f"{DS}SignedInfo/{DS}SignatureMethod",
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            "SignatureMethod",
        ),
    ],
    ids=["sha1-signature", "sha1-digest", "inclusive-c14n", "xslt", "enveloped", "hmac"],
)
def test_rewritten_algorithm_is_refused_by_the_allow_list(
    path: str, uri: str, named: str, signer: Signer, trust: TrustStore
) -> None:
    """A SHA-256 signature whose SignedInfo now claims another algorithm: refused by name."""
    root = signed(signer)
    element = sender_signature(root).find(path)
    assert element is not None
    element.set("Algorithm", uri)
    reason = rejected(root, trust, AlgorithmNotAllowedError)
    assert named in reason
    assert uri in reason


def test_short_rsa_keys_cannot_sign(pki: Pki) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CertificateError, match="2048"):
        Signer(weak, pki[RSA_SENDER].cert)


# ================================================================================== certificates
def _signed_by(identity: Identity, sender: str = SENDER) -> etree._Element:
    return signed(Signer(identity.key, identity.cert), sender)


def test_untrusted_ca_is_refused(pki: Pki, trust: TrustStore) -> None:
    assert pki.rogue is not None
    reason = rejected(_signed_by(pki.rogue), trust, UntrustedCertificateError)
    assert "CN=dept.finance" in reason
    assert "not issued by a trusted CA" in reason
    assert "Development CA" in reason


def test_rogue_ca_trusted_alone_does_not_vouch_for_the_real_one(pki: Pki, signer: Signer) -> None:
    assert pki.rogue_ca_path is not None
    rogue_trust = TrustStore.from_pem_files([pki.rogue_ca_path])
    with pytest.raises(UntrustedCertificateError):
        verify_sender(signed(signer), rogue_trust)


def test_expired_certificate_is_refused(pki: Pki, trust: TrustStore) -> None:
    assert pki.expired is not None
    reason = rejected(_signed_by(pki.expired), trust, CertificateExpiredError)
    assert "CN=dept.finance" in reason
    assert "is not valid at" in reason
    assert f"serial {pki.expired.cert.serial_number:x}" in reason


def test_not_yet_valid_certificate_is_refused(pki: Pki, trust: TrustStore) -> None:
    assert pki.not_yet_valid is not None
    assert "is not valid at" in rejected(
        _signed_by(pki.not_yet_valid), trust, CertificateExpiredError
    )


def test_certificate_without_signing_key_usage_is_refused(pki: Pki, trust: TrustStore) -> None:
    assert pki.no_sign is not None
    reason = rejected(_signed_by(pki.no_sign), trust, KeyUsageError)
    assert "key usage does not allow digital signatures" in reason
    assert "CN=dept.finance" in reason


def test_certificate_of_another_participant_is_refused(pki: Pki, trust: TrustStore) -> None:
    """dept.property signs an envelope claiming to come from dept.finance."""
    reason = rejected(_signed_by(pki[RSA_SENDER], sender=SENDER), trust, SenderMismatchError)
    assert "CN=dept.property" in reason
    assert "belongs to dept.property, not to the envelope's Sender 'dept.finance'" in reason


def test_certificate_swapped_in_key_info_is_refused(
    pki: Pki, signer: Signer, trust: TrustStore
) -> None:
    """Another trusted certificate in KeyInfo does not match the key that signed."""
    root = signed(signer)
    cert = sender_signature(root).find(f".//{DS}X509Certificate")
    assert cert is not None
    from cryptography.hazmat.primitives import serialization

    der = pki[HUB].cert.public_bytes(serialization.Encoding.DER)
    cert.text = base64.b64encode(der).decode()
    assert "signature does not verify" in rejected(root, trust, SignatureError)


def test_certificate_chain_in_key_info_is_refused(
    pki: Pki, signer: Signer, trust: TrustStore
) -> None:
    root = signed(signer)
    cert = sender_signature(root).find(f".//{DS}X509Certificate")
    assert cert is not None
    cert.addnext(clone(cert))
    reason = rejected(root, trust, CertificateError)
    assert "expected exactly one X509Certificate, found 2" in reason


def test_unreadable_certificate_is_refused(signer: Signer, trust: TrustStore) -> None:
    root = signed(signer)
    sender_signature(root).find(f".//{DS}X509Certificate").text = "AAAA"  # type: ignore[union-attr]
    assert "unreadable certificate" in rejected(root, trust, CertificateError)


# ========================================================================== malformed signatures
def _set_text(path: str, value: str | None) -> Callable[[etree._Element], None]:
    def mutate(signature: etree._Element) -> None:
        element = signature.find(path)
        assert element is not None
        element.text = value

    return mutate


def _remove(path: str) -> Callable[[etree._Element], None]:
    def mutate(signature: etree._Element) -> None:
        element = signature.find(path)
        assert element is not None
        element.getparent().remove(element)  # type: ignore[union-attr]

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _set_text(f"{DS}SignatureValue", None),
        _set_text(f"{DS}SignatureValue", "!!! not base64"),
        _set_text(f"{DS}SignatureValue", "AAAA"),
        _set_text(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue", None),
        _remove(f"{DS}SignatureValue"),
        _remove(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue"),
        _remove(f"{DS}SignedInfo/{DS}Reference/{DS}Transforms"),
        _remove(f"{DS}SignedInfo"),
        _remove(f"{DS}KeyInfo"),
    ],
    ids=[
        "empty-value",
        "garbage-value",
        "short-value",
        "empty-digest",
        "no-value",
        "no-digest",
        "no-transforms",
        "no-signed-info",
        "no-key-info",
    ],
)
def test_malformed_signature_is_a_signature_error_not_a_crash(
    mutate: Callable[[etree._Element], None], signer: Signer, trust: TrustStore
) -> None:
    root = signed(signer)
    mutate(sender_signature(root))
    reason = rejected(root, trust, SignatureError)
    assert reason.startswith("Envelope/SenderSignature")


def test_document_bytes_round_trip_through_to_bytes(signer: Signer, trust: TrustStore) -> None:
    """What a sender writes with to_bytes verifies after any number of re-reads."""
    root = signed(signer)
    for _ in range(3):
        root = reparse(etree.fromstring(to_bytes(root)))
    assert verify_sender(root, trust).envelope.header.sender == SENDER


def test_private_key_type_is_reported(pki: Pki) -> None:
    key: PrivateKey = pki[SENDER].key
    assert Signer(key, pki[SENDER].cert).participant_id == SENDER


def test_routing_id_is_fixed() -> None:
    assert ROUTING_ID == "routing"
