"""Countersigning as bytes: the spliced document is the one the tree path makes, or it is the
tree path (attachments, old countersignatures, other encodings, trailing comments)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier  # type: ignore[attr-defined]

from envelopes.codec import ROUTING_ID, q, to_bytes
from envelopes.parsing import parse_xml
from envelopes.pki import TrustStore
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer, verify_hub, verify_sender
from tests.conftest import HUB, SENDER, Pki
from tests.envelopes.helpers import c14n, make_envelope, sample_attachment

RECEIVED = dt.datetime(2026, 11, 25, 10, 0, 5, 250000, tzinfo=dt.UTC)
ROUTE = {
    "received": RECEIVED,
    "adapter": "internal",
    "address": 'dept.culture & "friends" <x>',
    "rules_version": "rules-7 <b>",
    "recipient": "dept.culture",
}


def sender_bytes(signer: Signer, **kwargs: object) -> bytes:
    root = make_envelope(sender=SENDER, **kwargs)  # type: ignore[arg-type]
    signer.sign(root)
    return to_bytes(root)


def both_ways(hub: Signer, body: bytes) -> tuple[etree._Element, etree._Element]:
    """(spliced or fallen back, tree-built) countersignatures of the same envelope."""
    root = parse_xml(body)
    spliced = parse_xml(hub.countersigned(body, root, **ROUTE))  # type: ignore[arg-type]
    assert to_bytes(root) == to_bytes(parse_xml(body)), "countersigned() changed the tree"
    built = parse_xml(body)
    hub.countersign(built, **ROUTE)  # type: ignore[arg-type]
    return spliced, parse_xml(to_bytes(built))


def assert_same_document(spliced: etree._Element, built: etree._Element) -> None:
    for name in ("Content", "SenderSignature"):
        a, b = spliced.find(q(name)), built.find(q(name))
        assert a is not None and b is not None
        assert c14n(a) == c14n(b), name
    assert [c.tag for c in spliced] == [c.tag for c in built]
    # Routing: the same names, attributes and values (prefixes may differ: each is signed as is)
    a, b = spliced.find(q("Routing")), built.find(q("Routing"))
    assert a is not None and b is not None
    assert [(e.tag, sorted(e.attrib.items()), e.text) for e in a.iter()] == [
        (e.tag, sorted(e.attrib.items()), e.text) for e in b.iter()
    ]


def test_spliced_countersignature_equals_the_tree_built_one(
    signer: Signer, hub_signer: Signer, trust: TrustStore, registry: SchemaRegistry
) -> None:
    body = sender_bytes(signer)
    spliced, built = both_ways(hub_signer, body)
    assert_same_document(spliced, built)
    registry.validate_envelope(spliced)
    verified = verify_hub(spliced, trust, HUB)
    assert verified.routing is not None and verified.routing.get("Id") == ROUTING_ID
    assert verify_sender(spliced, trust).signer_id == SENDER


def test_the_senders_bytes_pass_through_untouched(signer: Signer, hub_signer: Signer) -> None:
    body = (  # the sender's own layout, which a re-serialisation would not keep
        sender_bytes(signer)
        .replace(
            b"<?xml version='1.0' encoding='UTF-8'?>", b'<?xml version="1.0" encoding="utf-8"?>'
        )
        .replace(b"><hub:", b">\n  <hub:")
    )
    out = hub_signer.countersigned(body, parse_xml(body), **ROUTE)  # type: ignore[arg-type]
    end = body.rindex(b"</hub:Envelope>")
    assert out.startswith(body[:end]) and out.endswith(body[end:])


@pytest.mark.parametrize(
    "variant",
    ["attachments", "old countersignature", "latin-1", "trailing comment", "default namespace"],
)
def test_envelopes_the_splice_does_not_fit_are_countersigned_too(
    variant: str,
    signer: Signer,
    hub_signer: Signer,
    trust: TrustStore,
    registry: SchemaRegistry,
) -> None:
    if variant == "attachments":
        body = sender_bytes(signer, attachments=[sample_attachment()])
    else:
        body = sender_bytes(signer)
    if variant == "old countersignature":
        root = parse_xml(body)
        hub_signer.countersign(
            root, received=RECEIVED, adapter="internal", address="dept.old", rules_version="1"
        )
        body = to_bytes(root)
    elif variant == "latin-1":
        root = parse_xml(body)
        body = etree.tostring(root, xml_declaration=True, encoding="ISO-8859-1")
    elif variant == "trailing comment":
        body += b"<!-- </hub:Envelope> -->\n"
    elif variant == "default namespace":
        root = parse_xml(body)
        body = etree.tostring(_default_namespace(root), xml_declaration=True, encoding="UTF-8")
    spliced, built = both_ways(hub_signer, body)
    assert_same_document(spliced, built)
    registry.validate_envelope(spliced)
    verify_hub(spliced, trust, HUB)
    routing = spliced.findall(q("Routing"))
    assert len(routing) == 1
    assert routing[0].find(q("Route")).get("Address") == ROUTE["address"]  # type: ignore[union-attr]


def _default_namespace(root: etree._Element) -> etree._Element:
    """The same envelope with the envelope namespace as the default (no prefix)."""
    text = to_bytes(root).decode()
    text = text.replace("xmlns:hub=", "xmlns=").replace("<hub:", "<").replace("</hub:", "</")
    return etree.fromstring(text.split("?>", 1)[1].encode())


def test_fan_out_gives_each_destination_its_own_route(
    signer: Signer, hub_signer: Signer, trust: TrustStore
) -> None:
    body = sender_bytes(signer)
    root = parse_xml(body)
    outs = [
        hub_signer.countersigned(body, root, received=RECEIVED, adapter="internal", address=address)
        for address in ("dept.a", "dept.b")
    ]
    addresses = []
    for out in outs:
        verified = verify_hub(parse_xml(out), trust, HUB)
        assert verified.routing is not None
        addresses.append(verified.routing.find(q("Route")).get("Address"))  # type: ignore[union-attr]
    assert addresses == ["dept.a", "dept.b"]


def test_signxml_verifies_a_spliced_countersignature(
    signer: Signer, hub_signer: Signer, pki: Pki
) -> None:
    body = sender_bytes(signer)
    out = hub_signer.countersigned(body, parse_xml(body), **ROUTE)  # type: ignore[arg-type]
    pem = pki[HUB].cert.public_bytes(serialization.Encoding.PEM).decode()
    results = XMLVerifier().verify(
        etree.fromstring(out),
        x509_cert=pem,
        id_attribute="Id",
        expect_config=SignatureConfiguration(location=f"./{q('HubSignature')}/"),
        expect_references=2,
    )
    assert sorted(r.signed_xml.get("Id") for r in results) == ["content", ROUTING_ID]
