"""Building blocks for the envelope tests: headers, envelopes, payloads and tree surgery."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner
from signxml.signer import SignatureConstructionMethod

from envelopes.codec import build_envelope, q, to_bytes
from envelopes.model import Attachment, Header, Kind
from envelopes.parsing import parse_xml
from envelopes.pki import PrivateKey

REPO = Path(__file__).resolve().parents[2]
XSD_DIR = REPO / "xsd"
EXAMPLES = XSD_DIR / "examples"
MEMO_NS = "urn:interagency-hub:payload:memo:1.0"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS = "{" + DS_NS + "}"


def memo_payload() -> etree._Element:
    """The memo example (about 5 KB) as an element."""
    return parse_xml((EXAMPLES / "memo.xml").read_bytes())


def make_header(
    sender: str = "dept.finance",
    recipient: str = "agency.tax",
    payload: etree._Element | None = None,
    **overrides: object,
) -> Header:
    message_type = str((payload if payload is not None else memo_payload()).tag)
    values: dict[str, object] = {
        "message_id": uuid.uuid4(),
        "sender": sender,
        "recipient": recipient,
        "message_type": message_type,
        "kind": Kind.REQUEST,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0),
    }
    values.update(overrides)
    return Header.model_validate(values)


def make_envelope(
    sender: str = "dept.finance",
    payload: etree._Element | None = None,
    attachments: list[Attachment] | None = None,
    **overrides: object,
) -> etree._Element:
    """An unsigned envelope document."""
    payload = payload if payload is not None else memo_payload()
    header = make_header(sender=sender, payload=payload, **overrides)
    return build_envelope(header, payload, attachments)


def sample_attachment(size: int = 2048, attachment_id: str = "att1") -> Attachment:
    content = bytes((i * 7 + 3) % 256 for i in range(size))
    return Attachment.from_bytes(attachment_id, "table.xlsx", "application/octet-stream", content)


def reparse(root: etree._Element) -> etree._Element:
    """A fresh tree from the document's bytes: what a receiver would get."""
    return parse_xml(to_bytes(root))


def sender_signature(root: etree._Element) -> etree._Element:
    signature = root.find(f"{q('SenderSignature')}/{DS}Signature")
    assert signature is not None
    return signature


def c14n(element: etree._Element) -> bytes:
    return bytes(etree.tostring(element, method="c14n", exclusive=True, with_comments=False))


def clone(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


class _LegacySigner(XMLSigner):
    """signxml refuses SHA-1 unless told otherwise: this is how an attacker's tool would sign."""

    def check_deprecated_methods(self) -> None:
        pass


def sign_legacy(
    root: etree._Element,
    key: PrivateKey,
    cert: x509.Certificate,
    method: SignatureMethod,
    digest: DigestAlgorithm,
) -> etree._Element:
    """Sign like Signer.sign but with any algorithm signxml knows (SHA-1 included)."""
    signer = _LegacySigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    signature = signer.sign(
        root, key=key, cert=[pem], reference_uri=["#content"], id_attribute="Id"
    )
    holder = etree.Element(q("SenderSignature"))
    holder.append(signature)
    content = root.find(q("Content"))
    assert content is not None
    content.addnext(holder)
    return root
