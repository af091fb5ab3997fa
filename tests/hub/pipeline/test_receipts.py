"""Receipts written as text are the documents the tree builder makes, signed and valid."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier  # type: ignore[attr-defined]

from envelopes.codec import content_of, q
from envelopes.parsing import parse_xml
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer, verify_sender
from envelopes.xmldsig import canonicalize
from hub.abc import Destination
from hub.pipeline.receipts import read_receipt, receipt_content, receipt_envelope
from tests.conftest import HUB, SENDER, Pki
from tests.envelopes.helpers import XSD_DIR

AT = dt.datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=dt.UTC)
MESSAGE = "0b0e8e6e-1c4e-4f3b-9a57-1f0e2d3c4b5a"

CASES: list[tuple[str, str, dict[str, object]]] = [
    ("accepted", MESSAGE, {"digest": bytes(range(32))}),
    (
        "delivered",
        MESSAGE,
        {"digest": b"\xff" * 32, "destinations": [Destination("internal", "dept.culture")]},
    ),
    (
        "rejected",
        MESSAGE,
        {
            "digest": b"\x01" * 32,
            "reasons": [
                ("schema_invalid", 'Envelope/Content/Payload: <m:Memo> & "quoted" > x'),
                ("tabs", "line one\r\nline two\tend"),
            ],
        },
    ),
    ("rejected", "unparsed-0123456789abcdef01234567", {"correlates": False}),
    (
        "failed",
        MESSAGE,
        {"destinations": [Destination("email", 'a&b "c" <d@e>\t\n')], "reasons": [("x", "")]},
    ),
]


@pytest.mark.parametrize(("state", "message_id", "extra"), CASES)
def test_text_receipt_is_the_canonical_form_of_the_built_one(
    state: str, message_id: str, extra: dict[str, object]
) -> None:
    written = receipt_content(HUB, SENDER, message_id, state, at=AT, **extra)  # type: ignore[arg-type]
    built = receipt_envelope(HUB, SENDER, message_id, state, at=AT, **extra)  # type: ignore[arg-type]
    assert written == canonicalize(content_of(built))


@pytest.mark.parametrize(("state", "message_id", "extra"), CASES)
def test_signed_text_receipt_is_valid_and_verifies(
    pki: Pki, state: str, message_id: str, extra: dict[str, object]
) -> None:
    signer = Signer(pki[HUB].key, pki[HUB].cert)
    # a time the session's certificates are valid at, whatever today's date
    at = pki[HUB].cert.not_valid_before_utc + dt.timedelta(minutes=1, microseconds=123456)
    body = signer.sign_canonical(
        receipt_content(HUB, SENDER, message_id, state, at=at, **extra)  # type: ignore[arg-type]
    )
    root = parse_xml(body)
    SchemaRegistry(XSD_DIR).validate_envelope(root)
    verified = verify_sender(root, pki.trust(), at)
    assert verified.signer_id == HUB
    assert verified.envelope.header.recipient == SENDER
    facts = read_receipt(verified.envelope.payload)
    assert (facts["message_id"], facts["state"]) == (message_id, state)
    reasons = [(code, text or "") for code, text in facts["reasons"]]  # type: ignore[attr-defined]
    assert reasons == [tuple(r) for r in extra.get("reasons", [])]  # type: ignore[attr-defined]


def test_signxml_verifies_a_text_receipt(pki: Pki) -> None:
    signer = Signer(pki[HUB].key, pki[HUB].cert)
    body = signer.sign_canonical(receipt_content(HUB, SENDER, MESSAGE, "accepted", at=AT))
    pem = pki[HUB].cert.public_bytes(serialization.Encoding.PEM).decode()
    result = XMLVerifier().verify(
        etree.fromstring(body),
        x509_cert=pem,
        id_attribute="Id",
        expect_config=SignatureConfiguration(location=f"./{q('SenderSignature')}/"),
    )
    assert result.signed_xml is not None
    assert result.signed_xml.get("Id") == "content"


def test_characters_xml_cannot_carry_are_replaced() -> None:
    content = receipt_content(
        HUB, SENDER, MESSAGE, "rejected", reasons=[("bad", "nul\x00 and \x1b escape")], at=AT
    )
    reason = etree.fromstring(content).find(".//{urn:interagency-hub:receipt:1.0}Reason")
    assert reason is not None
    assert reason.text == "nul\ufffd and \ufffd escape"


def test_receipt_ids_are_stable_and_told_apart() -> None:
    def receipt_message_id(state: str, **extra: object) -> str:
        root = etree.fromstring(receipt_content(HUB, SENDER, MESSAGE, state, at=AT, **extra))  # type: ignore[arg-type]
        return str(root.findtext(f"{q('Header')}/{q('MessageId')}"))

    first = receipt_message_id("accepted")
    assert first == receipt_message_id("accepted")
    assert first != receipt_message_id("delivered")
    assert uuid.UUID(first).version == 5
