"""The simulated agency: a Python responder and the declarative responder file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lxml import etree

from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.xmldsig import verify
from adapters.smev.errors import ResponderConfigError
from adapters.smev.simulator import FileResponder
from adapters.smev.simulator.ns import types
from tests.adapters.smev.simulator.client import (
    Reply,
    SoapClient,
    ack,
    get_request,
    get_response,
    message,
    metadata_id,
    new_id,
    payload,
    primary_content,
    send_request,
    status_category,
    text,
)
from tests.adapters.smev.simulator.conftest import SimFactory

REQ = "{urn://example/req/1.0}Req"


async def _responses(client: SoapClient) -> list[tuple[Reply, etree._Element]]:
    """Everything in the caller's GetResponse queue, acknowledged."""
    found = []
    while (
        response_message := message(reply := await client.call(get_response()), "ResponseMessage")
    ) is not None:
        found.append((reply, response_message))
        assert (await client.call(ack(metadata_id(response_message)))).status == 200
    return found


async def test_async_callable_responder_answers(
    make_sim: SimFactory, anonymous: SoapClient
) -> None:
    calls: list[tuple[str, str]] = []

    async def responder(content: etree._Element, message_type: str) -> etree._Element | None:
        calls.append((message_type, content.findtext("{*}Value") or ""))
        if message_type != REQ:
            return None  # not ours: left for GetRequest
        return payload(
            "urn://example/resp/1.0", "Resp", "answer to " + (content.findtext("{*}Value") or "")
        )

    sim = await make_sim(require_signature=False, responder=responder, human_readable_names=True)
    anonymous.url = sim.url
    request_id = new_id()
    reply = await anonymous.call(send_request(payload(text="q1"), request_id))
    assert text(reply.body, f".//{types('Recipient')}/{types('Mnemonic')}") == "SIMAGENCY"
    other_id = new_id()
    assert (
        await anonymous.call(send_request(payload("urn://other/1.0", "Other"), other_id))
    ).status == 200
    await sim.wait_idle()
    assert calls == [(REQ, "q1"), ("{urn://other/1.0}Other", "x")]

    found = await _responses(anonymous)
    by_original = {
        (text(m, f"{types('Response')}/{types('OriginalMessageId')}"), status_category(m)): (r, m)
        for r, m in found
    }
    assert set(by_original) == {
        (request_id, "requestIsQueued"),
        (request_id, "messageIsDelivered"),
        (request_id, None),
        (other_id, "requestIsQueued"),
    }
    reply, answer = by_original[(request_id, None)]
    content = primary_content(answer)
    assert content is not None and content.findtext("{*}Value") == "answer to q1"
    provided = answer.find(f"{types('Response')}/{types('SenderProvidedResponseData')}")
    assert provided is not None
    assert text(provided, types("To")) == sim.sent_requests[0].reply_to
    assert sim.ca_certificate is not None
    reports = verify(reply.tree, trust=GostTrustStore([sim.ca_certificate]))
    assert [(r.container, r.ok, r.certificate and r.certificate.name) for r in reports] == [
        ("SenderInformationSystemSignature", True, "smev-simulator-agency"),
        ("SMEVSignature", True, "smev-simulator"),
    ]
    # the request the responder declined waits for a provider
    request_message = message(await anonymous.call(get_request()), "RequestMessage")
    assert request_message is not None and metadata_id(request_message) == other_id


async def test_responder_failure_becomes_a_rejection(
    make_sim: SimFactory, anonymous: SoapClient
) -> None:
    def responder(content: etree._Element, message_type: str) -> etree._Element | None:
        raise RuntimeError("agency down")

    sim = await make_sim(require_signature=False, responder=responder, emit_statuses=False)
    anonymous.url = sim.url
    assert (await anonymous.call(send_request(payload()))).status == 200
    await sim.wait_idle()
    [(_, answer)] = await _responses(anonymous)
    assert text(answer, f".//{types('RejectionReasonCode')}") == "FAILURE"
    assert "agency down" in text(answer, f".//{types('RejectionReasonDescription')}")


def _write_rules(tmp_path: Path) -> Path:
    (tmp_path / "resp.xml").write_text(
        '<r:Resp xmlns:r="urn://example/resp/1.0"><r:Value>from file</r:Value></r:Resp>'
    )
    rules = tmp_path / "responder.yaml"
    rules.write_text(
        f'"{REQ}":\n  file: resp.xml\n  delay: 0.3\n'
        '"{urn://example/secret/1.0}Secret":\n  reject: ACCESS_DENIED\n  description: not for you\n'
    )
    return rules


async def test_file_responder_with_delay_and_rejection(
    make_sim: SimFactory, anonymous: SoapClient, tmp_path: Path
) -> None:
    responder = FileResponder.from_file(_write_rules(tmp_path))
    assert responder.delay_for(REQ) == 0.3 and responder.delay_for("{urn://x}Y") == 0.0
    sim = await make_sim(require_signature=False, responder=responder, emit_statuses=False)
    anonymous.url = sim.url
    started = time.monotonic()
    assert (await anonymous.call(send_request(payload()))).status == 200
    assert (
        await anonymous.call(send_request(payload("urn://example/secret/1.0", "Secret")))
    ).status == 200
    early = sim.queue_sizes()["responses"].get("UNSIGNED", 0)
    if time.monotonic() - started < 0.25:  # the rejection comes at once, the answer after 0.3 s
        assert early == 1
    await sim.wait_idle()
    assert time.monotonic() - started >= 0.3
    found = await _responses(anonymous)
    assert len(found) == 2
    [answer] = [m for _, m in found if primary_content(m) is not None]
    [rejected] = [m for _, m in found if primary_content(m) is None]
    assert text(rejected, f".//{types('RejectionReasonCode')}") == "ACCESS_DENIED"
    content = primary_content(answer)
    assert content is not None and content.findtext("{*}Value") == "from file"


def test_responder_file_errors(tmp_path: Path) -> None:
    cases = {
        "bad-key.json": json.dumps({"Req": "x.xml"}),
        "missing.json": json.dumps({REQ: "nowhere.xml"}),
        "both.json": json.dumps({REQ: {"file": "x.xml", "reject": "NO_DATA"}}),
        "code.json": json.dumps({REQ: {"reject": "MAYBE"}}),
        "delay.yaml": f'"{REQ}":\n  reject: NO_DATA\n  delay: -1\n',
        "empty.yaml": "",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(ResponderConfigError):
            FileResponder.from_file(path)
