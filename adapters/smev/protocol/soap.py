"""SOAP 1.1 for SMEV 3: envelopes, MTOM/XOP replies, faults and their meaning.

SMEV answers either plain ``text/xml`` or, from Apache CXF based nodes, ``multipart/related``
MTOM with the SOAP envelope in the root part and attachment contents in further parts
(``xop:Include href="cid:..."``). Both are read here; requests are sent as plain SOAP with
attachments inline (base64), which every SMEV node accepts.

Faults carry the SMEV fault element in ``detail`` (``InvalidContent``,
``DestinationOverflow``...). :func:`classify` says what a fault means for a delivery: sent
already, retry later, never retry, or retry with a fresh MessageID.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import enum
import re
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote

from lxml import etree

from adapters.smev.errors import ProtocolError, SmevFault, XmlInputError
from adapters.smev.parsing import parse_xml

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XOP_NS = "http://www.w3.org/2004/08/xop/include"
_S = "{" + SOAP_NS + "}"


def localname(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def children(element: etree._Element, name: str | None = None) -> list[etree._Element]:
    """Element children, by local name if given (SMEV namespaces differ by version)."""
    return [
        child
        for child in element
        if isinstance(child.tag, str) and (name is None or localname(child) == name)
    ]


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    found = children(element, name)
    return found[0] if found else None


def text_of(element: etree._Element | None, name: str, default: str = "") -> str:
    node = child(element, name)
    if node is None or node.text is None:
        return default
    return node.text.strip()


def envelope(body_child: etree._Element) -> etree._Element:
    """A SOAP 1.1 envelope (with the empty Header SMEV insists on) around one body element."""
    root = etree.Element(_S + "Envelope", nsmap={"soap": SOAP_NS})
    etree.SubElement(root, _S + "Header")
    body = etree.SubElement(root, _S + "Body")
    body.append(body_child)
    return root


def body_element(root: etree._Element) -> etree._Element:
    """The single element of soap:Body; ProtocolError if the document is not a SOAP reply."""
    if localname(root) != "Envelope":
        raise ProtocolError(f"reply is not a SOAP envelope (root element {localname(root)!r})")
    body = child(root, "Body")
    items = children(body) if body is not None else []
    if not items:
        raise ProtocolError("reply has an empty or missing soap:Body")
    return items[0]


# ------------------------------------------------------------------------------------ faults
def parse_fault(fault: etree._Element) -> SmevFault:
    detail = child(fault, "detail")
    items = children(detail) if detail is not None else []
    name, code, description, details = "", "", "", []
    if items:
        element = items[0]
        name = localname(element)
        code = text_of(element, "Code")
        description = text_of(element, "Description")
        for item in children(element):
            if localname(item) in ("Code", "Description"):
                continue
            text = (item.text or "").strip()
            if text:
                details.append(text)
    return SmevFault(
        name=name,
        faultcode=text_of(fault, "faultcode"),
        faultstring=text_of(fault, "faultstring"),
        code=code,
        description=description,
        details=details,
    )


class FaultMeaning(enum.StrEnum):
    SENT = "sent"  # the message is in SMEV already (MessageIsAlreadySent)
    STALE = "stale"  # send again with a new MessageID (StaleMessageId)
    TRANSIENT = "transient"
    PERMANENT = "permanent"


# SMEV fault → (meaning, retry-after seconds); the WSDL/XSD comments say what clients must do.
FAULTS: dict[str, tuple[FaultMeaning, float | None]] = {
    "MessageIsAlreadySent": (FaultMeaning.SENT, None),
    "StaleMessageId": (FaultMeaning.STALE, None),
    # "keep trying, without a limit on attempts"
    "SMEVFailure": (FaultMeaning.TRANSIENT, None),
    "DestinationOverflow": (FaultMeaning.TRANSIENT, 30.0),
    "EndOfLifeReached": (FaultMeaning.TRANSIENT, None),
    # the quota frees up, registration gets fixed: an operator's matter, retry slowly
    "QuoteLimitExceeded": (FaultMeaning.TRANSIENT, 300.0),
    "SenderIsNotRegistered": (FaultMeaning.TRANSIENT, 300.0),
    # the message itself is wrong, or not allowed: sending it again cannot help
    "InvalidContent": (FaultMeaning.PERMANENT, None),
    "SignatureVerificationFault": (FaultMeaning.PERMANENT, None),
    "AccessDenied": (FaultMeaning.PERMANENT, None),
    "PersonalAccessDenied": (FaultMeaning.PERMANENT, None),
    "UnknownMessageType": (FaultMeaning.PERMANENT, None),
    "InvalidMessageIdFormat": (FaultMeaning.PERMANENT, None),
    "BusinessDataTypeIsNotSupported": (FaultMeaning.PERMANENT, None),
    "TransactionCodeInvalid": (FaultMeaning.PERMANENT, None),
    "AttachmentContentMiscoordination": (FaultMeaning.PERMANENT, None),
    "AttachmentSizeLimitExceeded": (FaultMeaning.PERMANENT, None),
    "IncorrectResponseContentType": (FaultMeaning.PERMANENT, None),
    "RecipientIsNotFound": (FaultMeaning.PERMANENT, None),
    "RequestIsNotFound": (FaultMeaning.PERMANENT, None),
    "TargetMessageIsNotFound": (FaultMeaning.PERMANENT, None),
}


def classify(fault: SmevFault) -> tuple[FaultMeaning, float | None]:
    """What a fault means for the message: known SMEV faults by name, others by faultcode."""
    if fault.name in FAULTS:
        return FAULTS[fault.name]
    code = fault.faultcode.rsplit(":", 1)[-1].lower()
    if code == "client":  # the request was wrong: it will be wrong again
        return FaultMeaning.PERMANENT, None
    return FaultMeaning.TRANSIENT, None  # Server, or nothing said: SMEV's trouble


def transient_status(status: int) -> bool:
    """HTTP statuses (without a SOAP fault) worth retrying."""
    return status >= 500 or status in (408, 425, 429)


# ----------------------------------------------------------------------------- MTOM / XOP
@dataclass
class Reply:
    """A parsed SMEV reply: the SOAP document and MTOM parts by Content-ID."""

    document: etree._Element
    parts: dict[str, bytes] = field(default_factory=dict)

    @property
    def body(self) -> etree._Element:
        return body_element(self.document)


# RFC 2046 section 5.1.1: bchars, at most 70, not ending in a space.
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def _content_id(part: Message) -> str:
    return str(part.get("Content-ID", "")).strip().strip("<>")


def parse_reply(content_type: str, data: bytes) -> Reply:
    """Plain SOAP or MTOM multipart/related; ``xop:Include`` elements are resolved."""
    if content_type.lower().startswith("multipart/") or data.lstrip()[:2] == b"--":
        return _parse_multipart(content_type, data)
    return Reply(_parse(data))


def _parse(data: bytes) -> etree._Element:
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return parse_xml(data).getroot()
    except XmlInputError as exc:
        raise ProtocolError(f"reply is not well-formed XML: {exc}") from exc


def _parse_multipart(content_type: str, data: bytes) -> Reply:
    if "boundary" not in content_type.lower():
        first = data.lstrip().split(b"\n", 1)[0].strip()
        if not first.startswith(b"--"):
            raise ProtocolError("multipart reply without a boundary")
        if not _BOUNDARY.fullmatch(first[2:]):
            raise ProtocolError(
                "multipart reply without a boundary: its first line "
                f"{first[:80].decode('latin-1')!r} is no MIME boundary (RFC 2046: 1 to 70 "
                "of the characters A-Z a-z 0-9 '()+_,-./:=? and space)"
            )
        content_type = f'multipart/related; boundary="{first[2:].decode("ascii")}"'
    try:
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    except UnicodeEncodeError:
        raise ProtocolError(
            f"multipart reply: its Content-Type {content_type[:200]!r} is not ISO-8859-1 text"
        ) from None
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + data)
    if not message.is_multipart():
        raise ProtocolError("multipart reply has no parts")
    parts = [p for p in message.get_payload() if isinstance(p, Message)]
    if not parts:
        raise ProtocolError("multipart reply has no parts")
    start = message.get_param("start")
    start_id = str(start).strip("<>") if isinstance(start, str) else ""
    root_part = next((p for p in parts if start_id and _content_id(p) == start_id), parts[0])
    contents: dict[str, bytes] = {}
    for part in parts:
        if part is root_part:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            contents[_content_id(part)] = payload
    root_payload = root_part.get_payload(decode=True)
    if not isinstance(root_payload, bytes):
        raise ProtocolError("multipart reply: the root part is empty")
    document = _parse(root_payload)
    _resolve_xop(document, contents)
    return Reply(document, contents)


def _resolve_xop(document: etree._Element, parts: dict[str, bytes]) -> None:
    """Replace each xop:Include by the base64 text of the part it points to."""
    for include in list(document.iter("{" + XOP_NS + "}Include")):
        href = str(include.get("href", ""))
        cid = href.removeprefix("cid:")
        data = parts.get(cid, parts.get(unquote(cid)))
        if data is None:
            raise ProtocolError(f"MTOM reply: no part for {href!r}")
        parent = include.getparent()
        if parent is None:
            continue
        parent.remove(include)
        parent.text = base64.b64encode(data).decode("ascii")
