"""Round trips of the six operations through the simulator, with GOST-signed requests."""

from __future__ import annotations

from lxml import etree

from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.xmldsig import verify
from adapters.smev.simulator import SmevSimulator
from adapters.smev.simulator.ns import basic, types
from adapters.smev.simulator.schema import validate
from tests.adapters.smev.simulator.client import (
    SoapClient,
    ack,
    get_request,
    get_response,
    get_status,
    message,
    metadata_id,
    new_id,
    payload,
    primary_content,
    send_request,
    send_response,
    status_category,
    text,
)
from tests.adapters.smev.simulator.conftest import SimFactory, SimPki

REQ = "{urn://example/req/1.0}Req"


def _signatures(tree: etree._ElementTree, trust: GostTrustStore) -> dict[str, bool]:
    return {report.container: report.ok for report in verify(tree, trust=trust)}


async def test_request_response_loop(
    sim: SmevSimulator,
    client: SoapClient,
    provider: SoapClient,
    sim_pki: SimPki,
    sim_trust: GostTrustStore,
) -> None:
    both = GostTrustStore([*sim_trust.anchors, *GostTrustStore.from_files([sim_pki.ca]).anchors])
    request_id = new_id()

    # SendRequest: accepted, MessageMetadata signed by SMEV
    reply = await client.call(send_request(payload(text="ping"), request_id))
    assert reply.status == 200, reply.raw
    assert validate(reply.body) == []
    meta = reply.body.find(types("MessageMetadata"))
    assert meta is not None and meta.get("Id") == "SIGNED_BY_SMEV"
    assert text(meta, types("MessageId")) == request_id
    assert text(meta, f"{types('Sender')}/{types('Mnemonic')}") == "dept-a"
    assert text(meta, types("Status")) == "requestIsQueued"
    assert _signatures(reply.tree, sim_trust) == {"SMEVSignature": True}

    # GetRequest (the provider, filtering by type): the request, signed twice, with ReplyTo
    reply = await provider.call(get_request(REQ))
    assert validate(reply.body) == []
    request_message = message(reply, "RequestMessage")
    assert request_message is not None
    assert metadata_id(request_message) == request_id
    content = primary_content(request_message)
    assert content is not None and etree.QName(content).text == REQ
    reply_to = text(request_message, f"{types('Request')}/{types('ReplyTo')}")
    assert reply_to == sim.sent_requests[0].reply_to
    assert _signatures(reply.tree, both) == {
        "SenderInformationSystemSignature": True,  # dept-a's own signature, passed on
        "SMEVSignature": True,
    }
    # locked until acknowledged
    assert message(await provider.call(get_request()), "RequestMessage") is None
    reply = await provider.call(ack(request_id))
    assert reply.status == 200 and reply.body.tag == types("AckResponse")
    assert validate(reply.body) == []

    # SendResponse to the ReplyTo
    response_id = new_id()
    reply = await provider.call(
        send_response(reply_to, payload(name="Resp", text="pong"), response_id)
    )
    assert reply.status == 200, reply.raw
    assert validate(reply.body) == []
    assert text(reply.body, f"{types('MessageMetadata')}/{types('Status')}") == "responseIsQueued"
    assert [r.original_message_id for r in sim.responses_for(request_id)] == [request_id]

    # GetResponse (the consumer): two SMEV statuses, then the answer, each acknowledged
    seen: list[str | None] = []
    while True:
        reply = await client.call(get_response())
        response_message = message(reply, "ResponseMessage")
        if response_message is None:
            break
        assert validate(reply.body) == []
        assert (
            text(response_message, f"{types('Response')}/{types('OriginalMessageId')}")
            == request_id
        )
        category = status_category(response_message)
        seen.append(category)
        if category is None:
            assert metadata_id(response_message) == response_id
            answer = primary_content(response_message)
            assert answer is not None and answer.findtext("{*}Value") == "pong"
            assert _signatures(reply.tree, both) == {
                "SenderInformationSystemSignature": True,  # agency-b's signature
                "SMEVSignature": True,
            }
        assert (await client.call(ack(metadata_id(response_message)))).status == 200
    assert seen == ["requestIsQueued", "messageIsDelivered", None]
    assert [op for op, _ in sim.requests_received] == [
        "SendRequest",
        "GetRequest",
        "GetRequest",
        "Ack",
        "SendResponse",
        *["GetResponse", "Ack"] * 3,
        "GetResponse",
    ]
    assert sim.requests_received[0] == ("SendRequest", request_id)


async def test_get_status_channel(
    make_sim: SimFactory, sim_pki: SimPki, client: SoapClient
) -> None:
    sim = await make_sim(trust=sim_pki.ca, status_channel="GetStatus", human_readable_names=True)
    client.url = sim.url
    request_id = new_id()
    assert (await client.call(send_request(payload(), request_id))).status == 200
    reply = await client.call(get_status())
    assert validate(reply.body) == []
    status = message(reply, "SmevAsyncProcessingMessage")
    assert status is not None
    data = status.find(types("AsyncProcessingStatusData"))
    assert data is not None and data.get("Id") == "SIGNED_BY_SMEV"
    assert (
        text(data, f"{types('AsyncProcessingStatus')}/{types('OriginalMessageId')}") == request_id
    )
    assert (
        text(data, f"{types('AsyncProcessingStatus')}/{types('StatusCategory')}")
        == "requestIsQueued"
    )
    assert sim.ca_certificate is not None
    assert _signatures(reply.tree, GostTrustStore([sim.ca_certificate])) == {"SMEVSignature": True}
    # statuses from GetStatus need no Ack; nothing else is waiting
    assert message(await client.call(get_status()), "SmevAsyncProcessingMessage") is None
    assert message(await client.call(get_response()), "ResponseMessage") is None


async def test_replies_omit_human_readable_name_like_real_smev(
    make_sim: SimFactory, anonymous: SoapClient
) -> None:
    sim = await make_sim(require_signature=False)
    anonymous.url = sim.url
    reply = await anonymous.call(send_request(payload()))
    assert reply.status == 200
    sender = reply.body.find(f"{types('MessageMetadata')}/{types('Sender')}")
    assert sender is not None and [etree.QName(c).localname for c in sender] == ["Mnemonic"]
    assert text(sender, types("Mnemonic")) == "UNSIGNED"
    problems = validate(reply.body)
    assert problems and all("HumanReadableName" in p.message for p in problems)


async def test_unsigned_request_when_allowed_and_test_message(
    open_sim: SmevSimulator, anonymous: SoapClient
) -> None:
    reply = await anonymous.call(send_request(payload(), test_message=True))
    assert reply.status == 200
    assert open_sim.sent_requests[0].test_message
    reply = await anonymous.call(get_request())
    request_message = message(reply, "RequestMessage")
    assert request_message is not None
    request = request_message.find(types("Request"))
    assert request is not None
    # no sender signature to pass on; SMEV still signs
    assert request.find(types("SenderInformationSystemSignature")) is None
    assert request_message.find(types("SMEVSignature")) is not None
    assert request.find(f"{types('SenderProvidedRequestData')}/{types('TestMessage')}") is not None
    assert request.find(basic("AttachmentContentList")) is None
