"""What the simulator remembers: what clients sent, the requests it knows, its queues and locks.

Requests wait per type for GetRequest (queue ``("request", "")``), responses per recipient for
GetResponse (``("response", mnemonic)``), statuses per recipient for GetStatus
(``("status", mnemonic)``). A message handed out stays in its queue, locked until its Ack or
until ``lock_timeout`` has passed, and is then handed out again; one that needs no Ack (a
GetStatus status) leaves its queue when handed out.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lxml import etree

from adapters.smev.simulator import messages as m
from adapters.smev.simulator.filestore import StoredFile

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
    files: tuple[StoredFile, ...] = ()  # on the file storage, checked


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
class RequestRecord:
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
    files: tuple[StoredFile, ...] = ()  # on the file storage (RefAttachmentHeaderList)


@dataclass(eq=False)
class Queued:
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


REQUESTS = ("request", "")


class SimulatorState:
    """The requests the simulator knows and its queues (used from the event loop only)."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, str], list[Queued]] = {}
        self.unacked: dict[str, Queued] = {}
        self.message_ids: set[str] = set()
        self.by_reply_to: dict[str, RequestRecord] = {}
        self.by_message_id: dict[str, RequestRecord] = {}
        self._token_seq = itertools.count(1)

    def reply_to(self, message_id: str, sender: str) -> str:
        """A new ReplyTo token for a request (opaque to clients, like SMEV's)."""
        token = {
            "sid": next(self._token_seq),
            "mid": message_id,
            "mnm": sender,
            "nonce": secrets.token_hex(8),
        }
        return base64.b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()

    def remember(self, record: RequestRecord) -> None:
        self.message_ids.add(record.message_id)
        self.by_reply_to[record.reply_to] = record
        self.by_message_id[record.message_id] = record

    def enqueue(self, item: Queued) -> None:
        self.queues.setdefault(item.queue, []).append(item)

    def take(
        self, queue: tuple[str, str], selector: str | None, lock_timeout: float
    ) -> Queued | None:
        """The first message of ``queue`` not locked (of a selected type); it is locked now."""
        moment = time.monotonic()
        for item in self.queues.get(queue, []):
            if selector is not None and selector not in item.types:
                continue
            if item.locked_until is not None and item.locked_until > moment:
                continue
            item.deliveries += 1
            if item.ackable:
                item.locked_until = moment + lock_timeout
                self.unacked[item.message_id] = item
            else:
                self.queues[queue].remove(item)
            if item.deliveries == 1 and item.on_first_delivery is not None:
                item.on_first_delivery()
            return item
        return None

    def release(self, item: Queued) -> None:
        """Unlock a message that could not be handed out."""
        item.locked_until = None
        self.unacked.pop(item.message_id, None)

    def acknowledge(self, message_id: str) -> Queued | None:
        """Remove an acknowledged message from its queue; None if none is awaiting this Ack."""
        item = self.unacked.pop(message_id, None)
        if item is None:
            return None
        queue = self.queues.get(item.queue, [])
        if item in queue:
            queue.remove(item)
        return item

    def sizes(self) -> dict[str, Any]:
        """Messages waiting (locked ones included): requests by type, responses/statuses by
        recipient, and how many are handed out and not yet acknowledged."""
        sizes: dict[str, Any] = {"requests": {}, "responses": {}, "statuses": {}}
        for (kind, key), items in self.queues.items():
            if kind == "request":
                for item in items:
                    for name in item.types:
                        sizes["requests"][name] = sizes["requests"].get(name, 0) + 1
            elif items:
                sizes["responses" if kind == "response" else "statuses"][key] = len(items)
        sizes["unacknowledged"] = len(self.unacked)
        return sizes
