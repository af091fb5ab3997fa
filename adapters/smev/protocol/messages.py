"""SMEV 3 (message-exchange 1.3) messages: what the adapter sends, and what it reads back.

Building follows the 1.3 XSD to the letter (element order, namespaces). Reading is lenient:
elements are found by local name whatever the namespace version (1.1, 1.2, 1.3 replies all
occur), and fields the schema calls mandatory but SMEV leaves out (``HumanReadableName``) are
not required. Signing is separate (:func:`sign_caller`), so tests can build without keys.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from dataclasses import dataclass, field

from lxml import etree

from adapters.smev.crypto.xmldsig import XmlSigner, sign_smev_element
from adapters.smev.errors import MessageError
from adapters.smev.protocol.soap import child, children, envelope, localname, text_of

TYPES_NS = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.3"
BASIC_NS = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.3"
FAULTS_NS = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/faults/1.3"
NSMAP = {"ns1": TYPES_NS, "ns2": BASIC_NS}
_T = "{" + TYPES_NS + "}"
_B = "{" + BASIC_NS + "}"

SIGNED_ID = "SIGNED_BY_CALLER"
_MIME = re.compile(r"^(text|image|audio|video|application)/[a-zA-Z0-9\-+.]*$")
_XML_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

REJECT_CODES = ("ACCESS_DENIED", "NO_DATA", "UNKNOWN_REQUEST_DESCRIPTION", "FAILURE")


def new_message_id() -> str:
    """A version-1 (time-based) UUID, as SMEV requires for MessageID."""
    return str(uuid.uuid1())


def uuid1_time(value: str) -> dt.datetime | None:
    """When a version-1 UUID was made (None for other versions or bad text)."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    if parsed.version != 1:
        return None
    seconds = (parsed.time - 0x01B21DD213814000) / 1e7
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def timestamp(moment: dt.datetime | None = None) -> str:
    return (moment or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Attachment:
    """An attachment as SMEV carries it: a header inside the signed block, content outside."""

    content_id: str
    mime_type: str
    content: bytes


@dataclass(frozen=True)
class RefAttachment:
    """A file on SMEV's file storage named in the signed block (RefAttachmentHeader): the
    sender uploads it over FTP to ``/<uuid>/<file_name>`` before sending the message."""

    uuid: str
    file_name: str
    hash: str  # base64 of the file's digest (SMEV: GOST R 34.11-2012; see settings.fs_hash)
    mime_type: str


@dataclass(frozen=True)
class FileAttachment:
    """A file an incoming message names on SMEV's file storage: SMEV's FSAttachment (where
    and with which credentials to download it) joined with the sender's RefAttachmentHeader
    (its hash and type), by uuid."""

    uuid: str
    user_name: str
    password: str
    file_name: str
    hash: str = ""
    mime_type: str = "application/octet-stream"


def smev_mime(media_type: str) -> str:
    """SMEV's MimeType pattern allows five top-level types; others travel as octet-stream."""
    base = media_type.split(";", 1)[0].strip()
    return base if _MIME.match(base) else "application/octet-stream"


def _content_list(attachments: list[Attachment]) -> etree._Element:
    holder = etree.Element(_B + "AttachmentContentList", nsmap=NSMAP)
    for item in attachments:
        content = etree.SubElement(holder, _B + "AttachmentContent")
        etree.SubElement(content, _B + "Id").text = item.content_id
        etree.SubElement(content, _B + "Content").text = base64.b64encode(item.content).decode()
    return holder


def _header_list(attachments: list[Attachment]) -> etree._Element:
    holder = etree.Element(_B + "AttachmentHeaderList", nsmap=NSMAP)
    for item in attachments:
        header = etree.SubElement(holder, _B + "AttachmentHeader")
        etree.SubElement(header, _B + "contentId").text = item.content_id
        etree.SubElement(header, _B + "MimeType").text = smev_mime(item.mime_type)
    return holder


def _ref_header_list(files: list[RefAttachment]) -> etree._Element:
    holder = etree.Element(_B + "RefAttachmentHeaderList", nsmap=NSMAP)
    for item in files:
        header = etree.SubElement(holder, _B + "RefAttachmentHeader")
        etree.SubElement(header, _B + "uuid").text = item.uuid
        etree.SubElement(header, _B + "FileName").text = item.file_name
        etree.SubElement(header, _B + "Hash").text = item.hash
        etree.SubElement(header, _B + "MimeType").text = smev_mime(item.mime_type)
    return holder


def _primary_content(payload: etree._Element) -> etree._Element:
    holder = etree.Element(_B + "MessagePrimaryContent", nsmap=NSMAP)
    holder.append(etree.fromstring(etree.tostring(payload)))  # its own namespace declarations
    return holder


def _check_attachments(attachments: list[Attachment]) -> None:
    seen: set[str] = set()
    for item in attachments:
        if not _XML_ID.match(item.content_id) or item.content_id == SIGNED_ID:
            raise ValueError(f"attachment id {item.content_id!r} cannot be a SMEV xs:ID")
        if item.content_id in seen:
            raise ValueError(f"attachment id {item.content_id!r} appears twice")
        seen.add(item.content_id)


# ---------------------------------------------------------------------------------- building
def send_request(
    message_id: str,
    payload: etree._Element,
    *,
    attachments: list[Attachment] | None = None,
    node_id: str = "",
    test: bool = False,
    reference_message_id: str | None = None,
    files: list[RefAttachment] | None = None,
) -> etree._Element:
    """SendRequestRequest (unsigned) in a SOAP envelope; ``files`` already on the storage."""
    attachments = attachments or []
    _check_attachments(attachments)
    request = etree.Element(_T + "SendRequestRequest", nsmap=NSMAP)
    data = etree.SubElement(request, _T + "SenderProvidedRequestData", Id=SIGNED_ID)
    etree.SubElement(data, _T + "MessageID").text = message_id
    if reference_message_id:
        etree.SubElement(data, _T + "ReferenceMessageID").text = reference_message_id
    if node_id:
        etree.SubElement(data, _T + "NodeID").text = node_id
    data.append(_primary_content(payload))
    if attachments:
        data.append(_header_list(attachments))
    if files:
        data.append(_ref_header_list(files))
    if test:
        etree.SubElement(data, _T + "TestMessage")
    if attachments:
        request.append(_content_list(attachments))
    return envelope(request)


def send_response(
    message_id: str,
    to: str,
    payload: etree._Element | None = None,
    *,
    rejections: list[tuple[str, str]] | None = None,
    attachments: list[Attachment] | None = None,
    files: list[RefAttachment] | None = None,
) -> etree._Element:
    """SendResponseRequest (unsigned): a payload, or RequestRejected (code, description)s."""
    attachments = attachments or []
    _check_attachments(attachments)
    if (payload is None) == (not rejections):
        raise ValueError("a response carries either a payload or rejections")
    request = etree.Element(_T + "SendResponseRequest", nsmap=NSMAP)
    data = etree.SubElement(request, _T + "SenderProvidedResponseData", Id=SIGNED_ID)
    etree.SubElement(data, _T + "MessageID").text = message_id
    etree.SubElement(data, _T + "To").text = to
    if payload is not None:
        data.append(_primary_content(payload))
        if attachments:
            data.append(_header_list(attachments))
        if files:
            data.append(_ref_header_list(files))
    else:
        for code, description in rejections or []:
            rejected = etree.SubElement(data, _T + "RequestRejected")
            etree.SubElement(rejected, _T + "RejectionReasonCode").text = (
                code if code in REJECT_CODES else "FAILURE"
            )
            etree.SubElement(rejected, _T + "RejectionReasonDescription").text = description[:4000]
    if attachments and payload is not None:
        request.append(_content_list(attachments))
    return envelope(request)


def _selector(
    operation: str, message_type: str | None, node_id: str, moment: dt.datetime | None
) -> etree._Element:
    request = etree.Element(_T + operation, nsmap=NSMAP)
    selector = etree.SubElement(request, _B + "MessageTypeSelector", Id=SIGNED_ID)
    if message_type:
        namespace, _, local = message_type[1:].partition("}")
        etree.SubElement(selector, _B + "NamespaceURI").text = namespace
        etree.SubElement(selector, _B + "RootElementLocalName").text = local
    etree.SubElement(selector, _B + "Timestamp").text = timestamp(moment)
    if node_id:
        etree.SubElement(selector, _B + "NodeID").text = node_id
    return envelope(request)


def get_response(
    message_type: str | None = None, *, node_id: str = "", moment: dt.datetime | None = None
) -> etree._Element:
    """GetResponseRequest (unsigned): take one message from our response queue."""
    return _selector("GetResponseRequest", message_type, node_id, moment)


def get_request(
    message_type: str | None = None, *, node_id: str = "", moment: dt.datetime | None = None
) -> etree._Element:
    """GetRequestRequest (unsigned): take one request from our incoming queue."""
    return _selector("GetRequestRequest", message_type, node_id, moment)


def get_status(moment: dt.datetime | None = None) -> etree._Element:
    """GetStatusRequest (unsigned): take one asynchronous status (the 1.3 status channel)."""
    request = etree.Element(_T + "GetStatusRequest", nsmap=NSMAP)
    etree.SubElement(request, _B + "Timestamp", Id=SIGNED_ID).text = timestamp(moment)
    return envelope(request)


def ack(message_id: str, accepted: bool = True) -> etree._Element:
    """AckRequest (unsigned) for a message taken with GetRequest/GetResponse."""
    request = etree.Element(_T + "AckRequest", nsmap=NSMAP)
    target = etree.SubElement(request, _B + "AckTargetMessage", Id=SIGNED_ID)
    target.set("accepted", "true" if accepted else "false")
    target.text = message_id
    return envelope(request)


def sign_caller(document: etree._Element, signer: XmlSigner) -> bytes:
    """Sign the caller's block (Id=SIGNED_BY_CALLER) and serialize; never re-indent after."""
    sign_smev_element(document, SIGNED_ID, signer)
    return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8"))


# ---------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Metadata:
    """MessageMetadata, as far as SMEV filled it in."""

    message_id: str = ""
    message_type: str = ""
    sender: str = ""  # mnemonic
    recipient: str = ""  # mnemonic
    sending_timestamp: str = ""
    delivery_timestamp: str = ""
    status: str = ""

    @property
    def sent_at(self) -> dt.datetime | None:
        return parse_time(self.sending_timestamp)


def parse_time(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def read_metadata(element: etree._Element | None) -> Metadata:
    if element is None:
        return Metadata()
    return Metadata(
        message_id=text_of(element, "MessageId"),
        message_type=text_of(element, "MessageType"),
        sender=text_of(child(element, "Sender"), "Mnemonic"),
        recipient=text_of(child(element, "Recipient"), "Mnemonic"),
        sending_timestamp=text_of(element, "SendingTimestamp"),
        delivery_timestamp=text_of(element, "DeliveryTimestamp"),
        status=text_of(element, "Status"),
    )


@dataclass(frozen=True)
class AsyncStatus:
    original_message_id: str
    category: str
    details: str = ""
    fault: str = ""  # xsi:type of SmevFault, without prefix
    fault_code: str = ""
    fault_description: str = ""
    validation_errors: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        parts = [self.category]
        if self.details:
            parts.append(self.details)
        if self.fault:
            parts.append(f"[{self.fault}]")
        if self.fault_description and self.details not in self.fault_description:
            parts.append(self.fault_description)
        parts.extend(self.validation_errors)
        return " ".join(parts)

    @property
    def rejected(self) -> bool:
        return self.category in ("requestIsRejectedBySmev", "responseIsRejectedBySmev", "cancelled")


def _async_status(element: etree._Element) -> AsyncStatus:
    fault = child(element, "SmevFault")
    fault_type = ""
    errors: tuple[str, ...] = ()
    if fault is not None:
        raw = fault.get("{http://www.w3.org/2001/XMLSchema-instance}type", "")
        fault_type = raw.rsplit(":", 1)[-1]
        errors = tuple((e.text or "").strip() for e in children(fault, "ValidationError") if e.text)
    return AsyncStatus(
        original_message_id=text_of(element, "OriginalMessageId"),
        category=text_of(element, "StatusCategory"),
        details=text_of(element, "StatusDetails"),
        fault=fault_type,
        fault_code=text_of(fault, "Code"),
        fault_description=text_of(fault, "Description"),
        validation_errors=errors,
    )


@dataclass(frozen=True)
class BusinessStatus:
    code: int
    description: str
    parameters: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.parameters)
        return f"{self.code}: {self.description}" + (f" ({extra})" if extra else "")


def _read_attachments(
    header_list: etree._Element | None, content_list: etree._Element | None
) -> list[Attachment]:
    contents: dict[str, bytes] = {}
    for item in children(content_list, "AttachmentContent") if content_list is not None else []:
        key = text_of(item, "Id")
        try:
            contents[key] = base64.b64decode("".join(text_of(item, "Content").split()))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"attachment {key!r}: content is not base64") from exc
    result = []
    headers = children(header_list, "AttachmentHeader") if header_list is not None else []
    for header in headers:
        key = text_of(header, "contentId")
        if key not in contents:
            raise ValueError(f"attachment {key!r}: header without content")
        result.append(
            Attachment(
                key, text_of(header, "MimeType") or "application/octet-stream", contents.pop(key)
            )
        )
    for key, data in contents.items():  # content without a header: keep it, type unknown
        result.append(Attachment(key, "application/octet-stream", data))
    return result


def _primary(element: etree._Element | None) -> etree._Element | None:
    holder = child(element, "MessagePrimaryContent")
    items = children(holder) if holder is not None else []
    return items[0] if items else None


@dataclass
class IncomingResponse:
    """One message from GetResponse: a business answer, a rejection, a status..."""

    document: etree._Element  # the whole SOAP reply, for signature checks
    original_message_id: str
    message_id: str  # SenderProvidedResponseData/MessageID
    to: str
    metadata: Metadata
    content: etree._Element | None = None
    rejections: list[tuple[str, str]] = field(default_factory=list)
    business_status: BusinessStatus | None = None
    async_status: AsyncStatus | None = None
    attachments: list[Attachment] = field(default_factory=list)
    file_attachments: int = 0  # FSAttachmentsList / RefAttachmentHeaderList entries
    files: list[FileAttachment] = field(default_factory=list)  # on SMEV's file storage

    @property
    def ack_id(self) -> str:
        return self.metadata.message_id or self.message_id


@dataclass
class IncomingRequest:
    """One request from GetRequest: an agency asks this information system."""

    document: etree._Element
    message_id: str  # SenderProvidedRequestData/MessageID
    reply_to: str
    metadata: Metadata
    content: etree._Element
    test: bool = False
    eol: dt.datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    file_attachments: int = 0
    files: list[FileAttachment] = field(default_factory=list)

    @property
    def ack_id(self) -> str:
        return self.metadata.message_id or self.message_id

    @property
    def message_type(self) -> str:
        return str(self.content.tag)


def read_send_result(body: etree._Element) -> Metadata:
    """SendRequestResponse/SendResponseResponse → its MessageMetadata."""
    if localname(body) not in ("SendRequestResponse", "SendResponseResponse"):
        raise MessageError(f"unexpected reply element {localname(body)!r}")
    return read_metadata(child(body, "MessageMetadata"))


def read_get_response(body: etree._Element) -> IncomingResponse | None:
    """GetResponseResponse → the message, or None when the queue is empty."""
    if localname(body) != "GetResponseResponse":
        raise MessageError(f"unexpected reply element {localname(body)!r}")
    message = child(body, "ResponseMessage")
    if message is None:
        return None
    response = child(message, "Response")
    if response is None:
        raise MessageError("ResponseMessage without Response")
    data = child(response, "SenderProvidedResponseData")
    if data is None:
        raise MessageError("Response without SenderProvidedResponseData")
    metadata = read_metadata(child(response, "MessageMetadata"))
    status_element = child(data, "AsyncProcessingStatus")
    async_status = _async_status(status_element) if status_element is not None else None
    original = text_of(response, "OriginalMessageId") or (
        async_status.original_message_id if async_status else ""
    )
    business = None
    status = child(data, "RequestStatus")
    if status is not None:
        code_text = text_of(status, "StatusCode")
        try:
            code = int(code_text)
        except ValueError:
            code = 0
        business = BusinessStatus(
            code,
            text_of(status, "StatusDescription"),
            tuple(
                (text_of(p, "Key"), text_of(p, "Value"))
                for p in children(status, "StatusParameter")
            ),
        )
    incoming = IncomingResponse(
        document=body.getroottree().getroot(),
        original_message_id=original,
        message_id=text_of(data, "MessageID"),
        to=text_of(data, "To"),
        metadata=metadata,
        content=_primary(data),
        rejections=[
            (text_of(r, "RejectionReasonCode"), text_of(r, "RejectionReasonDescription"))
            for r in children(data, "RequestRejected")
        ],
        business_status=business,
        async_status=async_status,
        attachments=_read_attachments(
            child(data, "AttachmentHeaderList"), child(message, "AttachmentContentList")
        ),
        file_attachments=_count_files(response, data),
        files=_read_files(response, data),
    )
    if not incoming.ack_id:
        raise MessageError("response without a MessageId")
    return incoming


def read_get_status(body: etree._Element) -> AsyncStatus | None:
    """GetStatusResponse → the status, or None when there is none."""
    if localname(body) != "GetStatusResponse":
        raise MessageError(f"unexpected reply element {localname(body)!r}")
    message = child(body, "SmevAsyncProcessingMessage")
    if message is None:
        return None
    status = child(child(message, "AsyncProcessingStatusData"), "AsyncProcessingStatus")
    if status is None:
        raise MessageError("SmevAsyncProcessingMessage without AsyncProcessingStatus")
    return _async_status(status)


def _count_files(outer: etree._Element, data: etree._Element) -> int:
    """Files in SMEV's storage: one file is named in both lists (its FSAttachment and the
    sender's RefAttachmentHeader), so they count by uuid (an entry without one counts alone)."""
    seen: set[str] = set()
    alone = 0
    for holder, name in ((outer, "FSAttachmentsList"), (data, "RefAttachmentHeaderList")):
        element = child(holder, name)
        for entry in children(element) if element is not None else []:
            key = text_of(entry, "uuid")
            if key:
                seen.add(key)
            else:
                alone += 1
    return len(seen) + alone


def _read_files(outer: etree._Element, data: etree._Element) -> list[FileAttachment]:
    """SMEV's FSAttachments (credentials) with the sender's RefAttachmentHeaders (hash, type)
    of the same uuid; a header without credentials cannot be fetched and is left out."""
    ref_list = child(data, "RefAttachmentHeaderList")
    ref_headers = children(ref_list, "RefAttachmentHeader") if ref_list is not None else []
    headers = {text_of(h, "uuid"): h for h in ref_headers}
    found = []
    listing = child(outer, "FSAttachmentsList")
    for item in children(listing, "FSAttachment") if listing is not None else []:
        key = text_of(item, "uuid")
        header = headers.get(key)
        found.append(
            FileAttachment(
                uuid=key,
                user_name=text_of(item, "UserName"),
                password=text_of(item, "Password"),
                file_name=text_of(item, "FileName") or text_of(header, "FileName") or key,
                hash=text_of(header, "Hash") if header is not None else "",
                mime_type=(text_of(header, "MimeType") if header is not None else "")
                or "application/octet-stream",
            )
        )
    return found


def read_get_request(body: etree._Element) -> IncomingRequest | None:
    """GetRequestResponse → the request, or None when the queue is empty."""
    if localname(body) != "GetRequestResponse":
        raise MessageError(f"unexpected reply element {localname(body)!r}")
    message = child(body, "RequestMessage")
    if message is None:
        return None
    request = child(message, "Request")
    if request is None:
        raise MessageError("RequestMessage without Request")
    data = child(request, "SenderProvidedRequestData")
    if data is None:
        raise MessageError("Request without SenderProvidedRequestData")
    content = _primary(data)
    if content is None:
        raise MessageError("request without MessagePrimaryContent")
    incoming = IncomingRequest(
        document=body.getroottree().getroot(),
        message_id=text_of(data, "MessageID"),
        reply_to=text_of(request, "ReplyTo"),
        metadata=read_metadata(child(request, "MessageMetadata")),
        content=content,
        test=child(data, "TestMessage") is not None,
        eol=parse_time(text_of(data, "EOL")),
        attachments=_read_attachments(
            child(data, "AttachmentHeaderList"), child(message, "AttachmentContentList")
        ),
        file_attachments=_count_files(request, data),
        files=_read_files(request, data),
    )
    if not incoming.ack_id:
        raise MessageError("request without a MessageID")
    return incoming
