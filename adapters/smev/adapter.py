"""The SMEV 3 adapter: envelopes to and from agencies over SMEV's message-exchange service.

Consumer side (the hub asks an agency):
  an envelope routed to ``smev:<mnemonic>`` → SendRequest (the payload as
  MessagePrimaryContent, signed as CallerInformationSystemSignature) → a GetResponse loop picks
  up SMEV's statuses and the agency's answer → statuses go on the request's timeline, the answer
  becomes a hub envelope (Kind response, CorrelationId = the request) to the department.

Provider side (an agency asks a department):
  a GetRequest loop → a hub envelope to the department responsible for the message type → the
  department's response (CorrelationId = that envelope) → SendResponse to SMEV's ReplyTo.

Delivery guarantees: every message taken from SMEV is acknowledged (Ack) only after what it
became is durable in the hub (submitted to the inbound queue, or recorded); ids derived from
SMEV's own ids make a redelivered message the same envelope, which the pipeline ignores. A
SendRequest interrupted by a broken connection is resent with the same MessageID, and SMEV's
MessageIsAlreadySent counts as sent. References kept with ``context.remember``:

- ``sent:<SMEV MessageID>`` → the hub message we sent as a request or response, with JSON data
  (role, original sender/recipient/type, address);
- ``recv:<SMEV MessageId>`` → the envelope an agency's request became, with its ReplyTo;
- ``seen:<SMEV MessageId>`` → a message from GetRequest/GetResponse already handled.

What an envelope becomes in SMEV and back is in ``conversion.py``; how often each queue is
polled, in ``polling.py``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from lxml import etree
from pydantic import ValidationError

from adapters.smev.conversion import (
    NIL_ID,
    HubMessage,
    envelope_id,
    fetch_references,
    incoming_envelope,
    plain_text,
    read_envelope,
    reason_code,
    rejection_code,
)
from adapters.smev.credentials import build_signer, build_trust
from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.xmldsig import XmlSigner, verify
from adapters.smev.errors import (
    FileStoreError,
    MessageError,
    ProtocolError,
    SigningError,
    SmevConfigError,
    SmevFault,
    TransportError,
)
from adapters.smev.files import fetch_incoming, to_file_storage
from adapters.smev.polling import Poll, PollLoops
from adapters.smev.protocol import messages as sm
from adapters.smev.protocol.client import SoapClient
from adapters.smev.protocol.soap import FaultMeaning, classify, text_of, transient_status
from adapters.smev.settings import SmevSettings
from envelopes.codec import to_bytes
from envelopes.errors import EnvelopeError
from envelopes.model import ContentReference, Kind
from hub.abc import (
    Adapter,
    AdapterContext,
    InboundMessage,
    OutboundMessage,
    Outcome,
    Stage,
    State,
)

log = logging.getLogger("adapters.smev")

Role = Literal["request", "response"]


def _load_data(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data) if data else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


class SmevAdapter(Adapter):
    """One SMEV endpoint: SendRequest/SendResponse out, GetResponse/GetRequest polling in."""

    inline = False

    def __init__(
        self,
        settings: SmevSettings,
        signer: XmlSigner,
        trust: GostTrustStore | None = None,
    ) -> None:
        self.name = "smev"
        self.settings = settings
        self.signer = signer
        self.trust = trust
        self.client = SoapClient(
            settings.url,
            timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            max_bytes=settings.max_response_bytes,
        )
        self._context: AdapterContext | None = None
        self._polling = PollLoops(settings)
        # (loop, seconds) of the latest waits on an empty queue: for tests and diagnostics
        self.waits = self._polling.waits

    # ------------------------------------------------------------------------ lifecycle
    async def start(self, context: AdapterContext) -> None:
        self._context = context
        loops: list[tuple[str, Poll]] = []
        if self.settings.poll_responses:
            loops.append(("responses", self.poll_responses))
        if self.settings.receives_requests:
            loops.append(("requests", self.poll_requests))
        if self.settings.poll_statuses:
            loops.append(("statuses", self.poll_statuses))
        self._polling.start(self.name, loops)
        log.info(
            "SMEV adapter %s: %s (%s), polling %s",
            self.name,
            self.settings.url,
            self.settings.mnemonic or "no mnemonic set",
            ", ".join(label for label, _ in loops) or "nothing",
        )

    async def aclose(self) -> None:
        await self._polling.stop()
        await self.client.close()

    async def ping(self) -> bool:
        url = self.settings.ping_url or (
            self.settings.url + ("&" if "?" in self.settings.url else "?") + "wsdl"
        )
        return await self.client.reachable(url, min(5.0, self.settings.connect_timeout))

    @property
    def context(self) -> AdapterContext:
        if self._context is None:
            raise RuntimeError(f"SMEV adapter {self.name} is not started")
        return self._context

    # ------------------------------------------------------------------------ delivering
    async def deliver(self, message: OutboundMessage) -> Outcome:
        if self._context is None:
            return Outcome.transient(f"SMEV adapter {self.name} is not started")
        try:
            hub = read_envelope(message.body)
        except (EnvelopeError, etree.XMLSyntaxError, ValueError) as exc:
            return Outcome.permanent(f"envelope cannot be read: {exc}")
        if hub.references:  # the hub's blobs: large ones to the file storage, others inline
            key = f"{message.message_id}:{message.destination.address}"
            refused = await to_file_storage(hub, self.context, self.settings, key)
            if refused is None and hub.references:
                limit = self.settings.max_attachments_bytes
                refused = await fetch_references(hub, self.context, limit)
            if refused is not None:
                return refused
        if message.kind in (Kind.RESPONSE, Kind.ERROR) and message.correlation_id:
            target = await self._request_answered(message.correlation_id)
            if target is not None:
                return await self._send_response(message, hub, target)
            return Outcome.permanent(
                f"a {message.kind} over SMEV must answer a request received from SMEV; "
                f"{message.correlation_id} is not one (no ReplyTo known)"
            )
        return await self._send_request(message, hub)

    async def _request_answered(self, hub_id: str) -> dict[str, Any] | None:
        for reference, data in await self.context.recall_by_message(hub_id):
            if reference.startswith("recv:"):
                info = _load_data(data)
                if info.get("reply_to"):
                    return info
        return None

    async def _smev_id(self, message: OutboundMessage, role: Role, facts: dict[str, Any]) -> str:
        """The SMEV MessageID for this hub message: the remembered one, else a new one."""
        address = message.destination.address
        found = ""
        for reference, data in await self.context.recall_by_message(message.message_id):
            info = _load_data(data)
            if (
                reference.startswith("sent:")
                and info.get("role") == role
                and info.get("address") == address
            ):
                found = reference.removeprefix("sent:")  # the latest one wins (ordered by time)
        if found:
            return found
        return await self._new_smev_id(message, role, facts)

    async def _new_smev_id(
        self, message: OutboundMessage, role: Role, facts: dict[str, Any]
    ) -> str:
        smev_id = sm.new_message_id()
        data = {
            "role": role,
            "address": message.destination.address,
            "sender": message.sender,
            "recipient": message.recipient,
            "message_type": message.message_type,
            **facts,
        }
        # remembered before sending: a response may come back before SendRequest returns
        await self.context.remember(f"sent:{smev_id}", message.message_id, json.dumps(data))
        return smev_id

    async def _send_request(self, message: OutboundMessage, hub: HubMessage) -> Outcome:
        facts = {"test": self.settings.test or hub.header.test}

        def build(smev_id: str) -> etree._Element:
            return sm.send_request(
                smev_id,
                hub.payload,
                attachments=hub.attachments,
                node_id=self.settings.node_id,
                test=bool(facts["test"]),
                files=hub.files,
            )

        return await self._send(message, "request", "SendRequest", build, facts)

    async def _send_response(
        self, message: OutboundMessage, hub: HubMessage, target: dict[str, Any]
    ) -> Outcome:
        reply_to = str(target["reply_to"])
        facts = {"answers": message.correlation_id or ""}

        def build(smev_id: str) -> etree._Element:
            if message.kind == Kind.ERROR:
                text = plain_text(hub.payload) or "the department could not answer"
                return sm.send_response(smev_id, reply_to, rejections=[("FAILURE", text)])
            return sm.send_response(
                smev_id, reply_to, hub.payload, attachments=hub.attachments, files=hub.files
            )

        return await self._send(message, "response", "SendResponse", build, facts)

    async def _send(
        self,
        message: OutboundMessage,
        role: Role,
        action: str,
        build: Callable[[str], etree._Element],
        facts: dict[str, Any],
    ) -> Outcome:
        smev_id = await self._smev_id(message, role, facts)
        try:
            document = build(smev_id)
        except ValueError as exc:
            return Outcome.permanent(f"cannot be sent over SMEV: {exc}")
        try:
            body = await asyncio.to_thread(sm.sign_caller, document, self.signer)
        except SigningError as exc:
            return Outcome.transient(f"signing the {action} failed: {exc}")
        try:
            reply = await self.client.call(action, body)
            metadata = sm.read_send_result(reply.body)
        except SmevFault as fault:
            return await self._fault_outcome(message, role, action, smev_id, fault, facts)
        except TransportError as exc:
            if exc.status is not None and not transient_status(exc.status):
                return Outcome.permanent(f"SMEV {action}: {exc}")
            return Outcome.transient(f"SMEV {action}: {exc}")
        except ProtocolError as exc:  # MessageError included
            # SMEV may have taken it: the retry resends the same MessageID
            return Outcome.transient(f"SMEV {action}: unreadable reply: {exc}")
        status = metadata.status or "accepted"
        await self.context.record(
            message.message_id, State.NOTE, f"SMEV: {status} ({action}, MessageID {smev_id})"
        )
        self._polling.wake()  # an answer may come soon: poll at the shortest interval
        return Outcome.delivered(f"SMEV {status}", reference=smev_id)

    async def _fault_outcome(
        self,
        message: OutboundMessage,
        role: Role,
        action: str,
        smev_id: str,
        fault: SmevFault,
        facts: dict[str, Any],
    ) -> Outcome:
        meaning, retry_after = classify(fault)
        retry_after = self.settings.fault_retry_after.get(fault.name, retry_after)
        detail = f"SMEV {action} fault {fault.summary}"
        if meaning == FaultMeaning.SENT:
            await self.context.record(
                message.message_id,
                State.NOTE,
                f"SMEV: MessageIsAlreadySent for MessageID {smev_id}: counted as sent",
            )
            self._polling.wake()
            return Outcome.delivered("SMEV already had it", reference=smev_id)
        if meaning == FaultMeaning.STALE:
            fresh = await self._new_smev_id(message, role, facts)
            await self.context.record(
                message.message_id,
                State.NOTE,
                f"SMEV: StaleMessageId {smev_id}: the next attempt sends MessageID {fresh}",
            )
            return Outcome.transient(detail, retry_after=1.0)
        if meaning == FaultMeaning.TRANSIENT:
            return Outcome.transient(detail, retry_after=retry_after)
        return Outcome.permanent(detail)

    # --------------------------------------------------------------------------- polling
    async def _call(self, action: str, document: etree._Element) -> etree._Element:
        body = await asyncio.to_thread(sm.sign_caller, document, self.signer)
        reply = await self.client.call(action, body)
        return reply.body

    async def poll_responses(self) -> bool:
        """One GetResponse; True if a message was taken (and handled)."""
        body = await self._call("GetResponse", sm.get_response(node_id=self.settings.node_id))
        try:
            incoming = sm.read_get_response(body)
        except (MessageError, ValueError) as exc:
            await self._refuse_unreadable(body, "response", exc)
            return True
        if incoming is None:
            return False
        await self.handle_response(incoming)
        return True

    async def poll_requests(self) -> bool:
        """One GetRequest; True if a request was taken (and handled)."""
        body = await self._call("GetRequest", sm.get_request(node_id=self.settings.node_id))
        try:
            incoming = sm.read_get_request(body)
        except (MessageError, ValueError) as exc:
            await self._refuse_unreadable(body, "request", exc)
            return True
        if incoming is None:
            return False
        await self.handle_request(incoming)
        return True

    async def poll_statuses(self) -> bool:
        """One GetStatus; True if a status was taken (statuses need no Ack)."""
        body = await self._call("GetStatus", sm.get_status())
        try:
            status = sm.read_get_status(body)
        except (MessageError, ValueError) as exc:
            log.error("SMEV %s: unreadable status: %s", self.name, exc)
            return True
        if status is None:
            return False
        problem = await self.signature_problem(
            body, self._signed_element(body, "AsyncProcessingStatusData")
        )
        recalled = await self.context.recall(f"sent:{status.original_message_id}")
        if recalled is None:
            log.warning(
                "SMEV %s: status %s for %s, which this hub did not send",
                self.name,
                status.category,
                status.original_message_id,
            )
            return True
        original = recalled[0]
        if problem:
            log.warning("SMEV %s: status for %s: %s", self.name, original, problem)
            await self.context.record(
                original, State.NOTE, f"SMEV: signature check failed on a status: {problem}"
            )
            if self.settings.on_bad_signature == "reject":
                return True
        await self._dispatch_status(status, original)
        return True

    async def _dispatch_status(self, status: sm.AsyncStatus, original: str) -> None:
        if status.rejected:
            code = status.fault or status.category
            await self.context.notify_sender(
                original, State.FAILED, [(reason_code(code), f"SMEV: {status.text}")]
            )
        else:
            await self.context.record(original, State.NOTE, f"SMEV: {status.text}")

    async def ack(self, smev_message_id: str, accepted: bool = True) -> None:
        """Ack after the message is durable; TargetMessageIsNotFound means it was acked."""
        try:
            await self._call("Ack", sm.ack(smev_message_id, accepted))
        except SmevFault as fault:
            if fault.name != "TargetMessageIsNotFound":
                raise
            log.info("SMEV %s: Ack %s: already acknowledged", self.name, smev_message_id)

    async def _refuse_unreadable(self, body: etree._Element, what: str, exc: Exception) -> None:
        ack_id = ""
        for metadata in body.iter():
            if isinstance(metadata.tag, str) and etree.QName(metadata).localname == (
                "MessageMetadata"
            ):
                ack_id = text_of(metadata, "MessageId")
                break
        log.error("SMEV %s: unreadable %s %s: %s", self.name, what, ack_id or "(no id)", exc)
        if ack_id:
            await self.context.remember(
                f"unreadable:{ack_id}", NIL_ID, json.dumps({"error": str(exc)})
            )
            await self.ack(ack_id, accepted=False)

    async def _seen(self, ack_id: str) -> bool:
        return await self.context.recall(f"seen:{ack_id}") is not None

    async def _done(self, ack_id: str, message_id: str, accepted: bool = True) -> None:
        await self.context.remember(f"seen:{ack_id}", message_id)
        await self.ack(ack_id, accepted)

    # ------------------------------------------------------------------ signatures on input
    async def signature_problem(self, document: etree._Element, signed: etree._Element) -> str:
        """'' if SMEV's signature (and the sender system's, if any) check out, or checks are
        off; else what is wrong. ``signed`` is the element SMEV's signature must cover."""
        if self.trust is None or not self.settings.verify_responses:
            return ""
        reports = await asyncio.to_thread(verify, document, trust=self.trust)
        wanted = ("SMEVSignature", "SenderInformationSystemSignature")
        relevant = [r for r in reports if r.container in wanted]
        problems = [f"{r.label}: {p}" for r in relevant for p in r.problems]
        smev = [r for r in relevant if r.container == "SMEVSignature"]
        if not smev:
            problems.append("no SMEVSignature")
        elif not any(e is signed for r in smev for e in r.signed_elements):
            problems.append(f"SMEVSignature does not cover the {etree.QName(signed).localname}")
        return "; ".join(problems)

    # --------------------------------------------------------------------------- responses
    async def handle_response(self, incoming: sm.IncomingResponse) -> None:
        context = self.context
        if await self._seen(incoming.ack_id):
            await self.ack(incoming.ack_id)
            return
        recalled = (
            await context.recall(f"sent:{incoming.original_message_id}")
            if incoming.original_message_id
            else None
        )
        if recalled is None:
            log.error(
                "SMEV %s: response %s answers %s, which this hub did not send; acknowledged "
                "and kept under 'unmatched:%s'",
                self.name,
                incoming.ack_id,
                incoming.original_message_id or "(nothing)",
                incoming.ack_id,
            )
            await context.remember(
                f"unmatched:{incoming.ack_id}",
                incoming.original_message_id or NIL_ID,
                without_passwords(incoming.document),
            )
            await self._done(incoming.ack_id, NIL_ID)
            return
        original, data = recalled
        info = _load_data(data)
        response = self._signed_element(incoming.document, "Response")
        problem = await self.signature_problem(incoming.document, response)
        if problem:
            log.warning("SMEV %s: response %s: %s", self.name, incoming.ack_id, problem)
            if self.settings.on_bad_signature == "reject":
                await context.notify_sender(
                    original,
                    State.FAILED,
                    [
                        (
                            "smev-bad-signature",
                            f"SMEV message {incoming.ack_id} refused: {problem}",
                        )
                    ],
                )
                await self._done(incoming.ack_id, original, accepted=False)
                return
            await context.record(
                original,
                State.NOTE,
                f"SMEV: signature check failed on {incoming.ack_id}, accepted by configuration: "
                f"{problem}",
            )
        await self._dispatch_response(incoming, original, info)
        await self._done(incoming.ack_id, original)

    @staticmethod
    def _signed_element(document: etree._Element, name: str) -> etree._Element:
        for element in document.iter():
            if isinstance(element.tag, str) and etree.QName(element).localname == name:
                return element
        return document

    async def _dispatch_response(
        self, incoming: sm.IncomingResponse, original: str, info: dict[str, Any]
    ) -> None:
        context = self.context
        if incoming.async_status is not None:
            await self._dispatch_status(incoming.async_status, original)
            return
        if incoming.rejections:
            reasons = [
                (reason_code(code or "rejected"), f"SMEV RequestRejected {code}: {text}")
                for code, text in incoming.rejections
            ]
            await context.notify_sender(original, State.FAILED, reasons)
            # for execution control: the agency refused to take the request on
            await context.record_stage(
                original, Stage.REGISTRATION_REFUSED, "; ".join(text for _, text in reasons)
            )
            return
        if incoming.business_status is not None:
            business = incoming.business_status
            await context.notify_sender(
                original,
                State.NOTE,
                [(f"smev-status-{business.code}", f"SMEV RequestStatus {business.text}")],
            )
            # an interim status of the agency's work on it
            await context.record_stage(
                original, Stage.IN_PROGRESS, f"SMEV RequestStatus {business.code}: {business.text}"
            )
            return
        if incoming.content is None:
            await context.record(
                original, State.NOTE, f"SMEV: empty response {incoming.ack_id} ignored"
            )
            return
        if info.get("role") != "request":
            await context.record(
                original,
                State.NOTE,
                f"SMEV: response {incoming.ack_id} to our response ignored (nothing answers "
                "a response)",
            )
            return
        sender = self._response_sender(incoming, info)
        try:
            fetched = await fetch_incoming(incoming.files, context, self.settings, sender)
        except FileStoreError as exc:
            if exc.transient:
                raise  # not acknowledged: SMEV hands the response out again
            reason = f"SMEV response {incoming.ack_id}: {exc}"
            await context.notify_sender(original, State.FAILED, [(exc.code, reason)])
            return
        try:
            hub_id, body = self._response_envelope(incoming, original, info, sender, fetched)
        except (ValidationError, ValueError, EnvelopeError) as exc:
            await context.notify_sender(
                original,
                State.FAILED,
                [("smev-unusable-response", f"SMEV response {incoming.ack_id}: {exc}")],
            )
            return
        note = (
            f"SMEV: response {incoming.message_id} from "
            f"{incoming.metadata.sender or 'the agency'} → envelope {hub_id}"
        )
        if incoming.file_attachments and fetched is None:
            note += f" ({incoming.file_attachments} file-share attachments not fetched)"
        elif fetched:
            note += f" ({len(fetched)} files fetched from SMEV's file storage)"
        await context.record(original, State.NOTE, note)
        await context.submit(InboundMessage(body, f"smev:{self.name}", {"message-id": hub_id}))

    def _agency(self, mnemonic: str, fallback: str) -> str:
        if mnemonic:
            return self.settings.participant(mnemonic)
        return fallback

    def _response_sender(self, incoming: sm.IncomingResponse, info: dict[str, Any]) -> str:
        fallback = str(info.get("recipient") or "") or self.settings.participant(
            str(info.get("address", ""))
        )
        return self._agency(incoming.metadata.sender, fallback)

    def _response_envelope(
        self,
        incoming: sm.IncomingResponse,
        original: str,
        info: dict[str, Any],
        sender: str,
        references: list[ContentReference] | None,
    ) -> tuple[str, bytes]:
        hub_id = envelope_id(self.name, "response", incoming.ack_id)
        root = incoming_envelope(
            incoming,
            hub_id,
            kind=Kind.RESPONSE,
            sender=sender,
            references=references,
            recipient=str(info.get("sender", "")),
            correlation_id=uuid.UUID(original),
            test=bool(info.get("test", False)),
        )
        return str(hub_id), self.context.sign_envelope(to_bytes(root))

    # ---------------------------------------------------------------------------- requests
    async def handle_request(self, incoming: sm.IncomingRequest) -> None:
        context = self.context
        if await self._seen(incoming.ack_id):
            await self.ack(incoming.ack_id)
            return
        request = self._signed_element(incoming.document, "Request")
        problem = await self.signature_problem(incoming.document, request)
        if problem:
            log.warning("SMEV %s: request %s: %s", self.name, incoming.ack_id, problem)
            if self.settings.on_bad_signature == "reject":
                await context.remember(f"refused:{incoming.ack_id}", NIL_ID, problem)
                await self._done(incoming.ack_id, NIL_ID, accepted=False)
                return
        department = self.settings.department_for(incoming.message_type)
        if not department:
            await self._reject_request(
                incoming,
                "UNKNOWN_REQUEST_DESCRIPTION",
                f"no department of this hub handles {incoming.message_type}",
            )
            return
        agency = self._agency(incoming.metadata.sender, "agency.unknown")
        hub_id = str(envelope_id(self.name, "request", incoming.ack_id))
        try:
            fetched = await fetch_incoming(incoming.files, context, self.settings, agency)
        except FileStoreError as exc:
            if exc.transient:
                raise  # not acknowledged: SMEV hands the request out again
            await self._reject_request(incoming, "FAILURE", f"{exc.code}: {exc}")
            return
        try:
            root = incoming_envelope(
                incoming,
                uuid.UUID(hub_id),
                kind=Kind.REQUEST,
                sender=agency,
                recipient=department,
                expires_at=incoming.eol,
                test=incoming.test,
                references=fetched,
            )
            body = context.sign_envelope(to_bytes(root))
        except (ValidationError, ValueError, EnvelopeError) as exc:
            await self._reject_request(incoming, "FAILURE", f"cannot be accepted: {exc}")
            return
        data = {
            "reply_to": incoming.reply_to,
            "agency": agency,
            "mnemonic": incoming.metadata.sender,
            "smev_message_id": incoming.message_id,
            "message_type": incoming.message_type,
        }
        await context.remember(f"recv:{incoming.ack_id}", hub_id, json.dumps(data))
        await context.record(
            hub_id,
            State.NOTE,
            f"SMEV: request {incoming.message_id} from {incoming.metadata.sender or 'unknown'}"
            + (
                f" ({incoming.file_attachments} file-share attachments not fetched)"
                if incoming.file_attachments and fetched is None
                else ""
            ),
        )
        await context.submit(InboundMessage(body, f"smev:{self.name}", {"message-id": hub_id}))
        await self._done(incoming.ack_id, hub_id)

    async def refused(
        self,
        message_id: str,
        state: str,
        reasons: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> None:
        """An agency's request the hub refused (invalid, no route, access denied, expired):
        answer it with RequestRejected, so the requester is not left waiting for nothing.
        A refused response has no way back in SMEV; it stays on the hub's record only."""
        context = self.context
        for reference, data in await context.recall_by_message(message_id):
            if not reference.startswith("recv:"):
                continue
            reply_to = _load_data(data).get("reply_to")
            if not reply_to:
                continue
            code = rejection_code(reasons)
            text = "; ".join(f"{c}: {t}" for c, t in reasons) or f"the hub's verdict: {state}"
            document = sm.send_response(
                sm.new_message_id(), str(reply_to), rejections=[(code, text)]
            )
            try:
                await self._call("SendResponse", document)
            except SmevFault as fault:
                await context.record(
                    message_id, State.NOTE, f"SMEV: RequestRejected refused: {fault.summary}"
                )
                return
            await context.record(
                message_id, State.NOTE, f"SMEV: RequestRejected {code} sent to the requester"
            )

    async def _reject_request(self, incoming: sm.IncomingRequest, code: str, text: str) -> None:
        """Answer with RequestRejected (if SMEV gave a ReplyTo), then Ack."""
        log.warning("SMEV %s: request %s rejected: %s", self.name, incoming.ack_id, text)
        if incoming.reply_to:
            # a repeat after a crash sends a second rejection at worst (with a new MessageID)
            document = sm.send_response(
                sm.new_message_id(), incoming.reply_to, rejections=[(code, text)]
            )
            try:
                await self._call("SendResponse", document)
            except SmevFault as fault:
                if classify(fault)[0] != FaultMeaning.PERMANENT:
                    raise  # not now: the request comes again after SMEV's lock timeout
                log.error("SMEV %s: the rejection was refused: %s", self.name, fault.summary)
        await self.context.remember(f"refused:{incoming.ack_id}", NIL_ID, text)
        await self._done(incoming.ack_id, NIL_ID)


def create(settings: Mapping[str, Any]) -> SmevAdapter:
    """The adapter for ``[adapters.<name>]`` with ``type = "smev"``."""
    try:
        parsed = SmevSettings.model_validate(dict(settings))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise SmevConfigError(problems) from None
    return SmevAdapter(parsed, build_signer(parsed), build_trust(parsed))


__all__ = ["SmevAdapter", "build_signer", "create"]


def without_passwords(document: etree._Element) -> str:
    """A SMEV document as the store keeps it: the file storage's FTP passwords blanked."""
    kept = copy.deepcopy(document)
    for password in kept.iter("{*}Password"):
        password.text = "***"
    return etree.tostring(kept, encoding="unicode")
