"""The document card (envelope 1.1): built, validated, read back, signed; 1.0 stays 1.0."""

from __future__ import annotations

import datetime as dt

import pytest

from envelopes.codec import (
    ENVELOPE_VERSION,
    ENVELOPE_VERSION_CARD,
    content_of,
    envelope_from_tree,
    new_envelope,
    q,
    to_bytes,
)
from envelopes.errors import SchemaValidationError, SignatureError
from envelopes.model import Contact, DocumentCard, DocumentKind, Person, Urgency
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer, verify_sender
from tests.envelopes.helpers import memo_payload

CARD = DocumentCard(
    kind=DocumentKind.LETTER,
    title="О ремонте кровли здания ДК «Октябрь»\nи смете на 2027 год",
    number="01-12/345",
    date=dt.date(2026, 12, 1),
    answers_number="ФУ-77/26",
    answers_date=dt.date(2026, 11, 20),
    signatory=Person(name="Петров П.П.", post="начальник финансового управления"),
    addressees=["Управление культуры", "Отдел архитектуры"],
    urgency=Urgency.OPERATIVE,
    restriction="ДСП",
    pages=3,
    control_term=dt.date(2026, 12, 15),
    contact=Contact(name="Сидорова А.А.", phone="+7 4862 00-00-00"),
)


def test_a_card_makes_a_1_1_envelope_that_reads_back_the_same(registry: SchemaRegistry) -> None:
    _, root = new_envelope("dept.finance", "dept.culture", memo_payload(), card=CARD)
    assert root.get("Version") == ENVELOPE_VERSION_CARD
    again = parse_xml(to_bytes(root))
    registry.validate_envelope(again)
    assert envelope_from_tree(again).card == CARD


def test_without_a_card_the_envelope_is_1_0_as_before(registry: SchemaRegistry) -> None:
    _, root = new_envelope("dept.finance", "dept.culture", memo_payload())
    assert root.get("Version") == ENVELOPE_VERSION
    assert content_of(root).find(q("DocumentCard")) is None
    registry.validate_envelope(root)
    assert envelope_from_tree(root).card is None


def test_the_smallest_card(registry: SchemaRegistry) -> None:
    card = DocumentCard(kind="order", title="Об утверждении плана", number="12", date="2026-12-06")  # type: ignore[arg-type]
    _, root = new_envelope("dept.finance", "dept.culture", memo_payload(), card=card)
    registry.validate_envelope(root)
    read = envelope_from_tree(parse_xml(to_bytes(root))).card
    assert read is not None and read.urgency == Urgency.NORMAL and read.addressees == []


def test_a_card_in_a_1_0_envelope_is_refused() -> None:
    _, root = new_envelope("dept.finance", "dept.culture", memo_payload(), card=CARD)
    root.set("Version", "1.0")
    with pytest.raises(SchemaValidationError, match=r"Envelope/@Version: .* version 1\.1"):
        envelope_from_tree(root)


@pytest.mark.parametrize(
    ("element", "value", "named"),
    [
        ("Urgency", "whenever", "DocumentCard/Urgency"),
        ("Date", "2026-13-01", "DocumentCard/Date"),
        ("Number", " ", "DocumentCard/Number"),
        ("Kind", "novel", "DocumentCard/Kind"),
    ],
)
def test_a_bad_card_value_is_named(
    registry: SchemaRegistry, element: str, value: str, named: str
) -> None:
    _, root = new_envelope("dept.finance", "dept.culture", memo_payload(), card=CARD)
    card = content_of(root).find(q("DocumentCard"))
    assert card is not None
    found = card.find(q(element))
    assert found is not None
    found.text = value
    with pytest.raises(SchemaValidationError):
        registry.validate_envelope(root)
    with pytest.raises(SchemaValidationError, match=named):
        envelope_from_tree(root)


def test_the_card_is_signed_with_the_document(signer: Signer, trust: TrustStore) -> None:
    _, root = new_envelope("dept.finance", "dept.culture", memo_payload(), card=CARD)
    signer.sign(root)
    verified = verify_sender(parse_xml(to_bytes(root)), trust)
    assert verified.envelope.card == CARD
    title = content_of(root).find(f"{q('DocumentCard')}/{q('Title')}")
    assert title is not None
    title.text = "О чём-то другом"
    with pytest.raises(SignatureError):
        verify_sender(parse_xml(to_bytes(root)), trust)


def test_answers_come_as_a_pair() -> None:
    with pytest.raises(ValueError, match="go together"):
        DocumentCard(kind="letter", title="x", number="1", date="2026-12-01", answers_number="2")  # type: ignore[arg-type]
