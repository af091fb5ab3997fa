"""Header model and the envelope's XML form (no signatures here)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from lxml import etree
from pydantic import ValidationError

from envelopes.codec import (
    CONTENT_ID,
    ENVELOPE_NS,
    build_envelope,
    parse_envelope,
    q,
    to_bytes,
)
from envelopes.errors import AttachmentError, SchemaValidationError
from envelopes.model import Attachment, Header, Kind
from tests.envelopes.helpers import make_envelope, make_header, memo_payload, sample_attachment


def _with_header_value(element: str, value: str | None) -> bytes:
    """A serialized envelope whose Header/<element> holds ``value`` (None: element removed)."""
    root = make_envelope(
        correlation_id=uuid.uuid4(),
        priority=5,
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    target = root.find(f"{q('Content')}/{q('Header')}/{q(element)}")
    assert target is not None
    if value is None:
        target.getparent().remove(target)
    else:
        target.text = value
    return to_bytes(root)


# -------------------------------------------------------------------------------------- header
def test_round_trip_keeps_every_header_field() -> None:
    payload = memo_payload()
    header = make_header(
        payload=payload,
        correlation_id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        expires_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        priority=3,
        test=True,
        kind=Kind.NOTICE,
    )
    envelope = parse_envelope(to_bytes(build_envelope(header, payload)))
    assert envelope.header == header
    assert envelope.message_id == str(header.message_id)
    assert envelope.payload.tag == header.message_type
    assert envelope.attachments == []


def test_layout_is_content_then_attachment_data() -> None:
    root = make_envelope(attachments=[sample_attachment()])
    assert root.tag == q("Envelope")
    assert root.get("Version") == "1.0"
    assert [etree.QName(c).localname for c in root] == ["Content", "AttachmentData"]
    content = root[0]
    assert content.get("Id") == CONTENT_ID
    assert [etree.QName(c).localname for c in content] == ["Header", "Payload", "Attachments"]


@pytest.mark.parametrize(
    ("element", "value", "named"),
    [
        ("Created", "2026-03-12T10:00:00", "Envelope/Content/Header/Created"),
        ("Created", "yesterday", "Envelope/Content/Header/Created"),
        ("ExpiresAt", "2026-03-12T10:00:00", "Envelope/Content/Header/ExpiresAt"),
        ("Sender", "Finance Department", "Envelope/Content/Header/Sender"),
        ("Recipient", "", "Envelope/Content/Header/Recipient"),
        ("MessageId", "not-a-uuid", "Envelope/Content/Header/MessageId"),
        ("CorrelationId", "42", "Envelope/Content/Header/CorrelationId"),
        ("Kind", "gossip", "Envelope/Content/Header/Kind"),
        ("Priority", "10", "Envelope/Content/Header/Priority"),
        ("MessageType", "Memo", "Envelope/Content/Header/MessageType"),
        ("Sender", None, "Envelope/Content/Header/Sender"),
    ],
)
def test_header_errors_name_the_element(element: str, value: str | None, named: str) -> None:
    with pytest.raises(SchemaValidationError) as caught:
        parse_envelope(_with_header_value(element, value))
    error = caught.value
    assert error.code == "envelope_invalid"
    assert any(problem.startswith(named) for problem in error.problems), error.problems


def test_created_without_time_zone_names_created() -> None:
    with pytest.raises(
        SchemaValidationError, match=r"^Envelope/Content/Header/Created: .*timezone"
    ):
        parse_envelope(_with_header_value("Created", "2026-03-12T10:00:00"))


def test_several_header_problems_are_listed_one_per_line() -> None:
    root = make_envelope()
    head = root.find(f"{q('Content')}/{q('Header')}")
    assert head is not None
    head.find(q("Created")).text = "2026-03-12T10:00:00"  # type: ignore[union-attr]
    head.find(q("Kind")).text = "gossip"  # type: ignore[union-attr]
    with pytest.raises(SchemaValidationError) as caught:
        parse_envelope(to_bytes(root))
    assert len(caught.value.problems) == 2
    assert caught.value.reason.splitlines() == caught.value.problems
    assert {p.split(":")[0] for p in caught.value.problems} == {
        "Envelope/Content/Header/Created",
        "Envelope/Content/Header/Kind",
    }


def test_unexpected_header_element_is_named() -> None:
    root = make_envelope()
    etree.SubElement(root.find(f"{q('Content')}/{q('Header')}"), q("Secret")).text = "x"
    with pytest.raises(SchemaValidationError, match="Envelope/Content/Header/Secret"):
        parse_envelope(to_bytes(root))


def test_comments_in_the_header_are_ignored() -> None:
    data = to_bytes(make_envelope()).replace(b"<hub:Sender>", b"<!-- from --><hub:Sender>")
    assert parse_envelope(data).header.sender == "dept.finance"


def test_message_type_must_match_the_payload_root() -> None:
    root = make_envelope()
    root.find(f".//{q('MessageType')}").text = "{urn:other}Memo"  # type: ignore[union-attr]
    with pytest.raises(SchemaValidationError, match="Envelope/Content/Header/MessageType"):
        parse_envelope(to_bytes(root))


@pytest.mark.parametrize("count", [0, 2])
def test_payload_must_hold_exactly_one_element(count: int) -> None:
    root = make_envelope()
    holder = root.find(f"{q('Content')}/{q('Payload')}")
    assert holder is not None
    for child in list(holder):
        holder.remove(child)
    for _ in range(count):
        holder.append(memo_payload())
    with pytest.raises(SchemaValidationError, match=f"Envelope/Content/Payload: .*found {count}"):
        parse_envelope(to_bytes(root))


def test_wrong_root_element_is_named() -> None:
    with pytest.raises(SchemaValidationError, match="root element is 'Memo'"):
        parse_envelope(etree.tostring(memo_payload()))


def test_missing_content_is_named() -> None:
    data = f'<Envelope xmlns="{ENVELOPE_NS}" Version="1.0"/>'.encode()
    with pytest.raises(SchemaValidationError, match="Envelope/Content: element is missing"):
        parse_envelope(data)


def test_header_model_refuses_naive_datetimes_directly() -> None:
    with pytest.raises(ValidationError) as caught:
        make_header(created=dt.datetime(2026, 3, 12, 10, 0))
    assert caught.value.errors()[0]["loc"] == ("created",)


def test_header_is_frozen_and_strict() -> None:
    header = make_header()
    with pytest.raises(ValidationError):
        header.sender = "dept.other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Header.model_validate({**header.model_dump(), "unknown": 1})


# ---------------------------------------------------------------------------------- attachments
def test_attachments_round_trip() -> None:
    first = sample_attachment(3000, "att1")
    second = Attachment.from_bytes("att2", "scan.pdf", "application/pdf", b"%PDF-1.7 tiny")
    envelope = parse_envelope(to_bytes(make_envelope(attachments=[first, second])))
    assert envelope.attachments == [first, second]


def test_tampered_attachment_data_is_named() -> None:
    attachment = sample_attachment()
    root = make_envelope(attachments=[attachment])
    data = root.find(f"{q('AttachmentData')}/{q('Data')}")
    assert data is not None
    forged = bytearray(attachment.content)
    forged[100] ^= 0xFF
    data.text = base64.b64encode(bytes(forged)).decode()
    with pytest.raises(AttachmentError) as caught:
        parse_envelope(to_bytes(root))
    assert caught.value.code == "attachment_invalid"
    assert "Data[@Ref='att1']" in str(caught.value)
    assert "SHA-256" in str(caught.value)


def test_truncated_attachment_names_the_size() -> None:
    root = make_envelope(attachments=[sample_attachment()])
    data = root.find(f"{q('AttachmentData')}/{q('Data')}")
    assert data is not None
    data.text = (data.text or "")[:100]
    with pytest.raises(AttachmentError, match=r"Data\[@Ref='att1'\]: size 75 differs"):
        parse_envelope(to_bytes(root))


def test_missing_attachment_content_is_named() -> None:
    root = make_envelope(attachments=[sample_attachment()])
    root.remove(root.find(q("AttachmentData")))
    with pytest.raises(AttachmentError, match=r"Data\[@Ref='att1'\]: content .* is missing"):
        parse_envelope(to_bytes(root))


def test_attachment_outside_the_manifest_is_named() -> None:
    root = make_envelope(attachments=[sample_attachment()])
    extra = etree.SubElement(root.find(q("AttachmentData")), q("Data"), Ref="smuggled")
    extra.text = "AAAA"
    with pytest.raises(
        AttachmentError, match=r"Data\[@Ref='smuggled'\]: no such attachment in the signed manifest"
    ):
        parse_envelope(to_bytes(root))


def test_bad_manifest_entry_is_named() -> None:
    root = make_envelope(attachments=[sample_attachment()])
    root.find(f".//{q('Attachment')}").set("Sha256", "***")  # type: ignore[union-attr]
    with pytest.raises(AttachmentError, match=r"Attachment\[@Id='att1'\]"):
        parse_envelope(to_bytes(root))
