"""Building what the simulator sends, signed the way SMEV signs it.

- ``SendRequestResponse`` / ``SendResponseResponse``: ``MessageMetadata Id="SIGNED_BY_SMEV"``
  plus an ``SMEVSignature`` over it.
- ``GetRequestResponse/RequestMessage``: ``Request Id="SIGNED_BY_SMEV"`` holding the sender's
  ``SenderProvidedRequestData`` (unchanged), ``MessageMetadata``, ``ReplyTo`` and the sender's
  signature moved to ``SenderInformationSystemSignature``; then the ``SMEVSignature``.
- ``GetResponseResponse/ResponseMessage``: the same around ``Response`` (with
  ``OriginalMessageId``); SMEV's own asynchronous statuses are responses whose
  ``SenderProvidedResponseData Id="SIGNED_ASYNC_BY_SMEV"`` carries an ``AsyncProcessingStatus``
  and is signed by SMEV's key.
- ``GetStatusResponse/SmevAsyncProcessingMessage``: ``AsyncProcessingStatusData`` + SMEVSignature.

Builders return the serialized element (no XML declaration); ``soap.envelope`` wraps it byte for
byte so the signatures inside stay valid.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from adapters.smev.crypto.xmldsig import XmlSigner, sign
from adapters.smev.simulator.ns import NSMAP, XSI_NS, basic, ds, types

SMEV_ID = "SIGNED_BY_SMEV"
CALLER_ID = "SIGNED_BY_CALLER"
ASYNC_ID = "SIGNED_ASYNC_BY_SMEV"
# What SenderProvidedResponseData may hold instead of MessagePrimaryContent.
ALTERNATIVES = frozenset(
    {types("RequestRejected"), types("RequestStatus"), types("AsyncProcessingStatus")}
)


@dataclass(frozen=True)
class Party:
    """A MessageMetadata Sender/Recipient; ``name`` None omits HumanReadableName (real SMEV)."""

    mnemonic: str
    name: str | None = None


@dataclass(frozen=True)
class Attachment:
    """An inline attachment: ``content_id`` must be an XML NCName (it becomes an xs:ID)."""

    content_id: str
    data: bytes
    mime_type: str = "application/octet-stream"


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _ids(element: etree._Element) -> set[str]:
    found = element.xpath(".//@Id | ./@Id")
    assert isinstance(found, list)
    return {str(value) for value in found}


def free_id(base: str, *scopes: etree._Element) -> str:
    """``base``, or ``base_2``, ... if an element in the scopes already uses that Id."""
    taken: set[str] = set()
    for scope in scopes:
        taken |= _ids(scope)
    candidate, counter = base, 1
    while candidate in taken:
        counter += 1
        candidate = f"{base}_{counter}"
    return candidate


def metadata(
    *,
    message_id: str,
    message_type: str,
    sender: Party | None,
    recipient: Party | None,
    sending: datetime,
    delivery: datetime | None = None,
    status: str | None = None,
    element_id: str | None = None,
) -> etree._Element:
    """MessageMetadata in schema order."""
    element = etree.Element(types("MessageMetadata"), nsmap=NSMAP)
    if element_id:
        element.set("Id", element_id)
    _sub(element, types("MessageId"), message_id)
    _sub(element, types("MessageType"), message_type)
    if sender is not None:
        _party(element, types("Sender"), sender)
    _sub(element, types("SendingTimestamp"), timestamp(sending))
    if recipient is not None:
        _party(element, types("Recipient"), recipient)
    if delivery is not None:
        _sub(element, types("DeliveryTimestamp"), timestamp(delivery))
    if status:
        _sub(element, types("Status"), status)
    return element


def _party(parent: etree._Element, tag: str, party: Party) -> None:
    element = _sub(parent, tag)
    _sub(element, types("Mnemonic"), party.mnemonic)
    if party.name is not None:
        _sub(element, types("HumanReadableName"), party.name)


def _serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=False))


def send_reply(tag: str, meta: etree._Element, smev: XmlSigner | None) -> bytes:
    """SendRequestResponse / SendResponseResponse: metadata signed by SMEV."""
    root = etree.Element(types(tag), nsmap=NSMAP)
    root.append(meta)
    if smev is not None:
        if not meta.get("Id"):
            meta.set("Id", SMEV_ID)
        sign(root, str(meta.get("Id")), smev, _sub(root, types("SMEVSignature")))
    return _serialize(root)


def _sender_signature(
    root: etree._Element,
    wrapper: etree._Element,
    provided: etree._Element,
    signature: etree._Element | None,
    signer: XmlSigner | None,
) -> None:
    """SenderInformationSystemSignature: the sender's own signature, or a fresh one."""
    if signature is not None:
        _sub(wrapper, types("SenderInformationSystemSignature")).append(copy.deepcopy(signature))
    elif signer is not None:
        element_id = provided.get("Id")
        if not element_id:
            element_id = free_id(CALLER_ID, root)
            provided.set("Id", element_id)
        container = _sub(wrapper, types("SenderInformationSystemSignature"))
        sign(root, str(element_id), signer, container)


def provided_request(
    *,
    message_id: str,
    content: etree._Element,
    test_message: bool = False,
    attachments: Sequence[Attachment] = (),
    reference_message_id: str | None = None,
    element_id: str = CALLER_ID,
) -> etree._Element:
    """SenderProvidedRequestData as a simulated agency would write it."""
    element = etree.Element(types("SenderProvidedRequestData"), nsmap=NSMAP)
    element.set("Id", element_id)
    _sub(element, types("MessageID"), message_id)
    if reference_message_id:
        _sub(element, types("ReferenceMessageID"), reference_message_id)
    _sub(element, basic("MessagePrimaryContent")).append(copy.deepcopy(content))
    if attachments:
        headers = _sub(element, basic("AttachmentHeaderList"))
        for attachment in attachments:
            header = _sub(headers, basic("AttachmentHeader"))
            _sub(header, basic("contentId"), attachment.content_id)
            _sub(header, basic("MimeType"), attachment.mime_type)
    if test_message:
        _sub(element, types("TestMessage"))
    return element


def attachment_content_list(attachments: Sequence[Attachment]) -> etree._Element | None:
    if not attachments:
        return None
    element = etree.Element(basic("AttachmentContentList"), nsmap=NSMAP)
    for attachment in attachments:
        content = _sub(element, basic("AttachmentContent"))
        _sub(content, basic("Id"), attachment.content_id)
        _sub(content, basic("Content"), base64.b64encode(attachment.data).decode("ascii"))
    return element


def provided_response(
    *,
    message_id: str,
    to: str,
    body: etree._Element,
    element_id: str = CALLER_ID,
) -> etree._Element:
    """SenderProvidedResponseData around ``body``.

    ``body`` is a business payload (wrapped in MessagePrimaryContent) or one of the
    alternatives the schema allows in its place: RequestRejected, RequestStatus,
    AsyncProcessingStatus (types namespace), used as they are.
    """
    element = etree.Element(types("SenderProvidedResponseData"), nsmap=NSMAP)
    element.set("Id", element_id)
    _sub(element, types("MessageID"), message_id)
    _sub(element, types("To"), to)
    if body.tag in ALTERNATIVES:
        element.append(copy.deepcopy(body))
    else:
        _sub(element, basic("MessagePrimaryContent")).append(copy.deepcopy(body))
    return element


def request_rejected(code: str, description: str) -> etree._Element:
    element = etree.Element(types("RequestRejected"), nsmap=NSMAP)
    _sub(element, types("RejectionReasonCode"), code)
    _sub(element, types("RejectionReasonDescription"), description)
    return element


def async_status(
    original_message_id: str,
    category: str,
    details: str | None = None,
    fault: tuple[str, str] | None = None,
    fault_type: str | None = None,
) -> etree._Element:
    """AsyncProcessingStatus; ``fault`` = (Code, Description) of an SmevFault."""
    element = etree.Element(types("AsyncProcessingStatus"), nsmap=NSMAP)
    _sub(element, types("OriginalMessageId"), original_message_id)
    _sub(element, types("StatusCategory"), category)
    if details:
        _sub(element, types("StatusDetails"), details[:500])
    if fault is not None:
        smev_fault = _sub(element, types("SmevFault"))
        if fault_type:
            smev_fault.set(f"{{{XSI_NS}}}type", fault_type)
        _sub(smev_fault, basic("Code"), fault[0])
        _sub(smev_fault, basic("Description"), fault[1])
    return element


def request_message(
    *,
    provided: etree._Element,
    meta: etree._Element,
    reply_to: str,
    sender_signature: etree._Element | None,
    sender_signer: XmlSigner | None,
    attachments: etree._Element | None,
    smev: XmlSigner | None,
    fs_list: etree._Element | None = None,
) -> bytes:
    """GetRequestResponse/RequestMessage (serialized); ``fs_list``: FSAttachmentsList."""
    root = etree.Element(types("RequestMessage"), nsmap=NSMAP)
    request = _sub(root, types("Request"))
    request.append(copy.deepcopy(provided))
    provided_copy = request[0]
    request.append(copy.deepcopy(meta))
    if fs_list is not None:
        request.append(copy.deepcopy(fs_list))
    _sub(request, types("ReplyTo"), reply_to)
    _sender_signature(root, request, provided_copy, sender_signature, sender_signer)
    if attachments is not None:
        root.append(copy.deepcopy(attachments))
    _smev_sign(root, request, smev)
    return _serialize(root)


def response_message(
    *,
    original_message_id: str | None,
    reference_message_id: str | None,
    provided: etree._Element,
    meta: etree._Element,
    sender_signature: etree._Element | None,
    sender_signer: XmlSigner | None,
    attachments: etree._Element | None,
    smev: XmlSigner | None,
    fs_list: etree._Element | None = None,
) -> bytes:
    """GetResponseResponse/ResponseMessage (serialized); ``fs_list``: FSAttachmentsList."""
    root = etree.Element(types("ResponseMessage"), nsmap=NSMAP)
    response = _sub(root, types("Response"))
    if original_message_id:
        _sub(response, types("OriginalMessageId"), original_message_id)
    if reference_message_id:
        _sub(response, types("ReferenceMessageID"), reference_message_id)
    response.append(copy.deepcopy(provided))
    provided_copy = response[len(response) - 1]
    response.append(copy.deepcopy(meta))
    if fs_list is not None:
        response.append(copy.deepcopy(fs_list))
    _sender_signature(root, response, provided_copy, sender_signature, sender_signer)
    if attachments is not None:
        root.append(copy.deepcopy(attachments))
    _smev_sign(root, response, smev)
    return _serialize(root)


def status_message(status: etree._Element, smev: XmlSigner | None) -> bytes:
    """GetStatusResponse/SmevAsyncProcessingMessage (serialized)."""
    root = etree.Element(types("SmevAsyncProcessingMessage"), nsmap=NSMAP)
    data = _sub(root, types("AsyncProcessingStatusData"))
    data.append(copy.deepcopy(status))
    _smev_sign(root, data, smev)
    return _serialize(root)


def _smev_sign(root: etree._Element, target: etree._Element, smev: XmlSigner | None) -> None:
    if smev is None:
        return
    element_id = free_id(SMEV_ID, root)
    target.set("Id", element_id)
    sign(root, element_id, smev, _sub(root, types("SMEVSignature")))


def wrap(tag: str, inner: bytes | None) -> bytes:
    """``<ns2:{tag}>inner</ns2:{tag}>`` (an empty element when ``inner`` is None)."""
    empty = etree.Element(types(tag), nsmap=NSMAP)
    text = _serialize(empty)
    if inner is None:
        return text
    opening = text[: -len(b"/>")] + b">"
    return opening + inner + f"</ns2:{tag}>".encode()


def signature_of(container: etree._Element | None) -> etree._Element | None:
    """The ds:Signature inside a signature container, if any."""
    return None if container is None else container.find(ds("Signature"))
