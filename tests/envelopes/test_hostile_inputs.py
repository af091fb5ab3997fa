"""What the fuzzers found in the envelope library (issue 20), each kept fixed by its class.

Every case must end in an EnvelopeError that names its cause (what the pipeline turns into a
signed negative receipt), never in another exception (which the pipeline retries, then
dead-letters unanswered).
"""

from __future__ import annotations

import pytest

from envelopes.codec import to_bytes
from envelopes.errors import CertificateError, EnvelopeError, SignatureError
from envelopes.parsing import parse_xml, relative_namespace
from envelopes.pki import TrustStore, describe
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer, content_digest, verify_sender
from tests.conftest import SENDER, Pki
from tests.envelopes.helpers import make_envelope
from tests.support.hostile import undecodable_subject, with_certificate


def signed_body(signer: Signer) -> bytes:
    return to_bytes(signer.sign(make_envelope()))


@pytest.mark.parametrize("resign", [False, True], ids=["forged", "ca-signed"])
def test_a_certificate_whose_subject_does_not_decode_is_refused_by_name(
    pki: Pki, signer: Signer, trust: TrustStore, resign: bool
) -> None:
    cert = undecodable_subject(
        SENDER, pki.ca_key, pki.ca_cert, pki[SENDER].key.public_key(), resign=resign
    )
    with pytest.raises(ValueError):
        cert.subject.rfc4514_string()  # the class of input: cryptography raises on reading it
    assert "undecodable subject" in describe(cert)  # the name used in every message
    body = with_certificate(signed_body(signer), cert)
    with pytest.raises(CertificateError) as caught:
        verify_sender(parse_xml(body), trust)
    assert f"serial {cert.serial_number:x}" in str(caught.value)
    assert "undecodable subject" in str(caught.value)


@pytest.mark.parametrize(
    "where",
    [b"<hub:Header", b"<hub:Payload", b"<ds:SignedInfo", b"<ds:Reference", b"<hub:Envelope"],
)
@pytest.mark.parametrize("declaration", [b'xmlns:x="rel"', b'xmlns:y="/abs"', b'xmlns:z="#f"'])
def test_a_relative_namespace_uri_anywhere_fails_the_signature_check_by_name(
    signer: Signer, trust: TrustStore, where: bytes, declaration: bytes
) -> None:
    """Well-formed, so parsed (the header stays readable: the sender gets its answer), but
    without a canonical form: a SignatureError that names the declaration."""
    body = signed_body(signer).replace(where, where + b" " + declaration, 1)
    root = parse_xml(body)
    with pytest.raises(SignatureError, match="relative URI") as caught:
        verify_sender(root, trust)
    assert declaration.split(b"=")[0].decode() in str(caught.value)


def test_a_tree_with_a_relative_namespace_fails_its_signature_check_cleanly(
    signer: Signer, trust: TrustStore
) -> None:
    """Defence in depth: a tree built without parse_xml still gets a SignatureError."""
    from lxml import etree

    root = etree.fromstring(signed_body(signer).replace(b"<hub:Header", b'<hub:Header xmlns:x="r"'))
    with pytest.raises(SignatureError, match="no canonical form"):
        verify_sender(root, trust)
    assert relative_namespace(root) is not None
    with pytest.raises(SignatureError):
        content_digest(root[0])


def test_signing_content_with_a_relative_namespace_fails_cleanly(signer: Signer) -> None:
    from lxml import etree

    root = make_envelope()
    header = root[0][0]
    copy = etree.fromstring(
        etree.tostring(root).replace(b"<hub:Header", b'<hub:Header xmlns:x="rel"', 1)
    )
    assert header is not None
    with pytest.raises(EnvelopeError):
        signer.sign(copy)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("count", [2_000, 20_000])
def test_explaining_a_schema_failure_stays_cheap_with_many_unknown_attributes(
    registry: SchemaRegistry, signer: Signer, count: int
) -> None:
    """2,000 unknown attributes cost about 30 s of xmlschema's explanation before the fix
    (each error repeats the whole element): the explanation now falls back to lxml's own
    error log for such shapes, which names the same first problem."""
    attributes = " ".join(f'a{i}="x"' for i in range(count)).encode()
    body = signed_body(signer).replace(b"<hub:Header", b"<hub:Header " + attributes, 1)
    with pytest.raises(EnvelopeError) as caught:
        registry.validate_envelope(parse_xml(body))
    assert caught.value.code == "envelope_invalid"
    assert "a0" in caught.value.problems[0]
    assert len(caught.value.problems) <= 10


def test_a_small_schema_failure_is_still_explained_by_path(
    registry: SchemaRegistry, signer: Signer
) -> None:
    body = signed_body(signer).replace(b"<hub:Header", b'<hub:Header bogus="1"', 1)
    with pytest.raises(EnvelopeError) as caught:
        registry.validate_envelope(parse_xml(body))
    assert caught.value.problems[0].startswith("/hub:Envelope/hub:Content/hub:Header")


@pytest.mark.parametrize("junk", ["\ufeff", "ж", "\U0001f600"])
def test_attachment_data_outside_ascii_is_an_attachment_error(
    signer: Signer, trust: TrustStore, junk: str
) -> None:
    """Found by bench/fuzz.py: AttachmentData lies outside the signature, and base64 decoding
    of text with a non-ASCII character raised ValueError (the pipeline retried it)."""
    from envelopes.errors import AttachmentError
    from tests.envelopes.helpers import sample_attachment

    body = to_bytes(signer.sign(make_envelope(attachments=[sample_attachment()])))
    start = body.index(b'<hub:Data Ref="att1">') + len(b'<hub:Data Ref="att1">')
    hostile = body[:start] + junk.encode() + body[start:]
    with pytest.raises(AttachmentError, match="not base64"):
        verify_sender(parse_xml(hostile), trust)
