"""The six operations of SMEV message exchange 1.3, performed the way SMEV performs them.

SendRequest, SendResponse, GetRequest, GetResponse, GetStatus and Ack: who the caller is (its
signature), the checks SMEV makes (MessageID format, repeats, attachments, overflow), what each
operation records and queues, the asynchronous statuses SMEV sends, and the responder's
automatic answers. A check that fails raises a SimulatorFault, which the server answers with.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import inspect
import logging
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Literal

from lxml import etree

from adapters.smev.parsing import parse_xml
from adapters.smev.simulator import messages as m
from adapters.smev.simulator.auth import check_caller_signature
from adapters.smev.simulator.faults import (
    destination_overflow_fault,
    invalid_content_fault,
    void_fault,
)
from adapters.smev.simulator.filestore import StoredFile, ref_headers
from adapters.smev.simulator.ns import TYPES_NS, basic, types
from adapters.smev.simulator.responder import ResponderResult
from adapters.smev.simulator.soap import SoapRequest
from adapters.smev.simulator.state import (
    REQUESTS,
    Queued,
    RequestRecord,
    SentRequest,
    SentResponse,
    SimulatorState,
)

if TYPE_CHECKING:
    from adapters.smev.simulator.server import SmevSimulator

log = logging.getLogger("adapters.smev.simulator")


def _first_element(parent: etree._Element | None) -> etree._Element | None:
    if parent is None:
        return None
    return next((child for child in parent if isinstance(child.tag, str)), None)


def _text(element: etree._Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def check_message_id(message_id: str) -> None:
    """InvalidMessageIdFormat unless ``message_id`` is a version-1 UUID, as SMEV requires."""
    try:
        parsed = uuid.UUID(message_id)
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 1 or parsed.variant != uuid.RFC_4122:
        raise void_fault(
            "InvalidMessageIdFormat",
            f"Идентификатор сообщения '{message_id}' не является UUID версии 1 (RFC 4122)",
        )


def serialize(element: etree._Element) -> bytes:
    """An element as the simulator keeps it (UTF-8, no XML declaration)."""
    return bytes(etree.tostring(element, encoding="UTF-8"))


def message_id_of(operation: str, child: etree._Element) -> str | None:
    """The MessageID a request names (SendRequest, SendResponse, Ack), if any."""
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


def _parse_optional(data: bytes | None) -> etree._Element | None:
    return None if data is None else parse_xml(data).getroot()


def _attachments(provided: etree._Element, child: etree._Element) -> dict[str, bytes]:
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


class Operations:
    """What the simulator does with each request; its switches are the simulator's."""

    def __init__(self, sim: SmevSimulator, state: SimulatorState) -> None:
        self.sim = sim
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()  # responder answers under way

    async def perform(self, operation: str, parsed: SoapRequest, raw: bytes) -> bytes:
        """Carry out a schema-valid request; the serialized Body child of the answer."""
        if operation == "SendRequest":
            return await self._send_request(parsed, raw)
        if operation == "SendResponse":
            return await self._send_response(parsed, raw)
        caller = await self._authenticate(parsed, operation)
        child = parsed.body_child
        if operation == "GetRequest":
            item = self.state.take(REQUESTS, _selector(child), self.sim.lock_timeout)
            inner = None if item is None else await self._hand_out(item, caller)
            return m.wrap("GetRequestResponse", inner)
        if operation == "GetResponse":
            item = self.state.take(("response", caller), _selector(child), self.sim.lock_timeout)
            inner = None if item is None else await self._hand_out(item, caller)
            return m.wrap("GetResponseResponse", inner)
        if operation == "GetStatus":
            item = self.state.take(("status", caller), None, self.sim.lock_timeout)
            inner = None if item is None else await self._hand_out(item, caller)
            return m.wrap("GetStatusResponse", inner)
        return self._ack(child)

    async def _authenticate(self, parsed: SoapRequest, operation: str) -> str:
        certificate = await self.sim.run_blocking(
            check_caller_signature,
            parsed.tree,
            parsed.body_child,
            operation,
            trust=self.sim.trust,
            required=self.sim.require_signature,
        )
        if certificate is None:
            return self.sim.anonymous_mnemonic
        name = certificate.common_name or certificate.subject
        return self.sim.mnemonics.get(name, name)[:50]

    def _check_new(self, message_id: str, destination: str) -> None:
        if message_id in self.state.message_ids:
            raise void_fault(
                "MessageIsAlreadySent", f"Сообщение с MessageID {message_id} уже было отправлено"
            )
        if self.sim.overflow:
            raise destination_overflow_fault(destination, self.sim.url)

    async def _send_request(self, parsed: SoapRequest, raw: bytes) -> bytes:
        child = parsed.body_child
        provided = child.find(types("SenderProvidedRequestData"))
        assert provided is not None  # the schema requires it
        message_id = _text(provided, types("MessageID"))
        check_message_id(message_id)
        caller = await self._authenticate(parsed, "SendRequest")
        attachments = _attachments(provided, child)
        files = await self._check_files(provided)
        content = _first_element(provided.find(basic("MessagePrimaryContent")))
        if content is None:
            raise invalid_content_fault([], "MessagePrimaryContent пуст")
        message_type = etree.QName(content).text
        self._check_new(message_id, f"requests {message_type}")
        caller_signature = child.find(f"{types('CallerInformationSystemSignature')}/*")
        content_list = child.find(basic("AttachmentContentList"))
        received = m.now()
        record = RequestRecord(
            message_id=message_id,
            message_type=message_type,
            smev_type="REQUEST",
            sender=caller,
            origin="client",
            reply_to=self.state.reply_to(message_id, caller),
            provided=serialize(provided),
            sender_signature=None if caller_signature is None else serialize(caller_signature),
            attachments=None if content_list is None else serialize(content_list),
            reference_message_id=_text(provided, types("ReferenceMessageID")) or None,
            received_at=received,
            files=tuple(files),
        )
        self.state.remember(record)
        self.sim.sent_requests.append(
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
                files=tuple(files),
            )
        )
        self._status(record, "requestIsQueued", "Запрос поставлен в очередь")
        recipient = self.sim.provider_mnemonic
        if self.sim.message_types is not None and message_type not in self.sim.message_types:
            description = f"Тип сообщения {message_type} не зарегистрирован в СМЭВ (симулятор)"
            self._status(
                record,
                "requestIsRejectedBySmev",
                description,
                ("smev-sim:UnknownMessageType", description),
            )
        elif self.sim.responder is not None:
            recipient = self.sim.agency_mnemonic
            self._spawn(self._auto_answer(record, copy.deepcopy(content)))
        else:
            self.queue_request(record)
        meta = m.metadata(
            message_id=message_id,
            message_type="REQUEST",
            sender=self._party(caller),
            recipient=self._party(recipient),
            sending=received,
            status="requestIsQueued",
            element_id=m.SMEV_ID,
        )
        return await self.sim.run_blocking(
            m.send_reply, "SendRequestResponse", meta, self.sim.keys.smev
        )

    async def _send_response(self, parsed: SoapRequest, raw: bytes) -> bytes:
        child = parsed.body_child
        provided = child.find(types("SenderProvidedResponseData"))
        assert provided is not None
        message_id = _text(provided, types("MessageID"))
        check_message_id(message_id)
        caller = await self._authenticate(parsed, "SendResponse")
        attachments = _attachments(provided, child)
        files = await self._check_files(provided)
        to = _text(provided, types("To"))
        record = self.state.by_reply_to.get(to)
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
        self.state.message_ids.add(message_id)
        self.sim.sent_responses.append(
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
                provided=serialize(provided),
                message_id=message_id,
                sender=caller,
                sender_signature=None if signature is None else serialize(signature),
                sender_is_agency=False,
                attachments=None if content_list is None else serialize(content_list),
                response_type=response_type,
                files=files,
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
        return await self.sim.run_blocking(
            m.send_reply, "SendResponseResponse", meta, self.sim.keys.smev
        )

    async def _check_files(self, provided: etree._Element) -> list[StoredFile]:
        """The files a message names on the storage, checked (hashing them takes a thread)."""
        if provided.find(basic("RefAttachmentHeaderList")) is None:
            return []
        store = self.sim.file_store
        if store is None:
            raise invalid_content_fault(
                [], "RefAttachmentHeaderList: у симулятора нет файлового хранилища"
            )
        return await asyncio.to_thread(store.check, provided)

    def _listing(self, files: list[StoredFile]) -> etree._Element | None:
        store = self.sim.file_store
        return store.listing(files) if files and store is not None else None

    async def _echo_files(
        self, record: RequestRecord, provided: etree._Element
    ) -> list[StoredFile]:
        """A business answer echoes the request's files back, as copies under new uuids."""
        store = self.sim.file_store
        primary = provided.find(basic("MessagePrimaryContent"))
        if not record.files or store is None or primary is None:
            return []
        echoed = [await asyncio.to_thread(store.copy, item) for item in record.files]
        primary.addnext(ref_headers(echoed))
        return echoed

    def _ack(self, child: etree._Element) -> bytes:
        target = child.find(basic("AckTargetMessage"))
        assert target is not None
        message_id = (target.text or "").strip()
        accepted = (target.get("accepted") or "true").strip() in ("true", "1")
        item = self.state.acknowledge(message_id)
        if item is None:
            raise void_fault(
                "TargetMessageIsNotFound",
                f"Сообщение '{message_id}' не найдено среди неподтверждённых.",
            )
        self.sim.acks.append((message_id, accepted))
        return m.wrap("AckResponse", None)

    # --- what goes into the queues -------------------------------------------------------

    def _party(self, mnemonic: str) -> m.Party:
        return m.Party(mnemonic, mnemonic if self.sim.human_readable_names else None)

    async def _hand_out(self, item: Queued, caller: str) -> bytes:
        if item.payload is None:
            try:
                item.payload = await self.sim.run_blocking(item.build, self._party(caller))
            except Exception as exc:
                log.exception("cannot build message %s", item.message_id)
                self.state.release(item)
                raise void_fault(
                    "SMEVFailure", f"Симулятор не смог сформировать сообщение: {exc}", server=True
                ) from exc
        return item.payload

    def queue_request(self, record: RequestRecord) -> None:
        """Queue a request for GetRequest (a status goes to its sender once it is handed out)."""

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
            signer = self.sim.keys
            return m.request_message(
                provided=parse_xml(record.provided).getroot(),
                meta=meta,
                reply_to=record.reply_to,
                sender_signature=_parse_optional(record.sender_signature),
                sender_signer=signer.agency if record.origin == "injected" else None,
                attachments=_parse_optional(record.attachments),
                smev=signer.smev,
                fs_list=self._listing(list(record.files)),
            )

        def delivered() -> None:
            self._status(record, "messageIsDelivered", "Запрос доставлен поставщику")

        self.state.enqueue(
            Queued(record.message_id, REQUESTS, frozenset({record.message_type}), build, delivered)
        )

    def _queue_response(
        self,
        record: RequestRecord,
        *,
        provided: bytes,
        message_id: str,
        sender: str,
        sender_signature: bytes | None,
        sender_is_agency: bool,
        sender_is_smev: bool = False,
        attachments: bytes | None = None,
        response_type: str | None = None,
        files: list[StoredFile] | None = None,
    ) -> None:
        sent_at = m.now()

        def build(_caller: m.Party) -> bytes:
            keys = self.sim.keys
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
                fs_list=self._listing(files or []),
            )

        names = {record.message_type} | ({response_type} if response_type else set())
        self.state.enqueue(Queued(message_id, ("response", record.sender), frozenset(names), build))

    def _status(
        self,
        record: RequestRecord,
        category: str,
        details: str,
        fault: tuple[str, str] | None = None,
    ) -> None:
        """An asynchronous SMEV status for the sender of a client request."""
        if not self.sim.emit_statuses or record.origin != "client":
            return
        status_id = str(uuid.uuid1())
        if self.sim.status_channel == "GetStatus":

            def build_status(_caller: m.Party) -> bytes:
                status = m.async_status(record.message_id, category, details, fault)
                return m.status_message(status, self.sim.keys.smev)

            self.state.enqueue(
                Queued(
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
            provided=serialize(provided),
            message_id=status_id,
            sender=self.sim.smev_mnemonic,
            sender_signature=None,
            sender_is_agency=False,
            sender_is_smev=True,
        )

    # --- the responder ------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait until pending responder answers (including their delays) are queued."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel pending responder answers."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _auto_answer(self, record: RequestRecord, content: etree._Element) -> None:
        responder = self.sim.responder
        if responder is None:
            self.queue_request(record)
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
            self.queue_request(record)
            return
        if not isinstance(answer, etree._Element):
            log.error("the responder returned %r, not an lxml element", type(answer))
            answer = m.request_rejected("FAILURE", "responder returned no XML element")
        self._status(record, "messageIsDelivered", "Запрос доставлен поставщику")
        response_id = str(uuid.uuid1())
        provided = m.provided_response(message_id=response_id, to=record.reply_to, body=answer)
        echoed = await self._echo_files(record, provided)
        tag = answer.tag if isinstance(answer.tag, str) else ""
        self._queue_response(
            record,
            provided=serialize(provided),
            message_id=response_id,
            sender=self.sim.agency_mnemonic,
            sender_signature=None,
            sender_is_agency=True,
            response_type=None if etree.QName(tag).namespace == TYPES_NS else tag,
            files=echoed,
        )
