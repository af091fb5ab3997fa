"""The envelope's XML form, both ways (layout in xsd/hub/envelope-1.1.xsd, docs/envelope.md)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from lxml import etree
from pydantic import ValidationError

from envelopes.errors import AttachmentDigestMismatchError, AttachmentError, SchemaValidationError
from envelopes.model import (
    BLOB_URI_PREFIX,
    Attachment,
    AttachmentRef,
    ContentReference,
    DocumentCard,
    Envelope,
    Header,
    Kind,
)
from envelopes.parsing import DEFAULT_LIMITS, ParseLimits, parse_xml

ENVELOPE_NS = "urn:interagency-hub:envelope:1.0"
ENVELOPE_VERSION = "1.0"  # what an envelope without a document card is, unchanged
ENVELOPE_VERSION_CARD = "1.1"  # 1.1 adds the optional DocumentCard
ENVELOPE_VERSIONS = (ENVELOPE_VERSION, ENVELOPE_VERSION_CARD)
CONTENT_ID = "content"
ROUTING_ID = "routing"

_N = "{" + ENVELOPE_NS + "}"
NSMAP = {"hub": ENVELOPE_NS}

# (element name, model field) in the order the schema wants them.
_HEADER_FIELDS: tuple[tuple[str, str], ...] = (
    ("MessageId", "message_id"),
    ("Sender", "sender"),
    ("Recipient", "recipient"),
    ("MessageType", "message_type"),
    ("Kind", "kind"),
    ("Created", "created"),
    ("CorrelationId", "correlation_id"),
    ("ConversationId", "conversation_id"),
    ("ExpiresAt", "expires_at"),
    ("Priority", "priority"),
    ("Test", "test"),
)
_FIELD_TO_ELEMENT = {f: e for e, f in _HEADER_FIELDS}
_ELEMENT_TO_FIELD = {_N + e: f for e, f in _HEADER_FIELDS}


def q(name: str) -> str:
    """Clark name of an envelope element."""
    return _N + name


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def clark_name(element: etree._Element) -> str:
    """The element's name as {namespace}local (what MessageType holds)."""
    return str(element.tag)


def build_envelope(
    header: Header,
    payload: etree._Element,
    attachments: list[Attachment] | None = None,
    card: DocumentCard | None = None,
    references: list[ContentReference] | None = None,
) -> etree._Element:
    """An unsigned envelope document for the header, payload, attachments and (1.1) card;
    ``references``: attachments whose content is in a blob store (a manifest entry each, and a
    ``Reference`` in place of the ``Data``), after the inline ones."""
    root = etree.Element(q("Envelope"), nsmap=NSMAP)
    root.set("Version", ENVELOPE_VERSION_CARD if card is not None else ENVELOPE_VERSION)
    content = etree.SubElement(root, q("Content"))
    content.set("Id", CONTENT_ID)
    head = etree.SubElement(content, q("Header"))
    values = header.model_dump()
    for element_name, field_name in _HEADER_FIELDS:
        value = values[field_name]
        if value is None or (field_name == "test" and value is False):
            continue
        etree.SubElement(head, q(element_name)).text = _text(value)
    if card is not None:
        content.append(card_element(card))
    holder = etree.SubElement(content, q("Payload"))
    holder.append(_detached_copy(payload))
    if attachments or references:
        manifest = etree.SubElement(content, q("Attachments"))
        data = etree.Element(q("AttachmentData"))
        parts: list[Attachment | ContentReference] = [*(attachments or []), *(references or [])]
        for part in parts:
            ref = part.ref
            etree.SubElement(
                manifest,
                q("Attachment"),
                Id=ref.id,
                FileName=ref.file_name,
                MediaType=ref.media_type,
                Size=str(ref.size),
                Sha256=ref.sha256_b64,
            )
            if isinstance(part, Attachment):
                item = etree.SubElement(data, q("Data"), Ref=ref.id)
                item.text = base64.b64encode(part.content).decode("ascii")
            else:
                etree.SubElement(data, q("Reference"), Ref=ref.id, Uri=part.uri)
        root.append(data)
    return root


def new_envelope(
    sender: str,
    recipient: str,
    payload: etree._Element,
    *,
    kind: Kind = Kind.REQUEST,
    attachments: list[Attachment] | None = None,
    message_id: UUID | None = None,
    created: datetime | None = None,
    card: DocumentCard | None = None,
    references: list[ContentReference] | None = None,
    **fields: Any,
) -> tuple[Header, etree._Element]:
    """A fresh unsigned envelope around ``payload``: a new MessageId (unless given), Created now
    (unless given), MessageType the payload's root; ``fields`` are the optional header fields
    (correlation_id, expires_at, priority...)."""
    header = Header(
        message_id=message_id or uuid4(),
        sender=sender,
        recipient=recipient,
        message_type=clark_name(payload),
        kind=kind,
        created=created or datetime.now(UTC),
        **fields,
    )
    return header, build_envelope(header, payload, attachments, card, references)


def _detached_copy(element: etree._Element) -> etree._Element:
    """A copy of the element with its own namespace declarations (safe to move between trees)."""
    return etree.fromstring(etree.tostring(element))


def to_bytes(root: etree._Element) -> bytes:
    """Serialized envelope, UTF-8 with an XML declaration."""
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def header_from_content(content: etree._Element) -> Header:
    """Read the header of a Content element, naming the element of every bad value."""
    head = content.find(q("Header"))
    if head is None:
        raise SchemaValidationError("Envelope/Content/Header: element is missing")
    values: dict[str, Any] = {}
    for child in head:
        if not isinstance(child.tag, str):  # comments and processing instructions
            continue
        field_name = _ELEMENT_TO_FIELD.get(str(child.tag))
        if field_name is None:
            raise SchemaValidationError(
                f"Envelope/Content/Header/{etree.QName(child).localname}: unexpected element"
            )
        values[field_name] = (child.text or "").strip()
    try:
        return Header.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field_name = str(error["loc"][0]) if error["loc"] else "?"
            element = _FIELD_TO_ELEMENT.get(field_name, field_name)
            problems.append(f"Envelope/Content/Header/{element}: {error['msg']}")
        raise SchemaValidationError(problems[0], problems) from None


def card_element(card: DocumentCard) -> etree._Element:
    """The DocumentCard element (envelope 1.1) for a card, in the schema's order."""
    element = etree.Element(q("DocumentCard"), nsmap=NSMAP)

    def add(parent: etree._Element, name: str, text: object) -> etree._Element:
        child = etree.SubElement(parent, q(name))
        child.text = _text(text)
        return child

    add(element, "Kind", card.kind.value)
    add(element, "Title", card.title)
    add(element, "Number", card.number)
    add(element, "Date", card.date.isoformat())
    if card.answers_number is not None and card.answers_date is not None:
        etree.SubElement(
            element, q("Answers"), Number=card.answers_number, Date=card.answers_date.isoformat()
        )
    if card.signatory is not None:
        person = etree.SubElement(element, q("Signatory"))
        add(person, "Name", card.signatory.name)
        if card.signatory.post:
            add(person, "Post", card.signatory.post)
    for addressee in card.addressees:
        add(element, "Addressee", addressee)
    add(element, "Urgency", card.urgency.value)
    if card.restriction:
        add(element, "Restriction", card.restriction)
    if card.pages is not None:
        add(element, "Pages", card.pages)
    if card.control_term is not None:
        add(element, "ControlTerm", card.control_term.isoformat())
    if card.contact is not None:
        contact = etree.SubElement(element, q("Contact"))
        add(contact, "Name", card.contact.name)
        if card.contact.phone:
            add(contact, "Phone", card.contact.phone)
    return element


_CARD_FIELDS = {
    "Kind": "kind",
    "Title": "title",
    "Number": "number",
    "Date": "date",
    "Urgency": "urgency",
    "Restriction": "restriction",
    "Pages": "pages",
    "ControlTerm": "control_term",
}


def card_from_content(content: etree._Element) -> DocumentCard | None:
    """The Content's DocumentCard, if it has one; bad values are named by element."""
    element = content.find(q("DocumentCard"))
    if element is None:
        return None
    values: dict[str, Any] = {"addressees": []}
    for child in element:
        if not isinstance(child.tag, str) or not child.tag.startswith(_N):
            continue
        name = child.tag[len(_N) :]
        if name in _CARD_FIELDS:
            values[_CARD_FIELDS[name]] = child.text or ""
        elif name == "Answers":
            values["answers_number"] = child.get("Number")
            values["answers_date"] = child.get("Date")
        elif name in ("Signatory", "Contact"):
            part = {
                etree.QName(c).localname.lower(): c.text or ""
                for c in child
                if isinstance(c.tag, str)
            }
            values[name.lower()] = part
        elif name == "Addressee":
            values["addressees"].append(child.text or "")
        else:
            raise SchemaValidationError(f"Envelope/Content/DocumentCard/{name}: unexpected element")
    try:
        return DocumentCard.model_validate(values)
    except ValidationError as exc:
        names = {v: k for k, v in _CARD_FIELDS.items()} | {
            "answers_number": "Answers/@Number",
            "answers_date": "Answers/@Date",
            "signatory": "Signatory",
            "contact": "Contact",
            "addressees": "Addressee",
        }
        problems = []
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else ""
            element_name = names.get(where, where) if where else ""
            suffix = f"/{element_name}" if element_name else ""
            problems.append(f"Envelope/Content/DocumentCard{suffix}: {error['msg']}")
        raise SchemaValidationError(problems[0], problems) from None


def claimed_header(root: etree._Element) -> dict[str, str]:
    """The header fields an envelope claims, read leniently (not validated, not verified): for
    naming an envelope that is refused. Element name → stripped text; empty ones left out."""
    head = root.find(f"{q('Content')}/{q('Header')}")
    if head is None:
        return {}
    claimed: dict[str, str] = {}
    for child in head:
        if isinstance(child.tag, str) and child.tag.startswith(_N):
            text = (child.text or "").strip()
            if text:
                claimed.setdefault(child.tag[len(_N) :], text)
    return claimed


_SNIFF_CHUNK = 512


def sniff_header(body: bytes) -> dict[str, str] | None:
    """The header fields an envelope claims, like ``claimed_header``, read from the start of
    the bytes only — up to the end of Content/Header — so that naming a 32 MB envelope costs
    what naming a 5 KB one does. None if the bytes are not XML up to there or hold no header.
    Nothing is resolved or fetched (no entities, no DTD, no network); what is after the header
    is not looked at, so a well-formed header says nothing of the rest."""
    header, content = q("Header"), q("Content")
    parser = etree.XMLPullParser(
        events=("end",), tag=header, resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        offset, chunk = 0, _SNIFF_CHUNK
        while offset < len(body):  # 512 bytes hold a usual header; then more and more
            parser.feed(body[offset : offset + chunk])
            offset, chunk = offset + chunk, chunk * 2
            for _, element in parser.read_events():
                if not isinstance(element, etree._Element):
                    continue
                parent = element.getparent()
                if parent is not None and parent.tag == content:
                    envelope = parent.getparent()
                    if envelope is None or envelope.getparent() is not None:
                        return None  # not the envelope's own header
                    return claimed_header(envelope)
        parser.close()
    except etree.XMLSyntaxError:
        return None
    return None


def payload_of(content: etree._Element) -> etree._Element:
    """The single business element inside Content/Payload."""
    holder = content.find(q("Payload"))
    children = [c for c in holder if isinstance(c.tag, str)] if holder is not None else []
    if len(children) != 1:
        raise SchemaValidationError(
            f"Envelope/Content/Payload: must hold exactly one element, found {len(children)}"
        )
    return children[0]


def attachment_refs(content: etree._Element) -> list[AttachmentRef]:
    """The signed manifest entries of a Content element."""
    refs = []
    for item in content.iterfind(f"{q('Attachments')}/{q('Attachment')}"):
        try:
            refs.append(
                AttachmentRef(
                    id=item.get("Id", ""),
                    file_name=item.get("FileName", ""),
                    media_type=item.get("MediaType", ""),
                    size=int(item.get("Size", "-1")),
                    sha256=base64.b64decode(item.get("Sha256", ""), validate=True),
                )
            )
        except (ValueError, ValidationError, binascii.Error) as exc:
            raise AttachmentError(
                f"Envelope/Content/Attachments/Attachment[@Id='{item.get('Id')}']: {exc}"
            ) from None
    return refs


def read_attachments(root: etree._Element, refs: list[AttachmentRef]) -> list[Attachment]:
    """Attachment contents from AttachmentData, each checked against its signed manifest entry.
    Content carried by reference is not here: an ``AttachmentError`` says so (callers that
    take references use ``read_content``)."""
    attachments, references = read_content(root, refs)
    if references:
        first = references[0]
        raise AttachmentError(
            f"Envelope/AttachmentData/Reference[@Ref='{first.ref.id}']: the content of "
            f"{first.ref.file_name!r} is carried by reference ({first.uri}), not in the envelope"
        )
    return attachments


def read_content(
    root: etree._Element, refs: list[AttachmentRef]
) -> tuple[list[Attachment], list[ContentReference]]:
    """Inline contents (``Data``, decoded and checked) and content references (``Reference``,
    whose digest must be the signed one: else ``attachment_digest_mismatch``), one of either
    for every signed manifest entry, in manifest order."""
    data: dict[str, str] = {}
    uris: dict[str, str] = {}
    for item in root.iterfind(f"{q('AttachmentData')}/*"):
        if item.tag == q("Data"):
            data[item.get("Ref", "")] = item.text or ""
        elif item.tag == q("Reference"):
            uris[item.get("Ref", "")] = item.get("Uri", "")
    unknown = (set(data) | set(uris)) - {ref.id for ref in refs}
    if unknown:
        raise AttachmentError(
            f"Envelope/AttachmentData/Data[@Ref='{sorted(unknown)[0]}']: no such attachment "
            "in the signed manifest"
        )
    attachments: list[Attachment] = []
    references: list[ContentReference] = []
    for ref in refs:
        if ref.id in uris:
            references.append(_reference(ref, uris[ref.id], both=ref.id in data))
        else:
            attachments.append(_inline(ref, data))
    return attachments, references


def _reference(ref: AttachmentRef, uri: str, *, both: bool) -> ContentReference:
    where = f"Envelope/AttachmentData/Reference[@Ref='{ref.id}']"
    if both:
        raise AttachmentError(f"{where}: the attachment has both Data and a Reference")
    if not uri.startswith(BLOB_URI_PREFIX):
        raise AttachmentError(f"{where}: {uri!r} is not a blob:sha256: reference")
    reference = ContentReference(ref=ref, uri=uri)
    if reference.digest_hex != ref.sha256.hex():
        raise AttachmentDigestMismatchError(
            f"{where}: {uri} is not the content the manifest signed (SHA-256 {ref.sha256.hex()})"
        )
    return reference


def _inline(ref: AttachmentRef, data: dict[str, str]) -> Attachment:
    where = f"Envelope/AttachmentData/Data[@Ref='{ref.id}']"
    if ref.id not in data:
        raise AttachmentError(f"{where}: content of attachment {ref.file_name!r} is missing")
    try:
        content = base64.b64decode(data[ref.id], validate=False)
    except ValueError:  # binascii.Error, or a character outside ASCII (found by fuzzing)
        raise AttachmentError(f"{where}: content is not base64") from None
    if len(content) != ref.size:
        raise AttachmentError(
            f"{where}: size {len(content)} differs from the signed size {ref.size}"
        )
    if hashlib.sha256(content).digest() != ref.sha256:
        raise AttachmentError(
            f"{where}: SHA-256 digest differs from the signed manifest (content altered)"
        )
    return Attachment(ref=ref, content=content)


def content_of(root: etree._Element) -> etree._Element:
    """The Content element of an envelope document."""
    if root.tag != q("Envelope"):
        raise SchemaValidationError(
            f"root element is {etree.QName(root).localname!r}, expected Envelope "
            f"in namespace {ENVELOPE_NS}"
        )
    content = root.find(q("Content"))
    if content is None:
        raise SchemaValidationError("Envelope/Content: element is missing")
    return content


def envelope_from_tree(root: etree._Element, content: etree._Element | None = None) -> Envelope:
    """The envelope model of a document; ``content`` overrides (the verified signed content)."""
    content = content if content is not None else content_of(root)
    header = header_from_content(content)
    payload = payload_of(content)
    if clark_name(payload) != header.message_type:
        raise SchemaValidationError(
            f"Envelope/Content/Header/MessageType: {header.message_type!r} does not match the "
            f"payload's root element {clark_name(payload)!r}"
        )
    card = card_from_content(content)
    version = root.get("Version")
    if card is not None and version == ENVELOPE_VERSION:
        raise SchemaValidationError(
            f"Envelope/@Version: an envelope with a DocumentCard is version "
            f"{ENVELOPE_VERSION_CARD}, not {version}"
        )
    attachments, references = read_content(root, attachment_refs(content))
    return Envelope(
        header=header,
        payload=payload,
        attachments=attachments,
        root=root,
        card=card,
        references=references,
    )


def parse_envelope(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> Envelope:
    """Parse bytes into an envelope (structure checks only; no schema, no signature)."""
    return envelope_from_tree(parse_xml(data, limits))
