"""Attachments by reference (claim check): the manifest signs digest and size, a ``Reference``
stands in for the ``Data``; schema, codec, signatures and countersignatures take it."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from lxml import etree

from envelopes.codec import parse_envelope, q, read_attachments, to_bytes
from envelopes.errors import AttachmentDigestMismatchError, AttachmentError
from envelopes.model import AttachmentRef, ContentReference, blob_uri
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer, signed_document, verify_hub, verify_sender
from tests.conftest import HUB
from tests.envelopes.helpers import make_envelope, sample_attachment

BIG = b"x" * 5000


def big_reference(content: bytes = BIG, attachment_id: str = "att2") -> ContentReference:
    ref = AttachmentRef(
        id=attachment_id,
        file_name="scan.pdf",
        media_type="application/pdf",
        size=len(content),
        sha256=hashlib.sha256(content).digest(),
    )
    return ContentReference.for_ref(ref)


def with_reference(reference: ContentReference | None = None) -> etree._Element:
    root = make_envelope(attachments=[sample_attachment()])
    # make_envelope has no references argument: rebuild the way build_envelope does
    from envelopes.codec import build_envelope, content_of, header_from_content, payload_of

    content = content_of(root)
    return build_envelope(
        header_from_content(content),
        payload_of(content),
        [sample_attachment()],
        references=[reference or big_reference()],
    )


def test_reference_round_trips_beside_inline_content(registry: SchemaRegistry) -> None:
    reference = big_reference()
    root = with_reference(reference)
    registry.validate_envelope(parse_xml(to_bytes(root)))
    item = root.find(f"{q('AttachmentData')}/{q('Reference')}")
    assert item is not None and item.get("Uri") == blob_uri(hashlib.sha256(BIG).digest())
    envelope = parse_envelope(to_bytes(root))
    assert envelope.attachments == [sample_attachment()]
    assert envelope.references == [reference]
    assert reference.digest_hex == hashlib.sha256(BIG).hexdigest()


def test_envelopes_without_references_are_unchanged(registry: SchemaRegistry) -> None:
    root = make_envelope(attachments=[sample_attachment()])
    assert b"<hub:Reference" not in to_bytes(root)
    assert parse_envelope(to_bytes(root)).references == []


def test_a_reference_to_other_content_is_a_digest_mismatch() -> None:
    root = with_reference()
    item = root.find(f"{q('AttachmentData')}/{q('Reference')}")
    assert item is not None
    item.set("Uri", blob_uri(hashlib.sha256(b"other").digest()))
    with pytest.raises(AttachmentDigestMismatchError) as caught:
        parse_envelope(to_bytes(root))
    assert caught.value.code == "attachment_digest_mismatch"
    assert "Reference[@Ref='att2']" in str(caught.value)


def test_data_and_reference_for_one_attachment_is_refused() -> None:
    root = with_reference()
    data = root.find(q("AttachmentData"))
    assert data is not None
    etree.SubElement(data, q("Data"), Ref="att2").text = "eHh4"
    with pytest.raises(AttachmentError, match="both Data and a Reference"):
        parse_envelope(to_bytes(root))


@pytest.mark.parametrize("uri", ["blob:sha256:ABC", "https://example.org/x", ""])
def test_schema_refuses_a_malformed_reference(registry: SchemaRegistry, uri: str) -> None:
    root = with_reference()
    item = root.find(f"{q('AttachmentData')}/{q('Reference')}")
    assert item is not None
    item.set("Uri", uri)
    with pytest.raises(Exception) as caught:
        registry.validate_envelope(parse_xml(to_bytes(root)))
    assert getattr(caught.value, "code", "") == "envelope_invalid"


def test_read_attachments_says_content_is_by_reference() -> None:
    root = with_reference()
    from envelopes.codec import attachment_refs, content_of

    with pytest.raises(AttachmentError, match="carried by reference"):
        read_attachments(root, attachment_refs(content_of(root)))


def test_signature_covers_a_reference_through_the_manifest(
    signer: Signer, hub_signer: Signer, trust: TrustStore
) -> None:
    root = with_reference()
    signer.sign(root)
    body = to_bytes(root)
    verified = verify_sender(parse_xml(body), trust)
    assert [r.ref.id for r in verified.envelope.references] == ["att2"]
    # the hub countersigns an envelope that carries a reference
    countersigned = parse_xml(
        hub_signer.countersigned(
            body,
            parse_xml(body),
            received=dt.datetime.now(dt.UTC),
            adapter="internal",
            address="dept.culture",
        )
    )
    verify_hub(countersigned, trust, HUB)
    assert verify_sender(countersigned, trust).envelope.references == verified.envelope.references
    # what `hub envelope verify -o` writes keeps the reference
    again = parse_envelope(to_bytes(signed_document(verified)))
    assert again.references == verified.envelope.references
    # a changed size in the manifest breaks the sender's signature
    attachment = root.find(f"{q('Content')}/{q('Attachments')}/{q('Attachment')}[@Id='att2']")
    assert attachment is not None
    attachment.set("Size", "1")
    with pytest.raises(Exception) as caught:
        verify_sender(parse_xml(to_bytes(root)), trust)
    assert getattr(caught.value, "code", "") == "signature_invalid"
