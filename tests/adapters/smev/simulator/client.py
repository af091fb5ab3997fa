"""A minimal SMEV 3 (1.3) SOAP client for the simulator tests: builds, signs, posts, parses."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from lxml import etree

from adapters.smev.crypto.xmldsig import XmlSigner, sign_smev_element
from adapters.smev.parsing import parse_xml
from adapters.smev.simulator.ns import BASIC_NS, FAULTS_NS, SOAP_NS, TYPES_NS, basic, soap, types

CALLER_ID = "SIGNED_BY_CALLER"
NSMAP = {"ns2": TYPES_NS, "ns": BASIC_NS}


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id() -> str:
    return str(uuid.uuid1())


def payload(
    namespace: str = "urn://example/req/1.0", name: str = "Req", text: str = "x"
) -> etree._Element:
    element = etree.Element(f"{{{namespace}}}{name}", nsmap={"p": namespace})
    _sub(element, f"{{{namespace}}}Value", text)
    return element


def send_request(
    content: etree._Element,
    message_id: str | None = None,
    *,
    attachments: dict[str, bytes] | None = None,
    test_message: bool = False,
) -> etree._Element:
    root = etree.Element(types("SendRequestRequest"), nsmap=NSMAP)
    provided = _sub(root, types("SenderProvidedRequestData"))
    provided.set("Id", CALLER_ID)
    _sub(provided, types("MessageID"), message_id or new_id())
    _sub(provided, basic("MessagePrimaryContent")).append(content)
    if attachments:
        headers = _sub(provided, basic("AttachmentHeaderList"))
        for cid in attachments:
            header = _sub(headers, basic("AttachmentHeader"))
            _sub(header, basic("contentId"), cid)
            _sub(header, basic("MimeType"), "application/pdf")
    if test_message:
        _sub(provided, types("TestMessage"))
    if attachments:
        contents = _sub(root, basic("AttachmentContentList"))
        for cid, data in attachments.items():
            item = _sub(contents, basic("AttachmentContent"))
            _sub(item, basic("Id"), cid)
            _sub(item, basic("Content"), base64.b64encode(data).decode())
    return root


def send_response(
    to: str, content: etree._Element, message_id: str | None = None
) -> etree._Element:
    root = etree.Element(types("SendResponseRequest"), nsmap=NSMAP)
    provided = _sub(root, types("SenderProvidedResponseData"))
    provided.set("Id", CALLER_ID)
    _sub(provided, types("MessageID"), message_id or new_id())
    _sub(provided, types("To"), to)
    if content.tag in (types("RequestRejected"), types("RequestStatus")):
        provided.append(content)
    else:
        _sub(provided, basic("MessagePrimaryContent")).append(content)
    return root


def _selector_request(tag: str, selector: str | None) -> etree._Element:
    root = etree.Element(types(tag), nsmap=NSMAP)
    element = _sub(root, basic("MessageTypeSelector"))
    element.set("Id", CALLER_ID)
    if selector is not None:
        qname = etree.QName(selector)
        _sub(element, basic("NamespaceURI"), qname.namespace)
        _sub(element, basic("RootElementLocalName"), qname.localname)
    _sub(element, basic("Timestamp"), now())
    return root


def get_request(selector: str | None = None) -> etree._Element:
    return _selector_request("GetRequestRequest", selector)


def get_response(selector: str | None = None) -> etree._Element:
    return _selector_request("GetResponseRequest", selector)


def get_status() -> etree._Element:
    root = etree.Element(types("GetStatusRequest"), nsmap=NSMAP)
    _sub(root, basic("Timestamp"), now()).set("Id", CALLER_ID)
    return root


def ack(message_id: str, accepted: bool = True) -> etree._Element:
    root = etree.Element(types("AckRequest"), nsmap=NSMAP)
    target = _sub(root, basic("AckTargetMessage"), message_id)
    target.set("Id", CALLER_ID)
    target.set("accepted", "true" if accepted else "false")
    return root


def envelope(child: etree._Element) -> etree._Element:
    env = etree.Element(soap("Envelope"), nsmap={"soap": SOAP_NS})
    _sub(env, soap("Header"))
    _sub(env, soap("Body")).append(child)
    return env


@dataclass
class Reply:
    status: int
    tree: etree._ElementTree
    raw: bytes

    @property
    def body(self) -> etree._Element:
        found = self.tree.getroot().find(soap("Body"))
        assert found is not None
        return found[0]

    @property
    def fault(self) -> etree._Element | None:
        """The SMEV detail element of a SOAP fault, None if the reply is not a fault."""
        if self.body.tag != soap("Fault"):
            return None
        detail = self.body.find("detail")
        return None if detail is None or len(detail) == 0 else detail[0]

    @property
    def fault_name(self) -> str | None:
        fault = self.fault
        if fault is None:
            return None
        assert etree.QName(fault).namespace == FAULTS_NS
        return etree.QName(fault).localname


class SoapClient:
    def __init__(self, url: str, signer: XmlSigner | None, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.signer = signer
        self.session = session

    def build(self, child: etree._Element, *, sign: bool = True) -> bytes:
        env = envelope(child)
        if sign and self.signer is not None:
            sign_smev_element(env, CALLER_ID, self.signer)
        return bytes(etree.tostring(env, encoding="UTF-8", xml_declaration=True))

    async def post(self, data: bytes, content_type: str = "text/xml; charset=utf-8") -> Reply:
        async with self.session.post(
            self.url, data=data, headers={"Content-Type": content_type}
        ) as response:
            raw = await response.read()
        return Reply(response.status, parse_xml(raw), raw)

    async def call(self, child: etree._Element, *, sign: bool = True) -> Reply:
        return await self.post(self.build(child, sign=sign))


# --- reading replies ---------------------------------------------------------------------


def text(element: etree._Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def message(reply: Reply, wrapper: str) -> etree._Element | None:
    """RequestMessage / ResponseMessage / SmevAsyncProcessingMessage, None if the queue is empty."""
    assert reply.status == 200, reply.raw[:500]
    return reply.body.find(types(wrapper))


def status_category(response_message: etree._Element) -> str | None:
    """StatusCategory of an SMEV status inside a ResponseMessage (None for a real response)."""
    found = response_message.find(
        f"{types('Response')}/{types('SenderProvidedResponseData')}"
        f"/{types('AsyncProcessingStatus')}/{types('StatusCategory')}"
    )
    return None if found is None else (found.text or "").strip()


def metadata_id(wrapped: etree._Element) -> str:
    """MessageMetadata/MessageId of a RequestMessage or ResponseMessage (what Ack names)."""
    found = wrapped.find(f"*/{types('MessageMetadata')}/{types('MessageId')}")
    assert found is not None and found.text
    return found.text


def primary_content(wrapped: etree._Element) -> etree._Element | None:
    found = wrapped.find(f".//{basic('MessagePrimaryContent')}")
    return None if found is None else found[0]
