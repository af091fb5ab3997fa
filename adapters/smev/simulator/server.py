"""The SMEV 3 simulator: an aiohttp SOAP 1.1 server with the six message-exchange 1.3 operations.

This module is the server: ``SmevSimulator`` (its settings, switches and lifecycle, the API
tests use), the SOAP endpoint, ``/control`` and the WSDL. The operations themselves are in
``operations.py``, the queues in ``state.py``.

See docs/smev-simulator.md. In short: every request Body is validated against the vendored
1.3 XSD, the caller's signature is verified (its certificate's CN names the caller), requests
are queued by type for GetRequest, responses and SMEV statuses per original sender for
GetResponse (or GetStatus), handed-out messages stay locked until Ack or ``lock_timeout``, and
everything the simulator hands out is signed like SMEV does (``SIGNED_BY_SMEV`` +
``SMEVSignature``). A responder can play the agency; ``inject_request`` plays an agency that
sends requests to the hub.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web
from lxml import etree

from adapters.smev.crypto.certificates import Certificate, GostTrustStore
from adapters.smev.crypto.xmldsig import XmlSigner
from adapters.smev.errors import SimulatorFault, SoapError, XmlInputError
from adapters.smev.parsing import parse_xml
from adapters.smev.simulator import messages as m
from adapters.smev.simulator.faults import (
    fault_envelope,
    invalid_content_fault,
    plain_fault_envelope,
    void_fault,
)
from adapters.smev.simulator.filestore import SimFileStore
from adapters.smev.simulator.keys import SimulatorKeys, development_keys
from adapters.smev.simulator.ns import OPERATIONS, TYPES_NS
from adapters.smev.simulator.operations import (
    Operations,
    check_message_id,
    message_id_of,
    serialize,
)
from adapters.smev.simulator.responder import Responder
from adapters.smev.simulator.schema import SCHEMA_FILES, WSDL, lxml_schema, schema_dir, validate
from adapters.smev.simulator.soap import CONTENT_TYPE, envelope
from adapters.smev.simulator.soap import parse_request as parse_soap
from adapters.smev.simulator.state import RequestRecord, SentRequest, SentResponse, SimulatorState

log = logging.getLogger("adapters.smev.simulator")

StatusChannel = Literal["GetResponse", "GetStatus"]
TrustArg = GostTrustStore | str | Path | Sequence[str | Path] | None
_T = TypeVar("_T")

MAX_BODY = 64 * 1024 * 1024
WSDL_PLACEHOLDER = b"http://localhost:8080/transport_1_0_2/"


def _trust_store(trust: TrustArg) -> GostTrustStore | None:
    if trust is None or isinstance(trust, GostTrustStore):
        return trust
    paths = [trust] if isinstance(trust, str | Path) else list(trust)
    return GostTrustStore.from_files(Path(p) for p in paths)


class SmevSimulator:
    """A local stand-in for SMEV 3 (message exchange 1.3, SOAP 1.1 over HTTP).

    ``trust``: a GostTrustStore or CA certificate file(s) the callers' certificates must chain to
    (None: only the signature math and the validity dates are checked). ``responder``: plays the
    agency for the request types it answers. ``lock_timeout``: seconds a handed-out message
    stays locked waiting for its Ack before it is handed out again.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        record_dir: str | Path | None = None,
        trust: TrustArg = None,
        responder: Responder | None = None,
        lock_timeout: float = 30.0,
        *,
        signer: XmlSigner | None = None,
        agency_signer: XmlSigner | None = None,
        mnemonics: dict[str, str] | None = None,
        require_signature: bool = True,
        message_types: Iterable[str] | None = None,
        status_channel: StatusChannel = "GetResponse",
        emit_statuses: bool = True,
        human_readable_names: bool = False,
        provider_mnemonic: str = "SIMPROVIDER",
        agency_mnemonic: str = "SIMAGENCY",
        smev_mnemonic: str = "smev",
        access_log: bool = False,
        file_storage: bool | SimFileStore = False,
    ) -> None:
        self.host = host
        self.port = port
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self.trust = _trust_store(trust)
        self.responder = responder
        self.lock_timeout = float(lock_timeout)
        # switches, settable at any time (also through POST /control)
        self.overflow = False
        self.failure = False
        self.require_signature = require_signature
        self.emit_statuses = emit_statuses
        self.status_channel: StatusChannel = status_channel
        self.human_readable_names = human_readable_names
        self.message_types: set[str] | None = None if message_types is None else set(message_types)
        self.mnemonics = dict(mnemonics or {})
        self.provider_mnemonic = provider_mnemonic
        self.agency_mnemonic = agency_mnemonic
        self.smev_mnemonic = smev_mnemonic
        self.anonymous_mnemonic = "UNSIGNED"
        # what happened
        self.requests_received: list[tuple[str, str | None]] = []
        self.sent_requests: list[SentRequest] = []
        self.sent_responses: list[SentResponse] = []
        self.acks: list[tuple[str, bool]] = []
        # internals
        self._signer = signer
        self._agency_signer = agency_signer
        self._keys: SimulatorKeys | None = None
        self._access_log = access_log
        # SMEV's file storage (FTP) for large files: a SimFileStore, or True for a new one
        self.file_store: SimFileStore | None = (
            file_storage if isinstance(file_storage, SimFileStore)
            else SimFileStore() if file_storage else None
        )  # fmt: skip
        self.state = SimulatorState()  # the requests it knows, its queues and their locks
        self._operations = Operations(self, self.state)
        self._record_seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._executor: ThreadPoolExecutor | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Create keys if needed, then listen; ``url`` is valid afterwards."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smev-sim")
        self._keys = await self.run_blocking(self._make_keys)
        lxml_schema()  # fail early if the schemas are missing
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/control", self._control_get)
        app.router.add_post("/control", self._control_post)
        app.router.add_post("/control/inject", self._control_inject)
        app.router.add_get("/control/responses", self._control_responses)
        app.router.add_get("/", self._index)
        app.router.add_get("/{name}", self._schema_file)
        app.router.add_post("/{tail:.*}", self._soap)
        runner = web.AppRunner(app, access_log=log if self._access_log else None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.file_store is not None:
            await asyncio.to_thread(self.file_store.start)
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("SMEV 3 simulator listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and cancel pending responder answers."""
        await self._operations.cancel()
        if self.file_store is not None:
            await asyncio.to_thread(self.file_store.stop)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def __aenter__(self) -> SmevSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The SOAP endpoint, e.g. ``http://127.0.0.1:8089/`` (any POST path works)."""
        if self._runner is None:
            raise RuntimeError("the simulator is not running: await start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def ca_certificate(self) -> Certificate | None:
        """The CA of the simulator's generated keys (None when it was given its own key)."""
        return None if self._keys is None else self._keys.ca

    @property
    def ca_pem(self) -> bytes | None:
        ca = self.ca_certificate
        return None if ca is None else ca.to_pem()

    @property
    def smev_certificate_der(self) -> bytes:
        return self.keys.smev.certificate_der

    def _make_keys(self) -> SimulatorKeys:
        if self._signer is not None:
            return SimulatorKeys(None, self._signer, self._agency_signer or self._signer)
        dev = development_keys()
        return SimulatorKeys(dev.ca, dev.smev, self._agency_signer or dev.agency)

    @property
    def keys(self) -> SimulatorKeys:
        """The keys the simulator signs with (SMEV's and the simulated agency's)."""
        if self._keys is None:
            raise RuntimeError("the simulator is not running: await start() first")
        return self._keys

    async def run_blocking(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Crypto and other slow pure-Python work, off the event loop (one worker thread)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))

    async def wait_idle(self) -> None:
        """Wait until pending responder answers (including their delays) are queued."""
        await self._operations.wait_idle()

    # --- the provider side for the hub ------------------------------------------------------

    def inject_request(
        self,
        payload_element: etree._Element,
        message_type: str | None = None,
        sender_mnemonic: str | None = None,
        *,
        message_id: str | None = None,
        test_message: bool = False,
        attachments: Sequence[m.Attachment] = (),
        reference_message_id: str | None = None,
    ) -> str:
        """Queue a request from a simulated agency for GetRequest; returns its MessageID.

        ``message_type``: the queue key in Clark notation (default: the payload's root
        element), or "REQUEST"/"BROADCAST" for MessageMetadata/MessageType. The request is
        signed (SenderInformationSystemSignature) by the simulated agency's key and by SMEV
        when handed out. Responses sent to its ReplyTo land in ``sent_responses``.
        """
        root_type = etree.QName(payload_element).text
        smev_type = "REQUEST"
        if message_type in ("REQUEST", "BROADCAST"):
            smev_type, queue_type = message_type, root_type
        else:
            queue_type = message_type or root_type
        message_id = message_id or str(uuid.uuid1())
        _check_message_id_or_raise(message_id)
        if message_id in self.state.message_ids:
            raise ValueError(f"MessageID {message_id} was already used")
        sender = sender_mnemonic or self.agency_mnemonic
        provided = m.provided_request(
            message_id=message_id,
            content=payload_element,
            test_message=test_message,
            attachments=attachments,
            reference_message_id=reference_message_id,
        )
        content_list = m.attachment_content_list(attachments)
        record = RequestRecord(
            message_id=message_id,
            message_type=queue_type,
            smev_type=smev_type,
            sender=sender,
            origin="injected",
            reply_to=self.state.reply_to(message_id, sender),
            provided=serialize(provided),
            sender_signature=None,
            attachments=None if content_list is None else serialize(content_list),
            reference_message_id=reference_message_id,
            received_at=m.now(),
        )
        self.state.remember(record)
        self._operations.queue_request(record)
        return message_id

    def responses_for(self, message_id: str) -> list[SentResponse]:
        """SendResponses answering the request with this MessageID, in arrival order."""
        return [r for r in self.sent_responses if r.original_message_id == message_id]

    def reply_to_for(self, message_id: str) -> str | None:
        """The ReplyTo token issued for a request (injected or sent), None if unknown."""
        record = self.state.by_message_id.get(message_id)
        return None if record is None else record.reply_to

    def queue_sizes(self) -> dict[str, Any]:
        """Messages waiting, by queue, and how many await their Ack (``SimulatorState.sizes``)."""
        return self.state.sizes()

    # --- HTTP ---------------------------------------------------------------------------

    def _record(self, raw: bytes, operation: str) -> None:
        if self.record_dir is None:
            return
        stamp = m.now().strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{next(self._record_seq):04d}-{operation}.xml"
        try:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            (self.record_dir / name).write_bytes(raw)
        except OSError:
            log.exception("cannot record the request in %s", self.record_dir)

    async def _soap(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            parsed = parse_soap(raw, request.headers.get("Content-Type", "text/xml"))
        except SoapError as exc:
            self._record(raw, "Invalid")
            code = "soap:VersionMismatch" if exc.version_mismatch else "soap:Client"
            return self._reply(plain_fault_envelope(exc.message, code=code), status=500)
        child = parsed.body_child
        qname = etree.QName(child)
        operation = OPERATIONS.get(qname.localname) if qname.namespace == TYPES_NS else None
        self._record(raw, operation or "Unknown")
        try:
            if operation is None:
                raise invalid_content_fault(
                    [],
                    f"Неизвестная операция {qname.text}: ожидается запрос СМЭВ 3 "
                    f"message-exchange 1.3 ({TYPES_NS})",
                )
            self.requests_received.append((operation, message_id_of(operation, child)))
            if self.failure:
                raise void_fault(
                    "SMEVFailure", "Сбой в инфраструктуре СМЭВ (симулятор)", server=True
                )
            issues = validate(child)
            if issues:
                raise invalid_content_fault(
                    issues, "Бизнес-конверт не соответствует схеме СМЭВ 3 (1.3)"
                )
            body = await self._operations.perform(operation, parsed, raw)
        except SimulatorFault as fault:
            log.info("%s -> fault %s: %s", operation or qname.text, fault.name, fault.message)
            return self._reply(fault_envelope(fault), status=500)
        return self._reply(envelope(body))

    @staticmethod
    def _reply(body: bytes, status: int = 200) -> web.Response:
        return web.Response(status=status, body=body, headers={"Content-Type": CONTENT_TYPE})

    # --- control, WSDL --------------------------------------------------------------------

    def _control_view(self) -> dict[str, Any]:
        return {
            "overflow": self.overflow,
            "failure": self.failure,
            "lock_timeout": self.lock_timeout,
            "require_signature": self.require_signature,
            "emit_statuses": self.emit_statuses,
            "status_channel": self.status_channel,
            "human_readable_names": self.human_readable_names,
            "queues": self.queue_sizes(),
            "requests_received": len(self.requests_received),
            "sent_requests": len(self.sent_requests),
            "sent_responses": len(self.sent_responses),
        }

    async def _control_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._control_view())

    async def _control_post(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        if not isinstance(data, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        flags = (
            "overflow",
            "failure",
            "require_signature",
            "emit_statuses",
            "human_readable_names",
        )
        problems: list[str] = []
        for key, value in data.items():
            if key in flags and isinstance(value, bool):
                setattr(self, key, value)
            elif key == "lock_timeout" and isinstance(value, int | float) and value >= 0:
                self.lock_timeout = float(value)
            elif key == "status_channel" and value in ("GetResponse", "GetStatus"):
                self.status_channel = value
            else:
                problems.append(f"unsupported setting {key}={value!r}")
        if problems:
            return web.json_response({"error": "; ".join(problems)}, status=400)
        return web.json_response(self._control_view())

    async def _control_inject(self, request: web.Request) -> web.Response:
        try:
            payload = parse_xml(await request.read()).getroot()
        except XmlInputError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        try:
            message_id = self.inject_request(
                payload,
                request.query.get("type"),
                request.query.get("sender"),
                test_message=request.query.get("test") in ("1", "true"),
            )
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        record = self.state.by_message_id[message_id]
        return web.json_response({"message_id": message_id, "reply_to": record.reply_to})

    async def _control_responses(self, request: web.Request) -> web.Response:
        wanted = request.query.get("message_id")
        items = [
            {
                "message_id": r.message_id,
                "original_message_id": r.original_message_id,
                "to": r.to,
                "sender": r.sender,
                "kind": r.kind,
                "message_type": r.message_type,
                "content": None
                if r.content is None
                else etree.tostring(r.content, encoding="unicode"),
                "attachments": sorted(r.attachments),
                "received_at": r.received_at.isoformat(),
            }
            for r in self.sent_responses
            if wanted is None or r.original_message_id == wanted
        ]
        return web.json_response(items)

    async def _index(self, request: web.Request) -> web.Response:
        if "wsdl" in {key.lower() for key in request.query}:
            data = (schema_dir() / WSDL).read_bytes().replace(WSDL_PLACEHOLDER, self.url.encode())
            return web.Response(body=data, headers={"Content-Type": CONTENT_TYPE})
        text = (
            "SMEV 3 simulator (message exchange 1.3, SOAP 1.1).\n"
            f"POST SOAP requests to {self.url}; WSDL: {self.url}?wsdl; state: {self.url}control\n"
        )
        return web.Response(text=text)

    async def _schema_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in SCHEMA_FILES:
            raise web.HTTPNotFound()
        return web.Response(
            body=(schema_dir() / name).read_bytes(), headers={"Content-Type": CONTENT_TYPE}
        )


def _check_message_id_or_raise(message_id: str) -> None:
    try:
        check_message_id(message_id)
    except SimulatorFault as fault:
        raise ValueError(fault.message) from None
