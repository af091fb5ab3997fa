"""HTTP-level behaviour: recording, MTOM/XOP input, WSDL/XSD serving, the control endpoints."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import aiohttp
from lxml import etree

from adapters.smev.simulator import SmevSimulator
from adapters.smev.simulator.ns import XOP_NS, basic
from adapters.smev.simulator.schema import SCHEMA_FILES, schema_dir
from tests.adapters.smev.simulator.client import (
    SoapClient,
    ack,
    get_request,
    message,
    payload,
    send_request,
    send_response,
    text,
)
from tests.adapters.smev.simulator.conftest import SimFactory

# md5 of the vendored files, as listed in xsd/smev3/SOURCES.md (unchanged upstream copies)
VENDORED_MD5 = {
    "smev-message-exchange-service-1.3.wsdl": "497d6e4844802500c68897cea8eacd6d",
    "smev-message-exchange-types-1.3.xsd": "f9aae82a58c89a3679b743fbef31ebec",
    "smev-message-exchange-basic-1.3.xsd": "ee97526233dedc2126855f9124682965",
    "smev-message-exchange-faults-1.3.xsd": "b9b7baa20081b98f565440837af30a3a",
    "smev-message-exchange-routing-1.3.xsd": "02683e115692b254294aeaa9082ff559",
    "smev-message-exchange-directive-1.3.xsd": "840e453ed1ca3dbb6912013145f88c8c",
}


def test_vendored_schemas_are_unchanged() -> None:
    assert set(VENDORED_MD5) == set(SCHEMA_FILES)
    for name, md5 in VENDORED_MD5.items():
        digest = hashlib.md5((schema_dir() / name).read_bytes(), usedforsecurity=False)
        assert digest.hexdigest() == md5, name


async def test_record_dir(make_sim: SimFactory, anonymous: SoapClient, tmp_path: Path) -> None:
    sim = await make_sim(require_signature=False, record_dir=tmp_path / "rec")
    anonymous.url = sim.url
    data = anonymous.build(send_request(payload()))
    assert (await anonymous.post(data)).status == 200
    await anonymous.call(ack("00000000-0000-1000-8000-000000000000"))  # a fault, still recorded
    await anonymous.post(b"garbage")
    names = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert [name.split("-", 2)[2] for name in names] == [
        "SendRequest.xml",
        "Ack.xml",
        "Invalid.xml",
    ]
    assert (tmp_path / "rec" / names[0]).read_bytes() == data


async def test_mtom_request_is_flattened(open_sim: SmevSimulator, anonymous: SoapClient) -> None:
    binary = bytes(range(256)) + b"\r\n--not-a-boundary\r\n"
    request = send_request(payload(), attachments={"doc1": b"placeholder"})
    content = request.find(f".//{basic('AttachmentContent')}/{basic('Content')}")
    assert content is not None
    content.text = None
    etree.SubElement(content, f"{{{XOP_NS}}}Include", nsmap={"xop": XOP_NS}).set(
        "href", "cid:doc1%40example.org"
    )
    boundary = "uuid:6b0a7c1e"
    body = (
        f"--{boundary}\r\n"
        'Content-Type: application/xop+xml; charset=UTF-8; type="text/xml"\r\n'
        "Content-Transfer-Encoding: binary\r\n"
        "Content-ID: <root.message@cxf.apache.org>\r\n\r\n"
    ).encode() + anonymous.build(request)
    body += (
        f"\r\n--{boundary}\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "Content-ID: <doc1@example.org>\r\n\r\n"
    ).encode() + binary
    body += f"\r\n--{boundary}--\r\n".encode()
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        'start="<root.message@cxf.apache.org>"; start-info="text/xml"'
    )
    reply = await anonymous.post(body, content_type)
    assert reply.status == 200, reply.raw
    assert open_sim.sent_requests[0].attachments == {"doc1": binary}
    # the provider gets it inline (base64)
    request_message = message(await anonymous.call(get_request()), "RequestMessage")
    assert request_message is not None
    inline = text(request_message, f".//{basic('AttachmentContent')}/{basic('Content')}")
    assert base64.b64decode(inline) == binary


async def test_wsdl_and_schemas_are_served(
    open_sim: SmevSimulator, session: aiohttp.ClientSession
) -> None:
    async with session.get(open_sim.url + "?wsdl") as response:
        wsdl = await response.read()
    assert response.status == 200
    assert b"SMEVMessageExchangeService" in wsdl and open_sim.url.encode() in wsdl
    async with session.get(open_sim.url + "smev-message-exchange-types-1.3.xsd") as response:
        assert response.status == 200
        assert (
            await response.read()
            == (schema_dir() / "smev-message-exchange-types-1.3.xsd").read_bytes()
        )
    async with session.get(open_sim.url + "etc-passwd") as response:
        assert response.status == 404


async def test_control_inject_and_responses(
    open_sim: SmevSimulator, anonymous: SoapClient, session: aiohttp.ClientSession
) -> None:
    xml = etree.tostring(payload("urn://agency/q/1.0", "Query"))
    async with session.post(open_sim.url + "control/inject?sender=FNS01", data=xml) as response:
        assert response.status == 200
        injected = await response.json()
    request_message = message(await anonymous.call(get_request()), "RequestMessage")
    assert request_message is not None
    assert text(request_message, ".//{*}ReplyTo") == injected["reply_to"]
    reply = await anonymous.call(send_response(injected["reply_to"], payload("urn://hub/1.0", "A")))
    assert reply.status == 200
    url = open_sim.url + "control/responses?message_id=" + injected["message_id"]
    async with session.get(url) as response:
        [item] = await response.json()
    assert item["kind"] == "content" and item["message_type"] == "{urn://hub/1.0}A"
    async with session.get(open_sim.url + "control") as response:
        state = await response.json()
    assert state["sent_responses"] == 1 and state["queues"]["unacknowledged"] == 1
    async with session.post(open_sim.url + "control/inject", data=b"<bad") as response:
        assert response.status == 400
