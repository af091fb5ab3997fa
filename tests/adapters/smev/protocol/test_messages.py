"""Building SMEV 1.3 messages (checked against the vendored XSD) and reading SMEV's replies."""

from __future__ import annotations

import base64
import uuid

import pytest
from lxml import etree

from adapters.smev.crypto.xmldsig import XmlSigner, verify
from adapters.smev.protocol import messages as sm
from adapters.smev.protocol import soap
from tests.adapters.smev.conftest import DATA as SMEV_DATA
from tests.adapters.smev.conftest import EXAMPLES, GostPki

from .conftest import DATA

EXTRACT = EXAMPLES / "extract-request.xml"


def _payload() -> etree._Element:
    return etree.parse(str(EXTRACT)).getroot()


def _body(document: bytes) -> etree._Element:
    return soap.body_element(etree.fromstring(document))


def _t(name: str) -> str:
    return f"{{{sm.TYPES_NS}}}{name}"


def _b(name: str) -> str:
    return f"{{{sm.BASIC_NS}}}{name}"


def test_send_request_is_schema_valid_signed_and_carries_everything(
    signer: XmlSigner, gost_pki: GostPki, types_schema: etree.XMLSchema
) -> None:
    message_id = sm.new_message_id()
    pdf = sm.Attachment("scan-1", "application/pdf", b"%PDF-1.4 scan")
    odd = sm.Attachment("mail-1", "message/rfc822", b"From: x")
    document = sm.send_request(
        message_id, _payload(), attachments=[pdf, odd], node_id="node-7", test=True
    )
    data = sm.sign_caller(document, signer)
    body = _body(data)
    assert types_schema.validate(body), types_schema.error_log
    assert uuid.UUID(message_id).version == 1
    request = body.find(_t("SenderProvidedRequestData"))
    assert request is not None and request.get("Id") == "SIGNED_BY_CALLER"
    assert request.findtext(_t("MessageID")) == message_id
    assert request.findtext(_t("NodeID")) == "node-7"
    assert request.find(_t("TestMessage")) is not None
    content = request.find(_b("MessagePrimaryContent"))
    assert content is not None and content[0].tag == etree.QName(_payload()).text
    # headers inside the signed block, contents outside it (MTOM-friendly), types SMEV allows
    headers = request.findall(f"{_b('AttachmentHeaderList')}/{_b('AttachmentHeader')}")
    assert [h.findtext(_b("MimeType")) for h in headers] == [
        "application/pdf",
        "application/octet-stream",
    ]
    contents = body.findall(f"{_b('AttachmentContentList')}/{_b('AttachmentContent')}")
    assert [base64.b64decode(c.findtext(_b("Content")) or "") for c in contents] == [
        pdf.content,
        odd.content,
    ]
    reports = verify(etree.fromstring(data), trust=gost_pki.trust())
    assert [(r.container, r.ok) for r in reports] == [("CallerInformationSystemSignature", True)]
    assert reports[0].signed_elements[0].tag == _t("SenderProvidedRequestData")


@pytest.mark.parametrize(
    "build",
    [
        lambda: sm.get_response(node_id="n1"),
        lambda: sm.get_request("{urn:example:x:1.0}Ask"),
        lambda: sm.ack(sm.new_message_id(), accepted=False),
        lambda: sm.send_response(sm.new_message_id(), "reply-to-token", _payload()),
        lambda: sm.send_response(
            sm.new_message_id(), "reply-to-token", rejections=[("NO_DATA", "nothing found")]
        ),
    ],
    ids=["GetResponse", "GetRequest-selector", "Ack", "SendResponse", "SendResponse-rejected"],
)
def test_other_operations_are_schema_valid_when_signed(
    build: object, signer: XmlSigner, types_schema: etree.XMLSchema
) -> None:
    assert callable(build)
    body = _body(sm.sign_caller(build(), signer))
    assert types_schema.validate(body), types_schema.error_log
    assert body[-1].tag == _t("CallerInformationSystemSignature")


def test_ack_and_selector_details() -> None:
    ack = soap.body_element(sm.ack("11111111-2222-1333-8444-555555555555", accepted=False))
    target = ack.find(_b("AckTargetMessage"))
    assert target is not None
    assert (target.text, target.get("accepted")) == (
        "11111111-2222-1333-8444-555555555555",
        "false",
    )
    selector = soap.body_element(sm.get_request("{urn:example:x:1.0}Ask")).find(
        _b("MessageTypeSelector")
    )
    assert selector is not None
    assert selector.findtext(_b("NamespaceURI")) == "urn:example:x:1.0"
    assert selector.findtext(_b("RootElementLocalName")) == "Ask"


def test_rejection_codes_outside_the_enumeration_become_failure() -> None:
    body = soap.body_element(sm.send_response(sm.new_message_id(), "to", rejections=[("X", "y")]))
    assert body.findtext(f".//{_t('RejectionReasonCode')}") == "FAILURE"


def test_reads_a_real_response_despite_version_1_2_and_no_human_readable_name() -> None:
    reply = soap.parse_reply(
        "text/xml", (SMEV_DATA / "GetResponseResponse_ValidResponse.xml").read_bytes()
    )
    incoming = sm.read_get_response(reply.body)
    assert incoming is not None
    assert incoming.original_message_id == "681e6b22-c751-11eb-b66e-218eae1a9246"
    assert incoming.ack_id == "8ac9a002-c751-11eb-bc0d-001a4a165f5b"
    assert incoming.metadata.sender == "ISIA01001"
    assert incoming.metadata.status == "messageIsDelivered"
    assert incoming.metadata.sent_at is not None
    assert incoming.content is not None
    assert incoming.content.tag == "{urn://fake-smev-service-response}FakeSmevServiceResponse"
    assert incoming.async_status is None and not incoming.rejections


def test_reads_an_asynchronous_rejection() -> None:
    data = (SMEV_DATA / "GetResponseResponce_InvalidContent.xml").read_bytes()
    incoming = sm.read_get_response(soap.parse_reply("text/xml", data).body)
    assert incoming is not None and incoming.async_status is not None
    status = incoming.async_status
    assert status.category == "requestIsRejectedBySmev" and status.rejected
    assert status.fault == "InvalidContent"
    assert status.original_message_id == incoming.original_message_id
    assert "cvc-complex-type" in status.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("GetResponseResponce_EmptyQueue.xml", "text/xml"),
        # the captured body lacks its HTTP header: the boundary is taken from the first line
        ("GetResponseResponce_MultipartEmptyQueue.xml", "multipart/related"),
    ],
)
def test_an_empty_queue_reads_as_none(name: str, content_type: str) -> None:
    reply = soap.parse_reply(content_type, (DATA / name).read_bytes())
    assert sm.read_get_response(reply.body) is None


def test_send_result_status() -> None:
    reply = soap.parse_reply("text/xml", (SMEV_DATA / "SendRequestResponce.xml").read_bytes())
    metadata = sm.read_send_result(reply.body)
    assert metadata.status == "requestIsQueued"
    assert metadata.message_id == "ac9fbf27-8b8c-11eb-9086-e2bf794ac2e9"


def _get_request_reply(attachment_href: str | None = None) -> bytes:
    content = (
        f'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="{attachment_href}"/>'
        if attachment_href
        else base64.b64encode(b"scan bytes").decode()
    )
    return f"""<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<t:GetRequestResponse xmlns:t="{sm.TYPES_NS}" xmlns:b="{sm.BASIC_NS}"><t:RequestMessage>
<t:Request Id="SIGNED_BY_SMEV">
 <t:SenderProvidedRequestData Id="SIGNED_BY_CALLER">
  <t:MessageID>0b7a4c1e-2a0b-11f1-9c3e-0242ac120002</t:MessageID>
  <b:MessagePrimaryContent><x:Ask xmlns:x="urn:example:x:1.0"><x:N>1</x:N></x:Ask>
  </b:MessagePrimaryContent>
  <b:AttachmentHeaderList><b:AttachmentHeader><b:contentId>scan</b:contentId>
   <b:MimeType>image/png</b:MimeType></b:AttachmentHeader></b:AttachmentHeaderList>
  <t:TestMessage/>
 </t:SenderProvidedRequestData>
 <t:MessageMetadata><t:MessageId>0c000000-2a0b-11f1-9c3e-0242ac120002</t:MessageId>
  <t:MessageType>REQUEST</t:MessageType><t:Sender><t:Mnemonic>FNS01</t:Mnemonic></t:Sender>
  <t:SendingTimestamp>2026-03-16T10:00:00.000+03:00</t:SendingTimestamp></t:MessageMetadata>
 <t:ReplyTo>eyJzbWV2IjoicmVwbHkifQ==</t:ReplyTo>
</t:Request>
<b:AttachmentContentList><b:AttachmentContent><b:Id>scan</b:Id>
 <b:Content>{content}</b:Content></b:AttachmentContent></b:AttachmentContentList>
</t:RequestMessage></t:GetRequestResponse></s:Body></s:Envelope>""".encode()


def test_reads_a_request_with_reply_to_and_attachment() -> None:
    incoming = sm.read_get_request(soap.parse_reply("text/xml", _get_request_reply()).body)
    assert incoming is not None
    assert incoming.reply_to == "eyJzbWV2IjoicmVwbHkifQ=="
    assert incoming.ack_id == "0c000000-2a0b-11f1-9c3e-0242ac120002"
    assert incoming.message_type == "{urn:example:x:1.0}Ask"
    assert incoming.metadata.sender == "FNS01" and incoming.test
    assert incoming.attachments == [sm.Attachment("scan", "image/png", b"scan bytes")]


def test_mtom_reply_parts_replace_xop_includes() -> None:
    root = _get_request_reply("cid:part-1%40example").decode()
    boundary = "uuid:b0c2"
    body = (
        f'--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="text/xml"\r\n'
        f"Content-ID: <root.message@cxf.apache.org>\r\n\r\n{root}\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: binary\r\nContent-ID: <part-1@example>\r\n\r\n"
        f"\x89PNG binary\r\n--{boundary}--\r\n"
    ).encode("latin-1")
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        'start="<root.message@cxf.apache.org>"; start-info="text/xml"'
    )
    reply = soap.parse_reply(content_type, body)
    incoming = sm.read_get_request(reply.body)
    assert incoming is not None
    assert incoming.attachments[0].content == b"\x89PNG binary"


def test_uuid1_time_and_other_versions() -> None:
    assert sm.uuid1_time(sm.new_message_id()) is not None
    assert sm.uuid1_time(str(uuid.uuid4())) is None
    assert sm.uuid1_time("not a uuid") is None


def test_bad_attachment_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="xs:ID"):
        sm.send_request(
            sm.new_message_id(), _payload(), attachments=[sm.Attachment("1bad", "text/plain", b"")]
        )


def test_a_file_named_in_both_lists_counts_once() -> None:
    """SMEV names a stored file twice: its FSAttachment (where, with credentials) beside the
    Response and the sender's RefAttachmentHeader (hash, type) in the signed data."""
    reply = soap.parse_reply(
        "text/xml", (SMEV_DATA / "GetResponseResponse_ValidResponse.xml").read_bytes()
    )
    (response,) = [e for e in reply.body.iter() if etree.QName(e).localname == "Response"]
    (data,) = [
        e for e in response.iter() if etree.QName(e).localname == "SenderProvidedResponseData"
    ]
    fs = etree.SubElement(response, _b("FSAttachmentsList"))
    refs = etree.SubElement(data, _b("RefAttachmentHeaderList"))
    for key in ("u-1", "u-2"):
        etree.SubElement(etree.SubElement(fs, _b("FSAttachment")), _b("uuid")).text = key
    etree.SubElement(etree.SubElement(refs, _b("RefAttachmentHeader")), _b("uuid")).text = "u-1"
    incoming = sm.read_get_response(reply.body)
    assert incoming is not None
    assert incoming.file_attachments == 2
