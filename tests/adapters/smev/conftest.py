"""Shared fixtures for the SMEV tests (every folder below this one).

- samples and development PKI for the signature tests: ``data_dir``, ``dev_pki``, ``other_pki``,
  ``unsigned_request``;
- the adapter's: GOST keys, a scripted SMEV endpoint, a fake hub context.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from lxml import etree

from adapters.smev.adapter import SmevAdapter
from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.dev_ca import issue_gost_certificate
from adapters.smev.crypto.signers import load_signer
from adapters.smev.crypto.xmldsig import XmlSigner
from adapters.smev.protocol import messages as sm
from adapters.smev.protocol.soap import envelope
from adapters.smev.settings import SmevSettings
from hub.testing import FakeAdapterContext

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).resolve().parent / "data"  # captured SMEV samples (see its SOURCES.md)
XSD = ROOT / "xsd" / "smev3"
EXAMPLES = ROOT / "xsd" / "examples"
FAULTS_NS = sm.FAULTS_NS
TYPES_11 = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1"
EXTRACT_NS = "urn:interagency-hub:payload:rosreestr-extract:1.0"
EXTRACT_REQUEST = "{" + EXTRACT_NS + "}ExtractRequest"
EXTRACT_RESPONSE = "{" + EXTRACT_NS + "}ExtractResponse"


# ------------------------------------------------------------------ signature samples, dev PKI
@dataclass(frozen=True)
class DevPki:
    directory: Path
    ca: Path
    key: Path
    cert: Path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A dev GOST CA with participant 'dept-a' (issued once per session: keygen is slow-ish)."""
    directory = tmp_path_factory.mktemp("pki")
    key, cert = issue_gost_certificate("dept-a", directory)
    return DevPki(directory, directory / "ca-gost.pem", key, cert)


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A second, unrelated dev CA: its certificates must not be trusted by dev_pki's CA."""
    directory = tmp_path_factory.mktemp("other-pki")
    key, cert = issue_gost_certificate("intruder", directory)
    return DevPki(directory, directory / "ca-gost.pem", key, cert)


@pytest.fixture(scope="session")
def unsigned_request() -> bytes:
    """The MR example SendRequestRequest without its (GOST 2001) caller signature."""
    text = (DATA / "SendRequestRequest_MR_example_GOST2001_signed.xml").read_text("utf-8")
    text = re.sub(
        r"\s*<ns2:CallerInformationSystemSignature>.*</ns2:CallerInformationSystemSignature>",
        "",
        text,
        flags=re.S,
    )
    assert "Signature" not in text
    return text.encode("utf-8")


# ------------------------------------------------------------------------- the adapter's keys
@dataclass(frozen=True)
class GostPki:
    directory: Path
    ca: Path
    key: Path
    cert: Path

    def signer(self) -> XmlSigner:
        return load_signer(self.key, self.cert)

    def trust(self) -> GostTrustStore:
        return GostTrustStore.from_files([self.ca])


@pytest.fixture(scope="session")
def gost_pki(tmp_path_factory: pytest.TempPathFactory) -> GostPki:
    """A development GOST CA and the hub's information-system certificate (once a session)."""
    directory = tmp_path_factory.mktemp("smev-pki")
    key, cert = issue_gost_certificate("hub-is", directory)
    return GostPki(directory, directory / "ca-gost.pem", key, cert)


@pytest.fixture(scope="session")
def signer(gost_pki: GostPki) -> XmlSigner:
    return gost_pki.signer()


@pytest.fixture(scope="session")
def types_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / "smev-message-exchange-types-1.3.xsd")))


# --------------------------------------------------------------------------- scripted SMEV
@dataclass
class Scripted:
    """One canned HTTP reply."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/xml; charset=utf-8"
    delay: float = 0.0


def soap_reply(body_child: etree._Element) -> bytes:
    return bytes(etree.tostring(envelope(body_child), xml_declaration=True, encoding="UTF-8"))


def fault_reply(name: str, text: str = "", faultcode: str = "soap:Client") -> Scripted:
    fault = (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f"<soap:Fault><faultcode>{faultcode}</faultcode><faultstring>{text or name}</faultstring>"
        f'<detail><f:{name} xmlns:f="{FAULTS_NS}"/></detail></soap:Fault></soap:Body>'
        "</soap:Envelope>"
    )
    return Scripted(fault.encode(), status=500)


def send_ok(status: str = "requestIsQueued") -> Scripted:
    body = (
        f'<ns1:SendRequestResponse xmlns:ns1="{sm.TYPES_NS}"><ns1:MessageMetadata>'
        "<ns1:MessageType>REQUEST</ns1:MessageType>"
        "<ns1:SendingTimestamp>2026-03-16T10:00:00.000+03:00</ns1:SendingTimestamp>"
        f"<ns1:Status>{status}</ns1:Status></ns1:MessageMetadata></ns1:SendRequestResponse>"
    )
    return Scripted(soap_reply(etree.fromstring(body)))


def empty(operation: str) -> Scripted:
    return Scripted(soap_reply(etree.Element(f"{{{sm.TYPES_NS}}}{operation}")))


@dataclass
class FakeSmev:
    """An HTTP endpoint that answers each SOAP action from a script (default: empty queue)."""

    url: str = ""
    scripts: dict[str, list[Scripted]] = field(default_factory=dict)
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    log: list[str] | None = None  # shared with FakeAdapterContext to check the order of things

    def script(self, action: str, *replies: Scripted) -> None:
        self.scripts.setdefault(action, []).extend(replies)

    def calls(self, action: str) -> list[etree._Element]:
        return [etree.fromstring(body) for name, body in self.requests if name == action]

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.Response(text="<wsdl/>", content_type="text/xml")
        action = request.headers.get("SOAPAction", "").strip('"').removeprefix("urn:")
        body = await request.read()
        self.requests.append((action, body))
        if self.log is not None:
            self.log.append(f"smev:{action}")
        queue = self.scripts.get(action)
        reply = queue.pop(0) if queue else None
        if reply is None:
            defaults = {
                "GetResponse": empty("GetResponseResponse"),
                "GetRequest": empty("GetRequestResponse"),
                "Ack": Scripted(soap_reply(etree.Element(f"{{{sm.TYPES_NS}}}AckResponse"))),
                "SendResponse": send_ok("responseIsQueued"),
            }
            reply = defaults.get(action, send_ok())
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(
            body=reply.body, status=reply.status, headers={"Content-Type": reply.content_type}
        )


@pytest.fixture
async def fake_smev() -> AsyncIterator[FakeSmev]:
    smev = FakeSmev()
    app = web.Application()
    app.router.add_route("*", "/smev", smev.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    smev.url = f"http://127.0.0.1:{port}/smev"
    yield smev
    await runner.cleanup()


# ------------------------------------------------------------------------------ fake hub
MakeAdapter = Callable[..., Awaitable[tuple[SmevAdapter, FakeAdapterContext]]]


@pytest.fixture
async def make_adapter(fake_smev: FakeSmev, signer: XmlSigner) -> AsyncIterator[MakeAdapter]:
    """Started adapters (no polling loops unless asked) on the scripted endpoint."""
    made: list[SmevAdapter] = []

    async def make(**overrides: Any) -> tuple[SmevAdapter, FakeAdapterContext]:
        values: dict[str, Any] = {
            "url": fake_smev.url,
            "mnemonic": "HUB01",
            "cert": "unused.pem",
            "key": "unused.key.pem",
            "poll_responses": False,
            "poll_requests": False,
            "request_timeout": 2.0,
            "participants": {"ROSREESTR": "agency.rosreestr"},
            "requests": {EXTRACT_REQUEST: "dept.land"},
        }
        trust = overrides.pop("trust_store", None)
        values.update(overrides)
        adapter = SmevAdapter(SmevSettings(**values), signer, trust)
        context = FakeAdapterContext()
        fake_smev.log = context.log
        await adapter.start(context)
        made.append(adapter)
        return adapter, context

    yield make
    for adapter in made:
        await adapter.aclose()
