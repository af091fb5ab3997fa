"""The schema registry: the envelope's own structure, then the payload against its namespace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from envelopes.codec import ENVELOPE_NS, q
from envelopes.errors import (
    EnvelopeError,
    PayloadValidationError,
    SchemaValidationError,
    UnknownMessageTypeError,
)
from envelopes.parsing import parse_xml
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer
from tests.envelopes.helpers import EXAMPLES, make_envelope, reparse, sample_attachment

VALID_EXAMPLES = sorted(p for p in EXAMPLES.glob("*.xml") if "invalid" not in p.name)


def _mutated(mutate: Callable[[etree._Element], object]) -> etree._Element:
    root = make_envelope(attachments=[sample_attachment()])
    mutate(root)
    return reparse(root)


def _replace_payload(root: etree._Element, element: etree._Element) -> None:
    holder = root.find(f"{q('Content')}/{q('Payload')}")
    assert holder is not None
    holder.remove(holder[0])
    holder.append(element)


def _header(root: etree._Element, name: str) -> etree._Element:
    element = root.find(f"{q('Content')}/{q('Header')}/{q(name)}")
    assert element is not None
    return element


def test_registry_indexes_every_schema_by_namespace(registry: SchemaRegistry) -> None:
    assert ENVELOPE_NS in registry.namespaces
    assert "{urn:interagency-hub:payload:memo:1.0}Memo" in registry.message_types()
    assert all(not t.startswith("{" + ENVELOPE_NS) for t in registry.message_types())


@pytest.mark.parametrize("example", VALID_EXAMPLES, ids=lambda p: p.name)
def test_every_example_payload_validates_in_an_envelope(
    registry: SchemaRegistry, example: Path
) -> None:
    payload = parse_xml(example.read_bytes())
    assert str(payload.tag) in registry.message_types()
    assert registry.validate_envelope(reparse(make_envelope(payload=payload))) is None


def test_signed_and_countersigned_envelope_still_validates(
    registry: SchemaRegistry, signer: Signer, hub_signer: Signer
) -> None:
    import datetime as dt

    root = make_envelope(attachments=[sample_attachment()])
    signer.sign(root)
    hub_signer.countersign(
        root, received=dt.datetime.now(dt.UTC), adapter="internal", address="queue.tax"
    )
    reparsed = reparse(root)
    assert reparsed.find("{urn:interagency-hub:envelope:1.0}HubSignature") is not None
    assert registry.validate_envelope(reparsed) is None


# --------------------------------------------------------------------- schema-invalid envelope
@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda r: _header(r, "MessageId").set("x", "1"), "MessageId"),
        (
            lambda r: setattr(
                _header(r, "MessageId"), "text", _header(r, "MessageId").text.upper()
            ),
            "MessageId",
        ),
        (lambda r: setattr(_header(r, "Created"), "text", "2026-03-12T10:00:00"), "Created"),
        (lambda r: _header(r, "Created").getparent().remove(_header(r, "Created")), "Created"),
        (
            lambda r: _header(r, "Kind").getparent().insert(0, _header(r, "Kind")),
            "Kind",
        ),
        (lambda r: r.set("Version", "2.0"), "Version"),
        (lambda r: r.find(q("Content")).set("Id", "other"), "Id"),
        (lambda r: etree.SubElement(r, q("Junk")), "Junk"),
        (
            lambda r: r.find(f".//{q('Attachment')}").set("FileName", "../../etc/passwd"),
            "FileName",
        ),
        (lambda r: _replace_payload(r, etree.Element("NoNamespace")), "Payload"),
    ],
    ids=[
        "attribute-on-MessageId",
        "upper-case-uuid",
        "Created-without-zone",
        "Created-missing",
        "header-order",
        "version",
        "content-id",
        "extra-element",
        "file-name-path",
        "payload-without-namespace",
    ],
)
def test_schema_invalid_envelope_names_the_element(
    registry: SchemaRegistry, mutate: Callable[[etree._Element], object], named: str
) -> None:
    with pytest.raises(SchemaValidationError) as caught:
        registry.validate_envelope(_mutated(mutate))
    error = caught.value
    assert type(error) is SchemaValidationError
    assert error.code == "envelope_invalid"
    assert named in error.problems[0], error.problems
    assert all("\n" not in p for p in error.problems)


# ---------------------------------------------------------------------- schema-invalid payload
def test_schema_invalid_payload_names_the_element(registry: SchemaRegistry) -> None:
    invalid = parse_xml((EXAMPLES / "memo-invalid.xml").read_bytes())
    with pytest.raises(PayloadValidationError) as caught:
        registry.validate_envelope(_mutated(lambda r: _replace_payload(r, invalid)))
    error = caught.value
    assert error.code == "payload_invalid"
    assert error.problems[0].startswith("Envelope/Content/Payload/Memo")
    assert "Subject" in error.problems[0]


def test_payload_problems_are_listed_and_bounded(registry: SchemaRegistry) -> None:
    memo = parse_xml((EXAMPLES / "memo.xml").read_bytes())
    for child in memo:
        if isinstance(child.tag, str):
            child.set("bogus", "1")
    with pytest.raises(PayloadValidationError) as caught:
        registry.validate_payload(memo)
    assert 1 <= len(caught.value.problems) <= 10
    assert caught.value.reason.count("\n") == len(caught.value.problems) - 1


# ------------------------------------------------------------------------------ unknown type
def test_unknown_namespace_is_an_unknown_message_type(registry: SchemaRegistry) -> None:
    stranger = etree.Element("{urn:example:unknown:1.0}Thing")
    with pytest.raises(UnknownMessageTypeError) as caught:
        registry.validate_envelope(_mutated(lambda r: _replace_payload(r, stranger)))
    error = caught.value
    assert error.code == "unknown_message_type"
    assert "Envelope/Content/Payload" in str(error)
    assert "urn:example:unknown:1.0" in str(error)


def test_unknown_root_in_a_known_namespace_is_an_unknown_message_type(
    registry: SchemaRegistry,
) -> None:
    stranger = etree.Element("{urn:interagency-hub:payload:memo:1.0}NotAMemo")
    with pytest.raises(UnknownMessageTypeError, match=r"memo-1\.0\.xsd declares no root.*NotAMemo"):
        registry.validate_envelope(_mutated(lambda r: _replace_payload(r, stranger)))


def test_the_envelope_namespace_is_not_a_payload_type(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownMessageTypeError):
        registry.validate_payload(etree.Element(q("Envelope")))


# ------------------------------------------------------------------------ registry hygiene
def test_registry_refuses_network_imports(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "envelope.xsd").write_bytes(
        (EXAMPLES.parent / "hub" / "envelope-1.1.xsd").read_bytes()
    )
    (tmp_path / "evil.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:evil">'
        '<xs:import namespace="urn:far" schemaLocation="http://127.0.0.1:9/far.xsd"/>'
        '<xs:element name="E"/></xs:schema>'
    )
    with pytest.raises(EnvelopeError, match=r"not local|far\.xsd"):
        SchemaRegistry(tmp_path)


def test_registry_needs_the_envelope_schema(tmp_path: Path) -> None:
    with pytest.raises(EnvelopeError, match="no envelope schema"):
        SchemaRegistry(tmp_path)
