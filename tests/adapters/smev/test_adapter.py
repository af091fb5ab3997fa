"""The adapter against a scripted SMEV endpoint and an in-memory hub: sending, faults,
responses, statuses, incoming requests, acknowledgement order and polling back-off."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from lxml import etree

from adapters.smev.adapter import SmevAdapter, create
from adapters.smev.protocol import messages as sm
from envelopes.codec import new_envelope, parse_envelope, to_bytes
from envelopes.model import Attachment, Kind
from hub.abc import Destination, OutboundMessage, OutcomeKind
from hub.errors import AdapterConfigError
from hub.plugins import create_adapter

from .conftest import (
    EXAMPLES,
    EXTRACT_REQUEST,
    EXTRACT_RESPONSE,
    FakeAdapterContext,
    FakeSmev,
    GostPki,
    MakeAdapter,
    Scripted,
    fault_reply,
    soap_reply,
)

T = sm.TYPES_NS
B = sm.BASIC_NS


def _payload(name: str = "extract-request.xml") -> etree._Element:
    return etree.parse(str(EXAMPLES / name)).getroot()


def outbound(
    kind: Kind = Kind.REQUEST,
    correlation_id: str | None = None,
    payload: etree._Element | None = None,
    attachments: list[Attachment] | None = None,
    sender: str = "dept.land",
    recipient: str = "agency.rosreestr",
) -> OutboundMessage:
    payload = payload if payload is not None else _payload()
    header, root = new_envelope(
        sender,
        recipient,
        payload,
        kind=kind,
        attachments=attachments,
        correlation_id=uuid.UUID(correlation_id) if correlation_id else None,
    )
    message_id = header.message_id
    body = to_bytes(root)
    return OutboundMessage(
        message_id=str(message_id),
        sender=sender,
        recipient=recipient,
        message_type=header.message_type,
        kind=kind.value,
        correlation_id=correlation_id,
        body=body,
        destination=Destination("smev", "ROSREESTR"),
    )


def _sent_ids(smev: FakeSmev, action: str = "SendRequest") -> list[str]:
    return [str(doc.findtext(f".//{{{T}}}MessageID")) for doc in smev.calls(action)]


# ------------------------------------------------------------------------------ sending
async def test_send_request_remembers_first_then_delivers(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context = await make_adapter(node_id="node-1")
    scan = Attachment.from_bytes("att-scan", "scan.pdf", "application/pdf", b"%PDF scan")
    message = outbound(attachments=[scan])
    outcome = await adapter.deliver(message)
    assert outcome.kind == OutcomeKind.DELIVERED, outcome
    assert _sent_ids(fake_smev) == [outcome.reference]
    assert context.log.index("hub:remember:sent") < context.log.index("smev:SendRequest")
    hub_id, data = context.references[f"sent:{outcome.reference}"]
    assert hub_id == message.message_id
    facts = json.loads(data)
    assert (facts["role"], facts["sender"], facts["recipient"], facts["address"]) == (
        "request",
        "dept.land",
        "agency.rosreestr",
        "ROSREESTR",
    )
    assert any("SMEV: requestIsQueued" in detail for _, _, detail in context.events)
    sent = fake_smev.calls("SendRequest")[0]
    assert sent.findtext(f".//{{{T}}}NodeID") == "node-1"
    assert sent.findtext(f".//{{{B}}}AttachmentContent/{{{B}}}Id") == "att-scan"


async def test_a_resend_after_a_broken_exchange_reuses_the_message_id(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, _ = await make_adapter(request_timeout=0.3)
    fake_smev.script("SendRequest", Scripted(delay=1.0), fault_reply("MessageIsAlreadySent"))
    message = outbound()
    first = await adapter.deliver(message)
    assert first.kind == OutcomeKind.TRANSIENT and "timeout" in first.detail
    second = await adapter.deliver(message)
    assert second.kind == OutcomeKind.DELIVERED
    ids = _sent_ids(fake_smev)
    assert len(ids) == 2 and ids[0] == ids[1] == second.reference


@pytest.mark.parametrize(
    ("reply", "kind", "retry_after"),
    [
        (fault_reply("DestinationOverflow", faultcode="soap:Server"), OutcomeKind.TRANSIENT, 30.0),
        (fault_reply("SMEVFailure", faultcode="soap:Server"), OutcomeKind.TRANSIENT, None),
        (fault_reply("InvalidContent"), OutcomeKind.PERMANENT, None),
        (fault_reply("AccessDenied"), OutcomeKind.PERMANENT, None),
        (fault_reply("SignatureVerificationFault"), OutcomeKind.PERMANENT, None),
        (fault_reply("UnknownMessageType"), OutcomeKind.PERMANENT, None),
        (fault_reply("InvalidMessageIdFormat"), OutcomeKind.PERMANENT, None),
        (Scripted(b"", status=503), OutcomeKind.TRANSIENT, None),
        (Scripted(b"<html>bad gateway</html>", 502, "text/html"), OutcomeKind.TRANSIENT, None),
        (Scripted(b"<html>nope</html>", 404, "text/html"), OutcomeKind.PERMANENT, None),
    ],
    ids=[
        "overflow",
        "smev-failure",
        "invalid-content",
        "access-denied",
        "signature",
        "unknown-type",
        "bad-id",
        "http-503",
        "http-502-html",
        "http-404",
    ],
)
async def test_fault_mapping(
    make_adapter: MakeAdapter,
    fake_smev: FakeSmev,
    reply: Scripted,
    kind: OutcomeKind,
    retry_after: float | None,
) -> None:
    adapter, _ = await make_adapter()
    fake_smev.script("SendRequest", reply)
    outcome = await adapter.deliver(outbound())
    assert outcome.kind == kind, outcome
    assert outcome.retry_after == retry_after


async def test_network_errors_are_transient(make_adapter: MakeAdapter) -> None:
    adapter, _ = await make_adapter(url="http://127.0.0.1:9/smev", connect_timeout=1.0)
    outcome = await adapter.deliver(outbound())
    assert outcome.kind == OutcomeKind.TRANSIENT
    assert not await adapter.ping()


async def test_ping_does_not_consume(make_adapter: MakeAdapter, fake_smev: FakeSmev) -> None:
    adapter, _ = await make_adapter()
    assert await adapter.ping()
    assert fake_smev.requests == []


async def test_stale_message_id_gets_a_fresh_one(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context = await make_adapter()
    fake_smev.script("SendRequest", fault_reply("StaleMessageId"))
    message = outbound()
    assert (await adapter.deliver(message)).kind == OutcomeKind.TRANSIENT
    assert (await adapter.deliver(message)).kind == OutcomeKind.DELIVERED
    first, second = _sent_ids(fake_smev)
    assert first != second
    assert {r for r, _ in await context.recall_by_message(message.message_id)} == {
        f"sent:{first}",
        f"sent:{second}",
    }


async def test_a_response_needs_a_request_from_smev(make_adapter: MakeAdapter) -> None:
    adapter, _ = await make_adapter()
    message = outbound(
        Kind.RESPONSE, correlation_id=str(uuid.uuid4()), payload=_payload("extract-response.xml")
    )
    outcome = await adapter.deliver(message)
    assert outcome.kind == OutcomeKind.PERMANENT and "ReplyTo" in outcome.detail


def test_create_checks_settings(gost_pki: GostPki) -> None:
    with pytest.raises(AdapterConfigError, match="cert"):
        create_adapter("smev", {"type": "smev", "url": "http://x/", "key": str(gost_pki.key)})
    with pytest.raises(AdapterConfigError, match="not a participant id"):
        create_adapter(
            "smev",
            {
                "type": "smev",
                "url": "http://x/",
                "key": str(gost_pki.key),
                "cert": str(gost_pki.cert),
                "participants": {"FNS": "Not An Id"},
            },
        )
    with pytest.raises(AdapterConfigError, match="signer"):
        create_adapter(
            "smev", {"url": "http://x/", "type": "smev", "key": "/nope.pem", "cert": "/nope.pem"}
        )
    adapter = create(
        {
            "url": "https://smev.example/ws",
            "key": gost_pki.key.name,
            "cert": gost_pki.cert.name,
            "base_dir": str(gost_pki.directory),
            "trust": [gost_pki.ca.name],
            "default_recipient": "dept.land",
        }
    )
    assert adapter.settings.receives_requests and adapter.trust is not None
    assert adapter.settings.participant("FNS_01") == "agency.fns_01"
    assert adapter.settings.participant("Мин Юст") == "agency.unknown"


# --------------------------------------------------------------------------- responses
def _response(
    original: str,
    *,
    content: etree._Element | None = None,
    inner: str = "",
    sender: str = "ROSREESTR",
    message_id: str | None = None,
) -> Scripted:
    message_id = message_id or sm.new_message_id()
    primary = (
        f"<b:MessagePrimaryContent>{etree.tostring(content, encoding='unicode')}"
        "</b:MessagePrimaryContent>"
        if content is not None
        else inner
    )
    text = f"""<t:GetResponseResponse xmlns:t="{T}" xmlns:b="{B}"><t:ResponseMessage>
<t:Response Id="SIGNED_BY_SMEV"><t:OriginalMessageId>{original}</t:OriginalMessageId>
<t:SenderProvidedResponseData Id="SIGNED_BY_CALLER"><t:MessageID>{message_id}</t:MessageID>
<t:To>hub-reply-token</t:To>{primary}</t:SenderProvidedResponseData>
<t:MessageMetadata><t:MessageId>{message_id}</t:MessageId><t:MessageType>RESPONSE</t:MessageType>
<t:Sender><t:Mnemonic>{sender}</t:Mnemonic></t:Sender>
<t:SendingTimestamp>2026-03-18T09:00:00.000+03:00</t:SendingTimestamp>
<t:Status>messageIsDelivered</t:Status></t:MessageMetadata></t:Response>
</t:ResponseMessage></t:GetResponseResponse>"""
    return Scripted(soap_reply(etree.fromstring(text)))


def _status(original: str, category: str, fault: str = "") -> str:
    smev_fault = (
        f'<t:SmevFault xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:f="{sm.FAULTS_NS}" xsi:type="f:{fault}"><b:Description>bad</b:Description>'
        "</t:SmevFault>"
        if fault
        else ""
    )
    return (
        f"<t:AsyncProcessingStatus><t:OriginalMessageId>{original}</t:OriginalMessageId>"
        f"<t:StatusCategory>{category}</t:StatusCategory>"
        f"<t:StatusDetails>details of {category}</t:StatusDetails>{smev_fault}"
        "</t:AsyncProcessingStatus>"
    )


async def _sent_request(
    make_adapter: MakeAdapter, **settings: object
) -> tuple[SmevAdapter, FakeAdapterContext, OutboundMessage, str]:
    adapter, context = await make_adapter(**settings)
    message = outbound()
    outcome = await adapter.deliver(message)
    assert outcome.reference is not None
    return adapter, context, message, outcome.reference


def _acks(smev: FakeSmev) -> list[tuple[str, str]]:
    result = []
    for doc in smev.calls("Ack"):
        target = doc.find(f".//{{{B}}}AckTargetMessage")
        assert target is not None
        result.append((str(target.text), str(target.get("accepted"))))
    return result


async def test_a_response_becomes_an_envelope_and_is_acked_after_submit(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context, message, smev_id = await _sent_request(make_adapter)
    answer_id = sm.new_message_id()
    reply = _response(smev_id, content=_payload("extract-response.xml"), message_id=answer_id)
    fake_smev.script("GetResponse", reply, reply)  # the second: SMEV redelivers it
    assert await adapter.poll_responses()
    assert len(context.submitted) == 1
    assert context.log.index("hub:submit") < context.log.index("smev:Ack")
    envelope = parse_envelope(context.submitted[0].body)
    header = envelope.header
    assert (header.sender, header.recipient, header.kind) == (
        "agency.rosreestr",
        "dept.land",
        Kind.RESPONSE,
    )
    assert str(header.correlation_id) == message.message_id
    assert header.message_type == EXTRACT_RESPONSE
    assert context.submitted[0].headers["message-id"] == str(header.message_id)
    assert await adapter.poll_responses()  # the redelivery: acknowledged, not submitted again
    assert len(context.submitted) == 1
    assert _acks(fake_smev) == [(answer_id, "true"), (answer_id, "true")]


async def test_statuses_rejections_and_business_statuses(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context, message, smev_id = await _sent_request(make_adapter)
    fake_smev.script(
        "GetResponse",
        _response(smev_id, inner=_status(smev_id, "requestIsAcceptedBySmev"), sender="smev"),
        _response(smev_id, inner=_status(smev_id, "requestIsRejectedBySmev", "InvalidContent")),
        _response(
            smev_id,
            inner="<t:RequestRejected><t:RejectionReasonCode>NO_DATA</t:RejectionReasonCode>"
            "<t:RejectionReasonDescription>no such plot</t:RejectionReasonDescription>"
            "</t:RequestRejected>",
        ),
        _response(
            smev_id,
            inner="<t:RequestStatus><t:StatusCode>3</t:StatusCode>"
            "<t:StatusDescription>in work</t:StatusDescription></t:RequestStatus>",
        ),
    )
    for _ in range(4):
        assert await adapter.poll_responses()
    assert not await adapter.poll_responses()
    notes = [d for m, s, d in context.events if m == message.message_id and s == "note"]
    assert any(d.startswith("SMEV: requestIsAcceptedBySmev details of") for d in notes)
    assert [(m, s, [c for c, _ in r]) for m, s, r in context.notified] == [
        (message.message_id, "failed", ["smev-InvalidContent"]),
        (message.message_id, "failed", ["smev-NO_DATA"]),
        (message.message_id, "note", ["smev-status-3"]),
    ]
    # for execution control: a rejection is a refused registration at the agency, a business
    # status its work in progress
    assert [(m, s) for m, s, _ in context.stages] == [
        (message.message_id, "registration_refused"),
        (message.message_id, "in_progress"),
    ]
    assert "no such plot" in context.stages[0][2] and "in work" in context.stages[1][2]
    assert len(_acks(fake_smev)) == 4 and not context.submitted


async def test_a_response_to_nothing_we_sent_is_kept_and_acked(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context = await make_adapter()
    stranger = sm.new_message_id()
    fake_smev.script("GetResponse", _response(stranger, content=_payload("extract-response.xml")))
    assert await adapter.poll_responses()
    assert not context.submitted
    assert len(_acks(fake_smev)) == 1
    assert any(r.startswith("unmatched:") for r in context.references)


def test_a_kept_smev_document_keeps_no_ftp_password() -> None:
    """What the store keeps of a response nobody asked for names the files, not the password."""
    from adapters.smev.adapter import without_passwords

    ns = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/basic/1.3"
    document = etree.fromstring(
        f'<r xmlns:b="{ns}"><b:FSAttachmentsList><b:FSAttachment><b:uuid>u-1</b:uuid>'
        "<b:UserName>smev</b:UserName><b:Password>s3cr3t-пароль</b:Password>"
        "<b:FileName>plan.pdf</b:FileName></b:FSAttachment></b:FSAttachmentsList></r>"
    )
    kept = without_passwords(document)
    assert "s3cr3t" not in kept and "plan.pdf" in kept and "u-1" in kept
    assert document.findtext(f"{{{ns}}}FSAttachmentsList/{{{ns}}}FSAttachment/{{{ns}}}Password")


async def test_no_ack_while_the_hub_cannot_store(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context, _, smev_id = await _sent_request(make_adapter)
    reply = _response(smev_id, content=_payload("extract-response.xml"))
    fake_smev.script("GetResponse", reply, reply)
    context.fail_submits = 1_000_000
    with pytest.raises(ConnectionError):
        await adapter.poll_responses()
    assert _acks(fake_smev) == []
    context.fail_submits = 0
    assert await adapter.poll_responses()
    assert len(context.submitted) == 1 and len(_acks(fake_smev)) == 1


@pytest.mark.parametrize("policy", ["reject", "accept"])
async def test_unsigned_responses_with_a_trust_store(
    make_adapter: MakeAdapter, fake_smev: FakeSmev, gost_pki: GostPki, policy: str
) -> None:
    adapter, context, _, smev_id = await _sent_request(
        make_adapter, trust_store=gost_pki.trust(), on_bad_signature=policy
    )
    fake_smev.script("GetResponse", _response(smev_id, content=_payload("extract-response.xml")))
    assert await adapter.poll_responses()
    if policy == "reject":
        assert not context.submitted
        assert _acks(fake_smev)[0][1] == "false"
        assert context.notified[0][1] == "failed"
        assert context.notified[0][2][0][0] == "smev-bad-signature"
    else:
        assert len(context.submitted) == 1
        assert any("signature check failed" in d for m, _, d in context.events)
        assert _acks(fake_smev)[0][1] == "true"


# ---------------------------------------------------------------------------- requests
def _request(content: etree._Element, sender: str = "FNS01", reply_to: str = "reply-7") -> Scripted:
    message_id = sm.new_message_id()
    text = f"""<t:GetRequestResponse xmlns:t="{T}" xmlns:b="{B}"><t:RequestMessage>
<t:Request Id="SIGNED_BY_SMEV"><t:SenderProvidedRequestData Id="SIGNED_BY_CALLER">
<t:MessageID>{message_id}</t:MessageID><b:MessagePrimaryContent>
{etree.tostring(content, encoding="unicode")}</b:MessagePrimaryContent>
</t:SenderProvidedRequestData><t:MessageMetadata><t:MessageId>{message_id}</t:MessageId>
<t:MessageType>REQUEST</t:MessageType><t:Sender><t:Mnemonic>{sender}</t:Mnemonic></t:Sender>
<t:SendingTimestamp>2026-03-16T10:00:00.000+03:00</t:SendingTimestamp></t:MessageMetadata>
<t:ReplyTo>{reply_to}</t:ReplyTo></t:Request></t:RequestMessage></t:GetRequestResponse>"""
    return Scripted(soap_reply(etree.fromstring(text)))


async def test_an_agency_request_goes_to_its_department_and_the_answer_back(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context = await make_adapter()
    fake_smev.script("GetRequest", _request(_payload()))
    assert await adapter.poll_requests()
    assert len(context.submitted) == 1
    envelope = parse_envelope(context.submitted[0].body)
    header = envelope.header
    assert (header.sender, header.recipient, header.kind, header.message_type) == (
        "agency.fns01",
        "dept.land",
        Kind.REQUEST,
        EXTRACT_REQUEST,
    )
    assert context.log.index("hub:submit") < context.log.index("smev:Ack")
    answer = outbound(
        Kind.RESPONSE,
        correlation_id=str(header.message_id),
        payload=_payload("extract-response.xml"),
        sender="dept.land",
        recipient="agency.fns01",
    )
    outcome = await adapter.deliver(answer)
    assert outcome.kind == OutcomeKind.DELIVERED, outcome
    sent = fake_smev.calls("SendResponse")[0]
    assert sent.findtext(f".//{{{T}}}To") == "reply-7"
    assert sent.find(f".//{{{B}}}MessagePrimaryContent/{{*}}ExtractResponse") is not None


async def test_a_request_no_department_handles_is_rejected(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context = await make_adapter()
    odd = etree.fromstring(b'<x:Ask xmlns:x="urn:example:unknown:1.0"><x:N>1</x:N></x:Ask>')
    fake_smev.script("GetRequest", _request(odd))
    assert await adapter.poll_requests()
    assert not context.submitted
    rejected = fake_smev.calls("SendResponse")[0]
    assert rejected.findtext(f".//{{{T}}}RejectionReasonCode") == "UNKNOWN_REQUEST_DESCRIPTION"
    assert rejected.findtext(f".//{{{T}}}To") == "reply-7"
    assert len(_acks(fake_smev)) == 1


async def test_a_department_error_becomes_request_rejected(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, context = await make_adapter()
    fake_smev.script("GetRequest", _request(_payload()))
    assert await adapter.poll_requests()
    hub_id = context.submitted[0].headers["message-id"]
    notice = etree.parse(str(EXAMPLES / "status-notification.xml")).getroot()
    error = outbound(Kind.ERROR, correlation_id=hub_id, payload=notice, sender="dept.land")
    assert (await adapter.deliver(error)).kind == OutcomeKind.DELIVERED
    rejected = fake_smev.calls("SendResponse")[0]
    assert rejected.findtext(f".//{{{T}}}RejectionReasonCode") == "FAILURE"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("access_denied", "ACCESS_DENIED"),
        ("no_route", "UNKNOWN_REQUEST_DESCRIPTION"),
        ("payload_invalid", "FAILURE"),
    ],
)
async def test_a_request_the_hub_refuses_is_answered_with_request_rejected(
    make_adapter: MakeAdapter, fake_smev: FakeSmev, code: str, expected: str
) -> None:
    adapter, context = await make_adapter()
    fake_smev.script("GetRequest", _request(_payload()))
    assert await adapter.poll_requests()
    submitted = context.submitted[0]
    hub_id = submitted.headers["message-id"]
    await adapter.refused(hub_id, "rejected", [(code, "why it was refused")], submitted.headers)
    (rejected,) = fake_smev.calls("SendResponse")
    assert rejected.findtext(f".//{{{T}}}RejectionReasonCode") == expected
    assert rejected.findtext(f".//{{{T}}}To") == "reply-7"
    assert "why it was refused" in (
        rejected.findtext(f".//{{{T}}}RejectionReasonDescription") or ""
    )
    assert (hub_id, "note", f"SMEV: RequestRejected {expected} sent to the requester") in (
        context.events
    )


async def test_a_refused_document_the_adapter_did_not_receive_sends_nothing(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, _ = await make_adapter()
    await adapter.refused(str(uuid.uuid4()), "rejected", [("no_route", "x")], {})
    assert fake_smev.calls("SendResponse") == []


# ----------------------------------------------------------------------------- polling
async def test_poll_interval_backs_off_and_drops_after_a_send(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    adapter, _ = await make_adapter(poll_responses=True, poll_min=0.05, poll_max=0.2)
    for _ in range(100):
        if ("responses", 0.2) in adapter.waits:
            break
        await asyncio.sleep(0.05)
    waits = [s for label, s in adapter.waits if label == "responses"]
    assert waits[:3] == [0.05, 0.1, 0.2]
    mark = len(adapter.waits)
    assert (await adapter.deliver(outbound())).kind == OutcomeKind.DELIVERED
    for _ in range(100):
        if len(adapter.waits) > mark:
            break
        await asyncio.sleep(0.02)
    assert adapter.waits[mark] == ("responses", 0.05)


def _with_reference(content: bytes) -> OutboundMessage:
    import hashlib

    from envelopes.model import AttachmentRef, ContentReference

    ref = AttachmentRef(
        id="att-plan", file_name="plan.pdf", media_type="application/pdf", size=len(content),
        sha256=hashlib.sha256(content).digest(),
    )  # fmt: skip
    header, root = new_envelope(
        "dept.land", "agency.rosreestr", _payload(), references=[ContentReference.for_ref(ref)]
    )
    return OutboundMessage(
        message_id=str(header.message_id), sender="dept.land", recipient="agency.rosreestr",
        message_type=header.message_type, kind="request", correlation_id=None,
        body=to_bytes(root), destination=Destination("smev", "ROSREESTR"),
    )  # fmt: skip


async def test_attachments_by_reference_go_inline_up_to_the_limit(
    make_adapter: MakeAdapter, fake_smev: FakeSmev
) -> None:
    import hashlib

    content = b"%PDF plan " * 500
    adapter, context = await make_adapter(max_attachments_bytes=6000)
    context.blobs[hashlib.sha256(content).hexdigest()] = content
    outcome = await adapter.deliver(_with_reference(content))
    assert outcome.kind == OutcomeKind.DELIVERED, outcome
    sent = fake_smev.calls("SendRequest")[0]
    assert sent.findtext(f".//{{{B}}}AttachmentContent/{{{B}}}Id") == "att-plan"
    bigger = b"%PDF plan " * 700
    context.blobs[hashlib.sha256(bigger).hexdigest()] = bigger
    refused = await adapter.deliver(_with_reference(bigger))
    assert refused.kind == OutcomeKind.PERMANENT and "max_attachments_bytes" in refused.detail
