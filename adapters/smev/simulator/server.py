"""The SMEV 3 simulator: an aiohttp SOAP 1.1 server with the six message-exchange 1.3 operations.

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
import base64
import copy
import inspect
import itertools
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiohttp import web
from lxml import etree

from adapters.smev.crypto.certificates import Certificate, GostTrustStore
from adapters.smev.crypto.xmldsig import XmlSigner
from adapters.smev.errors import SimulatorFault, SoapError, XmlInputError
from adapters.smev.parsing import parse_xml
from adapters.smev.simulator import messages as m
from adapters.smev.simulator.auth import check_caller_signature
from adapters.smev.simulator.faults import (
    destination_overflow_fault,
    fault_envelope,
    invalid_content_fault,
    plain_fault_envelope,
    void_fault,
)
from adapters.smev.simulator.keys import SimulatorKeys, development_keys
from adapters.smev.simulator.ns import OPERATIONS, TYPES_NS, basic, types
from adapters.smev.simulator.responder import Responder, ResponderResult
from adapters.smev.simulator.schema import SCHEMA_FILES, WSDL, lxml_schema, schema_dir, validate
from adapters.smev.simulator.soap import CONTENT_TYPE, SoapRequest, envelope
from adapters.smev.simulator.soap import parse_request as parse_soap

log = logging.getLogger("adapters.smev.simulator")

StatusChannel = Literal["GetResponse", "GetStatus"]
TrustArg = GostTrustStore | str | Path | Sequence[str | Path] | None
_T = TypeVar("_T")

MAX_BODY = 64 * 1024 * 1024
WSDL_PLACEHOLDER = b"http://localhost:8080/transport_1_0_2/"


# --- what tests and developers look at ---------------------------------------------------


@dataclass(frozen=True)
class SentRequest:
    """A SendRequest the simulator accepted (a client -> agency request)."""

    message_id: str
    sender: str  # caller mnemonic
    message_type: str  # payload root, Clark notation "{ns}Name"
    content: etree._Element  # the MessagePrimaryContent child (a copy)
    reply_to: str  # the ReplyTo token the provider must answer to
    test_message: bool
    attachments: dict[str, bytes]
    envelope: bytes  # the SOAP request as received (MTOM: the raw multipart body)
    received_at: datetime


@dataclass(frozen=True)
class SentResponse:
    """A SendResponse the simulator accepted (the hub answering as a provider)."""

    message_id: str  # SenderProvidedResponseData/MessageID
    original_message_id: str  # MessageID of the request answered (found from To)
    to: str
    sender: str  # caller mnemonic
    kind: Literal["content", "rejected", "status", "async-status"]
    content: etree._Element | None  # MessagePrimaryContent child, or the RequestRejected /
    #                                 RequestStatus / AsyncProcessingStatus element (a copy)
    message_type: str | None  # root of the MessagePrimaryContent payload, Clark notation
    attachments: dict[str, bytes]
    envelope: bytes
    received_at: datetime


@dataclass(frozen=True)
class _Request:
    """A request the simulator knows, found again by its ReplyTo token."""

    message_id: str
    message_type: str  # Clark name of the payload root (the queue key)
    smev_type: str  # MessageMetadata/MessageType: REQUEST or BROADCAST
    sender: str
    origin: Literal["client", "injected"]
    reply_to: str
    provided: bytes  # SenderProvidedRequestData, serialized
    sender_signature: bytes | None  # the client's ds:Signature, serialized
    attachments: bytes | None  # AttachmentContentList, serialized
    reference_message_id: str | None
    received_at: datetime


@dataclass(eq=False)
class _Queued:
    """One message waiting in a queue; ``build`` makes (once) what GetXxx hands out."""

    message_id: str  # what Ack names (MessageMetadata/MessageId)
    queue: tuple[str, str]
    types: frozenset[str]
    build: Callable[[m.Party], bytes]
    on_first_delivery: Callable[[], None] | None = None
    ackable: bool = True
    payload: bytes | None = None
    locked_until: float | None = None
    deliveries: int = 0


_REQUESTS = ("request", "")


def _trust_store(trust: TrustArg) -> GostTrustStore | None:
    if trust is None or isinstance(trust, GostTrustStore):
        return trust
    paths = [trust] if isinstance(trust, str | Path) else list(trust)
    return GostTrustStore.from_files(Path(p) for p in paths)


def _first_element(parent: etree._Element | None) -> etree._Element | None:
    if parent is None:
        return None
    return next((child for child in parent if isinstance(child.tag, str)), None)


def _text(element: etree._Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def _check_message_id(message_id: str) -> None:
    try:
        parsed = uuid.UUID(message_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 1 or parsed.variant != uuid.RFC_4122:
        raise void_fault(
            "InvalidMessageIdFormat",
            f"Идентификатор сообщения '{message_id}' не является UUID версии 1 (RFC 4122)",
        )


def _serialize(element: etree._Element) -> bytes:
    return bytes(etree.tostring(element, encoding="UTF-8"))


def _message_id_of(operation: str, child: etree._Element) -> str | None:
    if operation == "SendRequest":
        return _text(child, f"{types('SenderProvidedRequestData')}/{types('MessageID')}") or None
    if operation == "SendResponse":
        return _text(child, f"{types('SenderProvidedResponseData')}/{types('MessageID')}") or None
    if operation == "Ack":
        return _text(child, basic("AckTargetMessage")) or None
    return None


def _selector(child: etree._Element) -> str | None:
    selector = child.find(basic("MessageTypeSelector"))
    if selector is None:
        return None
    namespace = _text(selector, basic("NamespaceURI"))
    local = _text(selector, basic("RootElementLocalName"))
    return f"{{{namespace}}}{local}" if local else None


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
        self._queues: dict[tuple[str, str], list[_Queued]] = {}
        self._unacked: dict[str, _Queued] = {}
        self._message_ids: set[str] = set()
        self._by_reply_to: dict[str, _Request] = {}
        self._by_message_id: dict[str, _Request] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._record_seq = itertools.count(1)
        self._token_seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._executor: ThreadPoolExecutor | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Create keys if needed, then listen; ``url`` is valid afterwards."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smev-sim")
        self._keys = await self._run(self._make_keys)
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
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("SMEV 3 simulator listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and cancel pending responder answers."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
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
        return self._require_keys().smev.certificate_der

    def _make_keys(self) -> SimulatorKeys:
        if self._signer is not None:
            return SimulatorKeys(None, self._signer, self._agency_signer or self._signer)
        dev = development_keys()
        return SimulatorKeys(dev.ca, dev.smev, self._agency_signer or dev.agency)

    def _require_keys(self) -> SimulatorKeys:
        if self._keys is None:
            raise RuntimeError("the simulator is not running: await start() first")
        return self._keys

    async def _run(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Crypto and other slow pure-Python work, off the event loop (one worker thread)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))

    async def wait_idle(self) -> None:
        """Wait until pending responder answers (including their delays) are queued."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

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
        if message_id in self._message_ids:
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
        record = _Request(
            message_id=message_id,
            message_type=queue_type,
            smev_type=smev_type,
            sender=sender,
            origin="injected",
            reply_to=self._reply_to(message_id, sender),
            provided=_serialize(provided),
            sender_signature=None,
            attachments=None if content_list is None else _serialize(content_list),
            reference_message_id=reference_message_id,
            received_at=m.now(),
        )
        self._remember(record)
        self._queue_request(record)
        return message_id

    def responses_for(self, message_id: str) -> list[SentResponse]:
        """SendResponses answering the request with this MessageID, in arrival order."""
        return [r for r in self.sent_responses if r.original_message_id == message_id]

    def reply_to_for(self, message_id: str) -> str | None:
        """The ReplyTo token issued for a request (injected or sent), None if unknown."""
        record = self._by_message_id.get(message_id)
        return None if record is None else record.reply_to

    def queue_sizes(self) -> dict[str, Any]:
        """Messages waiting (locked ones included): requests by type, responses/statuses by
        recipient, and how many are handed out and not yet acknowledged."""
        sizes: dict[str, Any] = {"requests": {}, "responses": {}, "statuses": {}}
        for (kind, key), items in self._queues.items():
            if kind == "request":
                for item in items:
                    for name in item.types:
                        sizes["requests"][name] = sizes["requests"].get(name, 0) + 1
            elif items:
                sizes["responses" if kind == "response" else "statuses"][key] = len(items)
        sizes["unacknowledged"] = len(self._unacked)
        return sizes

    # --- queues -----------------------------------------------------------------------------

    def _party(self, mnemonic: str) -> m.Party:
        return m.Party(mnemonic, mnemonic if self.human_readable_names else None)

    def _reply_to(self, message_id: str, sender: str) -> str:
        token = {
            "sid": next(self._token_seq),
            "mid": message_id,
            "mnm": sender,
            "nonce": secrets.token_hex(8),
        }
        return base64.b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()

    def _remember(self, record: _Request) -> None:
        self._message_ids.add(record.message_id)
        self._by_reply_to[record.reply_to] = record
        self._by_message_id[record.message_id] = record

    def _enqueue(self, item: _Queued) -> None:
        self._queues.setdefault(item.queue, []).append(item)

    def _take(self, queue: tuple[str, str], selector: str | None) -> _Queued | None:
        moment = time.monotonic()
        for item in self._queues.get(queue, []):
            if selector is not None and selector not in item.types:
                continue
            if item.locked_until is not None and item.locked_until > moment:
                continue
            item.deliveries += 1
            if item.ackable:
                item.locked_until = moment + self.lock_timeout
                self._unacked[item.message_id] = item
            else:
                self._queues[queue].remove(item)
            if item.deliveries == 1 and item.on_first_delivery is not None:
                item.on_first_delivery()
            return item
        return None

    async def _hand_out(self, item: _Queued, caller: str) -> bytes:
        if item.payload is None:
            try:
                item.payload = await self._run(item.build, self._party(caller))
            except Exception as exc:
                log.exception("cannot build message %s", item.message_id)
                item.locked_until = None
                self._unacked.pop(item.message_id, None)
                raise void_fault(
                    "SMEVFailure", f"Симулятор не смог сформировать сообщение: {exc}", server=True
                ) from exc
        return item.payload

    def _queue_request(self, record: _Request) -> None:
        def build(caller: m.Party) -> bytes:
            meta = m.metadata(
                message_id=record.message_id,
                message_type=record.smev_type,
                sender=self._party(record.sender),
                recipient=caller,
                sending=record.received_at,
                delivery=m.now(),
                status="messageIsDelivered",
            )
            signer = self._require_keys()
            return m.request_message(
                provided=parse_xml(record.provided).getroot(),
                meta=meta,
                reply_to=record.reply_to,
                sender_signature=_parse_optional(record.sender_signature),
                sender_signer=signer.agency if record.origin == "injected" else None,
                attachments=_parse_optional(record.attachments),
                smev=signer.smev,
            )

        def delivered() -> None:
            self._status(record, "messageIsDelivered", "Запрос доставлен поставщику")

        self._enqueue(
            _Queued(
                record.message_id, _REQUESTS, frozenset({record.message_type}), build, delivered
            )
        )

    def _queue_response(
        self,
        record: _Request,
        *,
        provided: bytes,
        message_id: str,
        sender: str,
        sender_signature: bytes | None,
        sender_is_agency: bool,
        sender_is_smev: bool = False,
        attachments: bytes | None = None,
        response_type: str | None = None,
    ) -> None:
        sent_at = m.now()

        def build(_caller: m.Party) -> bytes:
            keys = self._require_keys()
            meta = m.metadata(
                message_id=message_id,
                message_type="RESPONSE",
                sender=self._party(sender),
                recipient=self._party(record.sender),
                sending=sent_at,
                delivery=m.now(),
                status="messageIsDelivered",
            )
            signer = keys.smev if sender_is_smev else keys.agency if sender_is_agency else None
            return m.response_message(
                original_message_id=record.message_id,
                reference_message_id=record.reference_message_id,
                provided=parse_xml(provided).getroot(),
                meta=meta,
                sender_signature=_parse_optional(sender_signature),
                sender_signer=signer,
                attachments=_parse_optional(attachments),
                smev=keys.smev,
            )

        names = {record.message_type} | ({response_type} if response_type else set())
        self._enqueue(_Queued(message_id, ("response", record.sender), frozenset(names), build))

    def _status(
        self,
        record: _Request,
        category: str,
        details: str,
        fault: tuple[str, str] | None = None,
    ) -> None:
        """An asynchronous SMEV status for the sender of a client request."""
        if not self.emit_statuses or record.origin != "client":
            return
        status_id = str(uuid.uuid1())
        if self.status_channel == "GetStatus":

            def build_status(_caller: m.Party) -> bytes:
                status = m.async_status(record.message_id, category, details, fault)
                return m.status_message(status, self._require_keys().smev)

            self._enqueue(
                _Queued(
                    status_id,
                    ("status", record.sender),
                    frozenset({record.message_type}),
                    build_status,
                    ackable=False,
                )
            )
            return
        status = m.async_status(record.message_id, category, details, fault)
        provided = m.provided_response(
            message_id=status_id, to=record.reply_to, body=status, element_id=m.ASYNC_ID
        )
        self._queue_response(
            record,
            provided=_serialize(provided),
            message_id=status_id,
            sender=self.smev_mnemonic,
            sender_signature=None,
            sender_is_agency=False,
            sender_is_smev=True,
        )

    # --- the responder ------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto_answer(self, record: _Request, content: etree._Element) -> None:
        responder = self.responder
        if responder is None:
            self._queue_request(record)
            return
        delay_for = getattr(responder, "delay_for", None)
        delay = float(delay_for(record.message_type)) if callable(delay_for) else 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            result: Any = responder(content, record.message_type)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.exception("the responder failed on %s", record.message_type)
            result = m.request_rejected("FAILURE", f"responder failed: {exc}"[:4000])
        answer: ResponderResult = result
        if answer is None:
            self._queue_request(record)
            return
        if not isinstance(answer, etree._Element):
            log.error("the responder returned %r, not an lxml element", type(answer))
            answer = m.request_rejected("FAILURE", "responder returned no XML element")
        self._status(record, "messageIsDelivered", "Запрос доставлен поставщику")
        response_id = str(uuid.uuid1())
        provided = m.provided_response(message_id=response_id, to=record.reply_to, body=answer)
        tag = answer.tag if isinstance(answer.tag, str) else ""
        self._queue_response(
            record,
            provided=_serialize(provided),
            message_id=response_id,
            sender=self.agency_mnemonic,
            sender_signature=None,
            sender_is_agency=True,
            response_type=None if etree.QName(tag).namespace == TYPES_NS else tag,
        )

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
            self.requests_received.append((operation, _message_id_of(operation, child)))
            if self.failure:
                raise void_fault(
                    "SMEVFailure", "Сбой в инфраструктуре СМЭВ (симулятор)", server=True
                )
            issues = validate(child)
            if issues:
                raise invalid_content_fault(
                    issues, "Бизнес-конверт не соответствует схеме СМЭВ 3 (1.3)"
                )
            body = await self._operation(operation, parsed, raw)
        except SimulatorFault as fault:
            log.info("%s -> fault %s: %s", operation or qname.text, fault.name, fault.message)
            return self._reply(fault_envelope(fault), status=500)
        return self._reply(envelope(body))

    @staticmethod
    def _reply(body: bytes, status: int = 200) -> web.Response:
        return web.Response(status=status, body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _operation(self, operation: str, parsed: SoapRequest, raw: bytes) -> bytes:
        if operation == "SendRequest":
            return await self._send_request(parsed, raw)
        if operation == "SendResponse":
            return await self._send_response(parsed, raw)
        caller = await self._authenticate(parsed, operation)
        child = parsed.body_child
        if operation == "GetRequest":
            item = self._take(_REQUESTS, _selector(child))
            inner = None if item is None else await self._hand_out(item, caller)
            return m.wrap("GetRequestResponse", inner)
        if operation == "GetResponse":
            item = self._take(("response", caller), _selector(child))
            inner = None if item is None else await self._hand_out(item, caller)
            return m.wrap("GetResponseResponse", inner)
        if operation == "GetStatus":
            item = self._take(("status", caller), None)
            inner = None if item is None else await self._hand_out(item, caller)
            return m.wrap("GetStatusResponse", inner)
        return self._ack(child)

    async def _authenticate(self, parsed: SoapRequest, operation: str) -> str:
        certificate = await self._run(
            check_caller_signature,
            parsed.tree,
            parsed.body_child,
            operation,
            trust=self.trust,
            required=self.require_signature,
        )
        if certificate is None:
            return self.anonymous_mnemonic
        name = certificate.common_name or certificate.subject
        return self.mnemonics.get(name, name)[:50]

    def _attachments(self, provided: etree._Element, child: etree._Element) -> dict[str, bytes]:
        headers = [
            _text(header, basic("contentId"))
            for header in provided.iterfind(
                f"{basic('AttachmentHeaderList')}/{basic('AttachmentHeader')}"
            )
        ]
        contents: dict[str, bytes] = {}
        path = f"{basic('AttachmentContentList')}/{basic('AttachmentContent')}"
        for item in child.iterfind(path):
            text = "".join((item.findtext(basic("Content")) or "").split())
            contents[_text(item, basic("Id"))] = base64.b64decode(text)
        if sorted(headers) != sorted(contents):
            raise void_fault(
                "AttachmentContentMiscoordination",
                "Заголовки вложений (AttachmentHeaderList) не соответствуют содержимому "
                f"(AttachmentContentList): {sorted(headers)} / {sorted(contents)}",
            )
        return contents

    def _check_new(self, message_id: str, destination: str) -> None:
        if message_id in self._message_ids:
            raise void_fault(
                "MessageIsAlreadySent", f"Сообщение с MessageID {message_id} уже было отправлено"
            )
        if self.overflow:
            raise destination_overflow_fault(destination, self.url)

    async def _send_request(self, parsed: SoapRequest, raw: bytes) -> bytes:
        child = parsed.body_child
        provided = child.find(types("SenderProvidedRequestData"))
        assert provided is not None  # the schema requires it
        message_id = _text(provided, types("MessageID"))
        _check_message_id(message_id)
        caller = await self._authenticate(parsed, "SendRequest")
        attachments = self._attachments(provided, child)
        content = _first_element(provided.find(basic("MessagePrimaryContent")))
        if content is None:
            raise invalid_content_fault([], "MessagePrimaryContent пуст")
        message_type = etree.QName(content).text
        self._check_new(message_id, f"requests {message_type}")
        caller_signature = child.find(f"{types('CallerInformationSystemSignature')}/*")
        content_list = child.find(basic("AttachmentContentList"))
        received = m.now()
        record = _Request(
            message_id=message_id,
            message_type=message_type,
            smev_type="REQUEST",
            sender=caller,
            origin="client",
            reply_to=self._reply_to(message_id, caller),
            provided=_serialize(provided),
            sender_signature=None if caller_signature is None else _serialize(caller_signature),
            attachments=None if content_list is None else _serialize(content_list),
            reference_message_id=_text(provided, types("ReferenceMessageID")) or None,
            received_at=received,
        )
        self._remember(record)
        self.sent_requests.append(
            SentRequest(
                message_id=message_id,
                sender=caller,
                message_type=message_type,
                content=copy.deepcopy(content),
                reply_to=record.reply_to,
                test_message=provided.find(types("TestMessage")) is not None,
                attachments=attachments,
                envelope=raw,
                received_at=received,
            )
        )
        self._status(record, "requestIsQueued", "Запрос поставлен в очередь")
        recipient = self.provider_mnemonic
        if self.message_types is not None and message_type not in self.message_types:
            description = f"Тип сообщения {message_type} не зарегистрирован в СМЭВ (симулятор)"
            self._status(
                record,
                "requestIsRejectedBySmev",
                description,
                ("smev-sim:UnknownMessageType", description),
            )
        elif self.responder is not None:
            recipient = self.agency_mnemonic
            self._spawn(self._auto_answer(record, copy.deepcopy(content)))
        else:
            self._queue_request(record)
        meta = m.metadata(
            message_id=message_id,
            message_type="REQUEST",
            sender=self._party(caller),
            recipient=self._party(recipient),
            sending=received,
            status="requestIsQueued",
            element_id=m.SMEV_ID,
        )
        return await self._run(m.send_reply, "SendRequestResponse", meta, self._require_keys().smev)

    async def _send_response(self, parsed: SoapRequest, raw: bytes) -> bytes:
        child = parsed.body_child
        provided = child.find(types("SenderProvidedResponseData"))
        assert provided is not None
        message_id = _text(provided, types("MessageID"))
        _check_message_id(message_id)
        caller = await self._authenticate(parsed, "SendResponse")
        attachments = self._attachments(provided, child)
        to = _text(provided, types("To"))
        record = self._by_reply_to.get(to)
        if record is None:
            raise void_fault(
                "RecipientIsNotFound",
                "Адрес To не соответствует ни одному получателю: скопируйте ReplyTo запроса",
            )
        self._check_new(message_id, f"responses {record.sender}")
        body = next(
            (
                c
                for c in provided
                if isinstance(c.tag, str) and c.tag not in (types("MessageID"), types("To"))
            ),
            None,
        )
        assert body is not None  # the schema requires one of the alternatives
        kinds: dict[str, Literal["content", "rejected", "status", "async-status"]] = {
            basic("MessagePrimaryContent"): "content",
            types("RequestRejected"): "rejected",
            types("RequestStatus"): "status",
            types("AsyncProcessingStatus"): "async-status",
        }
        kind = kinds[str(body.tag)]
        content = _first_element(body) if kind == "content" else body
        response_type = None if content is None or kind != "content" else str(content.tag)
        self._message_ids.add(message_id)
        self.sent_responses.append(
            SentResponse(
                message_id=message_id,
                original_message_id=record.message_id,
                to=to,
                sender=caller,
                kind=kind,
                content=None if content is None else copy.deepcopy(content),
                message_type=response_type,
                attachments=attachments,
                envelope=raw,
                received_at=m.now(),
            )
        )
        if record.origin == "client":
            signature = child.find(f"{types('CallerInformationSystemSignature')}/*")
            content_list = child.find(basic("AttachmentContentList"))
            self._queue_response(
                record,
                provided=_serialize(provided),
                message_id=message_id,
                sender=caller,
                sender_signature=None if signature is None else _serialize(signature),
                sender_is_agency=False,
                attachments=None if content_list is None else _serialize(content_list),
                response_type=response_type,
            )
        meta = m.metadata(
            message_id=message_id,
            message_type="RESPONSE",
            sender=self._party(caller),
            recipient=self._party(record.sender),
            sending=m.now(),
            status="responseIsQueued",
            element_id=m.SMEV_ID,
        )
        return await self._run(
            m.send_reply, "SendResponseResponse", meta, self._require_keys().smev
        )

    def _ack(self, child: etree._Element) -> bytes:
        target = child.find(basic("AckTargetMessage"))
        assert target is not None
        message_id = (target.text or "").strip()
        accepted = (target.get("accepted") or "true").strip() in ("true", "1")
        item = self._unacked.pop(message_id, None)
        if item is None:
            raise void_fault(
                "TargetMessageIsNotFound",
                f"Сообщение '{message_id}' не найдено среди неподтверждённых.",
            )
        queue = self._queues.get(item.queue, [])
        if item in queue:
            queue.remove(item)
        self.acks.append((message_id, accepted))
        return m.wrap("AckResponse", None)

    # --- control, WSDL --------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
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
        return web.json_response(self._state())

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
        return web.json_response(self._state())

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
        record = self._by_message_id[message_id]
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


def _parse_optional(data: bytes | None) -> etree._Element | None:
    return None if data is None else parse_xml(data).getroot()


def _check_message_id_or_raise(message_id: str) -> None:
    try:
        _check_message_id(message_id)
    except SimulatorFault as fault:
        raise ValueError(fault.message) from None
