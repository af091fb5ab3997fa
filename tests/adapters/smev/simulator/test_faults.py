"""Synchronous faults: SOAP 1.1 Faults with the SMEV 1.3 detail elements."""

from __future__ import annotations

import uuid

import aiohttp
from lxml import etree

from adapters.smev.crypto.xmldsig import sign
from adapters.smev.simulator import SmevSimulator
from adapters.smev.simulator.ns import basic, faults, soap, types
from adapters.smev.simulator.schema import validate
from tests.adapters.smev.simulator.client import (
    Reply,
    SoapClient,
    ack,
    envelope,
    get_response,
    message,
    new_id,
    payload,
    send_request,
    send_response,
    text,
)
from tests.adapters.smev.simulator.conftest import SimPki


def assert_fault(reply: Reply, name: str, faultcode: str = "soap:Client") -> etree._Element:
    assert reply.status == 500, reply.raw[:300]
    assert reply.body.tag == soap("Fault")
    assert reply.body.findtext("faultcode") == faultcode
    assert reply.body.findtext("faultstring")
    assert reply.fault_name == name
    detail = reply.fault
    assert detail is not None
    assert validate(detail) == [], "the fault detail must follow the faults XSD"
    return detail


async def test_schema_invalid_request_is_invalid_content(anonymous: SoapClient) -> None:
    request = send_request(payload())
    message_id = request.find(f"{types('SenderProvidedRequestData')}/{types('MessageID')}")
    assert message_id is not None
    message_id.addnext(etree.Element(types("Bogus")))
    detail = assert_fault(await anonymous.call(request), "InvalidContent")
    errors = detail.findall(faults("ValidationError"))
    assert errors and "Bogus" in (errors[0].text or "")
    assert errors[0].get("errorPosition") is not None
    assert text(detail, basic("Code")) == "smev-sim:InvalidContent"


async def test_unknown_operation_and_old_namespace(anonymous: SoapClient) -> None:
    old = etree.Element(
        "{urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1}AckRequest"
    )
    detail = assert_fault(await anonymous.call(old, sign=False), "InvalidContent")
    assert "1.3" in (detail.findtext(faults("ValidationError")) or "")


async def test_not_soap_gets_a_plain_fault(anonymous: SoapClient) -> None:
    reply = await anonymous.post(b"<not-soap/>")
    assert reply.status == 500 and reply.body.tag == soap("Fault")
    assert reply.fault is None
    reply = await anonymous.post(
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>'
    )
    assert reply.body.findtext("faultcode") == "soap:VersionMismatch"


async def test_non_v1_uuid_is_invalid_message_id_format(anonymous: SoapClient) -> None:
    reply = await anonymous.call(send_request(payload(), str(uuid.uuid4())))
    assert_fault(reply, "InvalidMessageIdFormat")


async def test_duplicate_message_id_is_already_sent(sim: SmevSimulator, client: SoapClient) -> None:
    message_id = new_id()
    assert (await client.call(send_request(payload(), message_id))).status == 200
    assert_fault(await client.call(send_request(payload(), message_id)), "MessageIsAlreadySent")
    assert len(sim.sent_requests) == 1


async def test_bad_signatures(sim: SmevSimulator, client: SoapClient, sim_pki: SimPki) -> None:
    # signed, then changed: digest mismatch
    data = client.build(send_request(payload(text="original")))
    tampered = data.replace(b">original<", b">changed!<")
    detail = assert_fault(await client.post(tampered), "SignatureVerificationFault", "soap:Server")
    assert text(detail, faults("SignatureVerificationFault")) == "SignatureIsInvalid"
    assert "digest" in text(detail, basic("Description"))

    # no signature at all
    detail = assert_fault(
        await client.call(send_request(payload()), sign=False),
        "SignatureVerificationFault",
        "soap:Server",
    )
    assert text(detail, faults("SignatureVerificationFault")) == "NoSignatureFound"

    # a valid signature by a certificate from an unknown CA
    intruder = SoapClient(sim.url, sim_pki.intruder, client.session)
    detail = assert_fault(
        await intruder.call(ack(new_id())), "SignatureVerificationFault", "soap:Server"
    )
    assert text(detail, faults("SignatureVerificationFault")) == "CertificateIsNotFound"

    # a valid signature over the wrong element (the payload, not SenderProvidedRequestData)
    content = payload()
    content.set("Id", "PAYLOAD")
    env = envelope(send_request(content))
    body = env.find(soap("Body"))
    assert body is not None
    container = etree.SubElement(body[0], types("CallerInformationSystemSignature"))
    sign(env, "PAYLOAD", sim_pki.client, container)
    reply = await client.post(etree.tostring(env))
    detail = assert_fault(reply, "SignatureVerificationFault", "soap:Server")
    assert text(detail, faults("SignatureVerificationFault")) == "IncorrectSignatureTarget"
    assert sim.sent_requests == []


async def test_ack_of_unknown_message(anonymous: SoapClient) -> None:
    missing = new_id()
    reply = await anonymous.call(ack(missing))
    assert_fault(reply, "TargetMessageIsNotFound")
    assert missing in (reply.body.findtext("faultstring") or "")


async def test_overflow_and_failure_switches(
    open_sim: SmevSimulator, anonymous: SoapClient, session: aiohttp.ClientSession
) -> None:
    open_sim.overflow = True
    detail = assert_fault(
        await anonymous.call(send_request(payload())), "DestinationOverflow", "soap:Server"
    )
    assert detail.findtext(faults("DestinationName"))
    # the control endpoint flips the same switches
    async with session.post(
        open_sim.url + "control", json={"overflow": False, "failure": True}
    ) as r:
        assert r.status == 200
        state = await r.json()
    assert state["overflow"] is False and state["failure"] is True
    assert_fault(await anonymous.call(get_response()), "SMEVFailure", "soap:Server")
    async with session.post(open_sim.url + "control", json={"failure": False}) as r:
        assert r.status == 200
    async with session.post(open_sim.url + "control", json={"overflow": "yes"}) as r:
        assert r.status == 400
    assert message(await anonymous.call(get_response()), "ResponseMessage") is None
    assert (await anonymous.call(send_request(payload()))).status == 200
    assert len(open_sim.sent_requests) == 1  # nothing was accepted while faulting


async def test_attachment_headers_must_match_contents(anonymous: SoapClient) -> None:
    request = send_request(payload(), attachments={"doc1": b"%PDF-1.4"})
    header_id = request.find(f".//{basic('contentId')}")
    assert header_id is not None
    header_id.text = "doc2"
    assert_fault(await anonymous.call(request), "AttachmentContentMiscoordination")


async def test_send_response_to_unknown_reply_to(anonymous: SoapClient) -> None:
    reply = await anonymous.call(send_response("not-a-token", payload(name="Resp")))
    assert_fault(reply, "RecipientIsNotFound")
