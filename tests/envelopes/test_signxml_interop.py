"""Our pinned XMLDSig profile and signxml agree, both ways (decision 0003)."""

from __future__ import annotations

import datetime as dt
import uuid

from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import SignatureConfiguration, XMLSigner, XMLVerifier  # type: ignore[attr-defined]
from signxml.algorithms import (  # type: ignore[import-untyped]
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureMethod,
)
from signxml.signer import SignatureConstructionMethod  # type: ignore[attr-defined]

from envelopes.codec import build_envelope, q, to_bytes
from envelopes.model import Header, Kind
from envelopes.pki import TrustStore
from envelopes.signatures import Signer, verify_sender

from ..conftest import SENDER, Pki

PAYLOAD = b'<m:Note xmlns:m="urn:example:note"><m:Text>interop</m:Text></m:Note>'


def _envelope() -> etree._Element:
    header = Header(
        message_id=uuid.uuid4(),
        sender=SENDER,
        recipient="agency.tax",
        message_type="{urn:example:note}Note",
        kind=Kind.REQUEST,
        created=dt.datetime.now(dt.UTC),
    )
    return build_envelope(header, etree.fromstring(PAYLOAD))


def test_signxml_verifies_what_we_sign(pki: Pki) -> None:
    identity = pki.identities[SENDER]
    root = _envelope()
    Signer(identity.key, identity.cert).sign(root)
    reparsed = etree.fromstring(to_bytes(root))
    pem = identity.cert.public_bytes(serialization.Encoding.PEM).decode()
    result = XMLVerifier().verify(
        reparsed,
        x509_cert=pem,
        id_attribute="Id",
        expect_config=SignatureConfiguration(location=f"./{q('SenderSignature')}/"),
    )
    assert result.signed_xml is not None
    assert result.signed_xml.get("Id") == "content"


def test_we_verify_what_signxml_signs(pki: Pki) -> None:
    identity = pki.identities[SENDER]
    root = _envelope()
    pem = identity.cert.public_bytes(serialization.Encoding.PEM).decode()
    signature = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    ).sign(root, key=identity.key, cert=[pem], reference_uri=["#content"], id_attribute="Id")
    holder = etree.Element(q("SenderSignature"))
    holder.append(signature)
    root.find(q("Content")).addnext(holder)  # type: ignore[union-attr]
    verified = verify_sender(
        etree.fromstring(to_bytes(root)), TrustStore.from_pem_files([pki.ca_path])
    )
    assert verified.envelope.header.sender == SENDER
    assert verified.envelope.payload.findtext("{urn:example:note}Text") == "interop"
