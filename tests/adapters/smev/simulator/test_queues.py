"""Queues: Ack locking and redelivery, the provider side (inject_request), the type registry."""

from __future__ import annotations

import asyncio
import base64

from lxml import etree

from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.xmldsig import verify
from adapters.smev.simulator import Attachment, SmevSimulator
from adapters.smev.simulator.ns import basic, types
from adapters.smev.simulator.schema import validate
from tests.adapters.smev.simulator.client import (
    SoapClient,
    ack,
    get_request,
    get_response,
    message,
    metadata_id,
    payload,
    primary_content,
    send_request,
    send_response,
    status_category,
    text,
)
from tests.adapters.smev.simulator.conftest import SimFactory
from tests.adapters.smev.simulator.test_faults import assert_fault


async def test_lock_until_ack_and_redelivery(
    open_sim: SmevSimulator, anonymous: SoapClient
) -> None:
    assert open_sim.lock_timeout == 1.0
    message_id = open_sim.inject_request(payload(text="once"))
    first = message(await anonymous.call(get_request()), "RequestMessage")
    assert first is not None and metadata_id(first) == message_id
    # locked: not handed out again before the timeout
    assert message(await anonymous.call(get_request()), "RequestMessage") is None
    assert open_sim.queue_sizes()["unacknowledged"] == 1
    await asyncio.sleep(1.1)
    again = message(await anonymous.call(get_request()), "RequestMessage")
    assert again is not None and metadata_id(again) == message_id
    assert etree.tostring(again) == etree.tostring(first)  # the same signed message
    # acknowledged: gone for good
    assert (await anonymous.call(ack(message_id))).status == 200
    open_sim.lock_timeout = 0.1  # settable at any time; an acknowledged message never returns
    await asyncio.sleep(0.2)
    assert message(await anonymous.call(get_request()), "RequestMessage") is None
    assert_fault(await anonymous.call(ack(message_id)), "TargetMessageIsNotFound")
    assert open_sim.acks == [(message_id, True)]


async def test_ack_accepted_false_also_removes(
    open_sim: SmevSimulator, anonymous: SoapClient
) -> None:
    message_id = open_sim.inject_request(payload())
    assert message(await anonymous.call(get_request()), "RequestMessage") is not None
    assert (await anonymous.call(ack(message_id, accepted=False))).status == 200
    assert open_sim.acks == [(message_id, False)]
    assert open_sim.queue_sizes()["requests"] == {}


async def test_injected_request_and_the_hubs_response(
    open_sim: SmevSimulator, anonymous: SoapClient
) -> None:
    message_id = open_sim.inject_request(
        payload("urn://agency/q/1.0", "Query", "42"),
        "REQUEST",
        "FNS01",
        attachments=[Attachment("scan1", b"\x00\x01binary", "application/pdf")],
    )
    # a selector for another type does not see it
    other = message(await anonymous.call(get_request("{urn://other/1.0}Query")), "RequestMessage")
    assert other is None
    reply = await anonymous.call(get_request("{urn://agency/q/1.0}Query"))
    assert validate(reply.body) == []
    request_message = message(reply, "RequestMessage")
    assert request_message is not None
    assert text(request_message, f".//{types('Sender')}/{types('Mnemonic')}") == "FNS01"
    content = request_message.find(f"{basic('AttachmentContentList')}/{basic('AttachmentContent')}")
    assert content is not None and text(content, basic("Id")) == "scan1"
    assert base64.b64decode(text(content, basic("Content"))) == b"\x00\x01binary"
    assert open_sim.ca_certificate is not None
    reports = verify(reply.tree, trust=GostTrustStore([open_sim.ca_certificate]))
    assert [(r.container, r.ok) for r in reports] == [
        ("SenderInformationSystemSignature", True),  # the simulated agency
        ("SMEVSignature", True),
    ]
    reply_to = text(request_message, f"{types('Request')}/{types('ReplyTo')}")
    assert reply_to == open_sim.reply_to_for(message_id)
    assert (await anonymous.call(ack(message_id))).status == 200

    assert (
        await anonymous.call(send_response(reply_to, payload("urn://hub/a/1.0", "Answer")))
    ).status == 200
    rejected = etree.Element(types("RequestRejected"))
    etree.SubElement(rejected, types("RejectionReasonCode")).text = "NO_DATA"
    etree.SubElement(rejected, types("RejectionReasonDescription")).text = "nothing"
    assert (await anonymous.call(send_response(reply_to, rejected))).status == 200

    responses = open_sim.responses_for(message_id)
    assert [(r.kind, r.message_type) for r in responses] == [
        ("content", "{urn://hub/a/1.0}Answer"),
        ("rejected", None),
    ]
    assert responses[0].to == reply_to and responses[0].sender == "UNSIGNED"
    assert responses[0].content is not None and responses[0].content.findtext("{*}Value") == "x"
    assert open_sim.sent_responses == responses
    # an injected request's sender is simulated: nothing is queued for anyone's GetResponse
    assert open_sim.queue_sizes()["responses"] == {}


async def test_unregistered_type_is_rejected_asynchronously(
    make_sim: SimFactory, anonymous: SoapClient
) -> None:
    sim = await make_sim(
        require_signature=False, message_types={"{urn://known/1.0}Req"}, human_readable_names=True
    )
    anonymous.url = sim.url
    assert (await anonymous.call(send_request(payload("urn://unknown/1.0")))).status == 200
    received = []
    for _ in range(2):
        response_message = message(await anonymous.call(get_response()), "ResponseMessage")
        assert response_message is not None
        received.append(response_message)
        await anonymous.call(ack(metadata_id(response_message)))
    assert [status_category(m) for m in received] == ["requestIsQueued", "requestIsRejectedBySmev"]
    fault = received[1].find(f".//{types('SmevFault')}")
    assert fault is not None and "urn://unknown/1.0" in text(fault, basic("Description"))
    assert message(await anonymous.call(get_request()), "RequestMessage") is None


async def test_statuses_can_be_switched_off(open_sim: SmevSimulator, anonymous: SoapClient) -> None:
    open_sim.emit_statuses = False
    assert (await anonymous.call(send_request(payload()))).status == 200
    assert message(await anonymous.call(get_response()), "ResponseMessage") is None
    request_message = message(await anonymous.call(get_request()), "RequestMessage")
    assert request_message is not None
    assert primary_content(request_message) is not None
