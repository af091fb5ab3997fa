"""Test doubles the hub ships, for its own tests and for anyone writing an adapter (as dramatiq
ships ``StubBroker`` and httpx ``MockTransport``).

- ``FakeAdapterContext``: the hub as an adapter sees it, in memory; it records everything the
  adapter hands over (submissions, timeline events, references, notices to senders).
- ``ScriptedAdapter``: a destination a test controls: up, down (transient), refusing
  (permanent), crashing, or following a script of outcomes per attempt.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping

from envelopes.codec import to_bytes
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.abc import (
    Adapter,
    AdapterContext,
    BlobInfo,
    InboundMessage,
    OutboundMessage,
    Outcome,
    Stage,
    State,
    Transport,
)
from hub.pipeline.receipts import receipt_content
from hub.queues import inbox_queue


class FakeAdapterContext(AdapterContext):
    """Records what an adapter hands over instead of running a hub.

    ``signer`` (the hub's key) signs what the adapter asks the hub to sign; without one,
    ``sign_envelope`` returns the document as it is. ``fail_submits`` submissions fail with a
    ConnectionError (as when the broker is down) before they work again. ``log`` is a shared
    list of what happened in order ("hub:submit", "hub:remember:<prefix>", "hub:notify"), so a
    test can check it against a fake peer's own log.
    """

    def __init__(
        self,
        signer: Signer | None = None,
        *,
        transport: Transport | None = None,
        hub_id: str = "hub.main",
        fail_submits: int = 0,
        log: list[str] | None = None,
    ) -> None:
        self.hub_id = hub_id
        self.transport = transport  # type: ignore[assignment]  # adapters that need none
        self._signer = signer
        self.fail_submits = fail_submits
        self.submitted: list[InboundMessage] = []
        self.events: list[tuple[str, str, str]] = []
        self.references: dict[str, tuple[str, str]] = {}
        self.notified: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.stages: list[tuple[str, str, str]] = []  # execution stages at agencies
        self.log = log if log is not None else []
        self.attributes: dict[str, dict[str, str]] = {}  # key → participant id → value
        self.blobs: dict[str, bytes] = {}  # SHA-256 hex → content (attachments by reference)
        self.blob_owners: dict[str, set[str]] = {}  # SHA-256 hex → who kept it (keep_blob)

    async def record(self, message_id: str, state: State | str, detail: str = "") -> None:
        self.events.append((message_id, str(state), detail))

    async def submit(self, message: InboundMessage) -> str:
        if self.fail_submits:
            self.fail_submits -= 1
            raise ConnectionError("broker unreachable")
        self.submitted.append(message)
        self.log.append("hub:submit")
        return message.headers.get("message-id", "")

    async def remember(self, reference: str, message_id: str, data: str = "") -> None:
        self.references.pop(reference, None)  # a new entry goes last, as the store orders them
        self.references[reference] = (message_id, data)
        self.log.append(f"hub:remember:{reference.split(':', 1)[0]}")

    async def recall(self, reference: str) -> tuple[str, str] | None:
        return self.references.get(reference)

    async def recall_by_message(self, message_id: str) -> list[tuple[str, str]]:
        return [(r, d) for r, (m, d) in self.references.items() if m == message_id]

    async def notify_sender(
        self, message_id: str, state: State | str, reasons: list[tuple[str, str]]
    ) -> None:
        # as the hub does: the state goes on the timeline, the sender gets a receipt
        self.notified.append((message_id, str(state), reasons))
        self.events.append((message_id, str(state), "; ".join(t for _, t in reasons)))
        self.log.append("hub:notify")

    def sign_envelope(self, xml: bytes) -> bytes:
        if self._signer is None:
            return xml
        root = parse_xml(xml)
        self._signer.sign(root)
        return to_bytes(root)

    def signed_receipt(
        self, recipient: str, message_id: str, state: str, reasons: list[tuple[str, str]]
    ) -> bytes:
        content = receipt_content(self.hub_id, recipient, message_id, state, reasons=reasons)
        return self._signer.sign_canonical(content) if self._signer is not None else content

    async def receipt_sent(
        self, recipient: str, message_id: str, state: str, receipt: bytes
    ) -> None:
        self.log.append("hub:receipt_sent")

    def inbox_queue(self, participant: str) -> str:
        return inbox_queue(participant)

    def participant_attribute(self, key: str) -> dict[str, str]:
        return dict(self.attributes.get(key, {}))

    async def read_blob(self, digest: str) -> AsyncIterator[bytes]:
        content = self.blobs[digest]
        for start in range(0, len(content), 65536):
            yield content[start : start + 65536]

    async def keep_blob(self, chunks: AsyncIterable[bytes], owner: str) -> BlobInfo:
        content = b"".join([chunk async for chunk in chunks])
        digest = hashlib.sha256(content).hexdigest()
        self.blobs[digest] = content
        self.blob_owners.setdefault(digest, set()).add(owner)
        return BlobInfo(digest, len(content))

    async def record_stage(self, document_id: str, stage: Stage, detail: str) -> None:
        self.stages.append((document_id, str(stage), detail))


class ScriptedAdapter(Adapter):
    """A destination the test controls.

    ``mode``: "up" (delivers), "down" (transient failure), "refuse" (permanent failure),
    "crash" (raises). ``script``, if given, decides per attempt instead: a function of the
    message (its ``attempt`` counts from 1) returning an Outcome. ``reachable`` is what
    ``ping`` says; ``breakers`` what ``breaker_states`` reports.
    """

    def __init__(
        self,
        mode: str = "up",
        *,
        inline: bool = False,
        script: Callable[[OutboundMessage], Outcome] | None = None,
        breakers: Mapping[str, int] | None = None,
    ) -> None:
        self.mode = mode
        self.inline = inline
        self.script = script
        self.reachable = True
        self.breakers = dict(breakers or {})
        self.attempts: list[str] = []
        self.delivered: list[str] = []

    async def deliver(self, message: OutboundMessage) -> Outcome:
        self.attempts.append(message.message_id)
        if self.script is not None:
            outcome = self.script(message)
        elif self.mode == "down":
            outcome = Outcome.transient("connection refused by remote.example")
        elif self.mode == "refuse":
            outcome = Outcome.permanent("550 no such mailbox at remote.example")
        elif self.mode == "crash":
            raise RuntimeError("adapter bug")
        else:
            outcome = Outcome.delivered(reference=f"remote-{len(self.delivered) + 1}")
        if outcome.kind.value == "delivered":
            self.delivered.append(message.message_id)
        return outcome

    async def ping(self) -> bool:
        return self.reachable

    def breaker_states(self) -> dict[str, int]:
        """What a breaker-keeping adapter reports (monitoring reads it)."""
        return dict(self.breakers)
