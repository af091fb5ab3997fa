"""What an adapter gets of the hub (``hub.abc.AdapterContext``), one per configured adapter.

Adapters know the hub only through this: submit what they received, put events on timelines,
remember their own references, have the hub sign what it composes, tell senders of news.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterable, AsyncIterator, Callable

from envelopes.codec import to_bytes
from envelopes.ids import is_participant
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.abc import AdapterContext, BlobInfo, BlobStore, InboundMessage, Stage, State, Transport
from hub.archive.entries import RECEIPT, signed_id
from hub.config import HubConfig
from hub.pipeline.receipts import ReceiptSender, receipt_content
from hub.queues import INBOUND_QUEUE, inbox_queue
from hub.routing.ruleset import RuleSet
from hub.store import Store


class HubSigner:
    """The hub's own key, loaded on first use, for what the hub signs in its main process (it
    signs per-message work in the worker pool)."""

    def __init__(self, config: HubConfig) -> None:
        self._config = config

    @functools.cached_property
    def signer(self) -> Signer:
        from hub.trust import hub_signer

        return hub_signer(self._config)

    def sign_envelope(self, xml: bytes) -> bytes:
        """Sign, as the hub, an envelope the hub composed itself (wrapping a document)."""
        root = parse_xml(xml)
        self.signer.sign(root)
        return to_bytes(root)

    def sign_canonical(self, content: bytes) -> bytes:
        return self.signer.sign_canonical(content)


class HubAdapterContext(AdapterContext):
    """The context of one adapter (``name``, as configured)."""

    def __init__(
        self,
        name: str,
        hub_id: str,
        store: Store,
        transport: Transport,
        receipts: ReceiptSender,
        signer: HubSigner,
        rules: Callable[[], RuleSet] | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self._rules = rules
        self._blobs = blobs
        self._adapter = name
        self.hub_id = hub_id
        self.transport = transport
        self._store = store
        self._receipts = receipts
        self._signer = signer

    def read_blob(self, digest: str) -> AsyncIterator[bytes]:
        if self._blobs is None:
            raise NotImplementedError("this hub keeps no blobs")
        return self._blobs.get(digest)

    async def keep_blob(self, chunks: AsyncIterable[bytes], owner: str) -> BlobInfo:
        if self._blobs is None:
            raise NotImplementedError("this hub keeps no blobs")
        info = await self._blobs.put(chunks)
        # as hub.ops.blobs.keep: the record after the content, waiting out a removal under way
        for _ in range(600):
            if await self._store.claim_blob(info.digest, info.size, owner):
                break
            await asyncio.sleep(0.1)
        else:
            raise OSError(f"blob {info.digest} is being removed; try again")
        if await self._blobs.stat(info.digest) is None:
            raise OSError(f"blob {info.digest} was removed meanwhile; try again")
        return info

    async def remember(self, reference: str, message_id: str, data: str = "") -> None:
        await self._store.remember(self._adapter, reference, message_id, data)

    async def recall(self, reference: str) -> tuple[str, str] | None:
        return await self._store.recall(self._adapter, reference)

    async def recall_by_message(self, message_id: str) -> list[tuple[str, str]]:
        return await self._store.recall_by_message(self._adapter, message_id)

    async def notify_sender(
        self, message_id: str, state: State | str, reasons: list[tuple[str, str]]
    ) -> None:
        detail = "; ".join(text for _, text in reasons) or str(state)
        await self._store.record(message_id, state, f"{self._adapter}: {detail}")
        if str(state) == State.FAILED:  # news after delivery (a mail bounce) overrides it
            await self._store.mark_failed_after_delivery(message_id, self._adapter, detail)
        row = await self._store.get_message(message_id)
        if row is not None and row.sender:
            await self._receipts.send(row.sender, message_id, str(state), row.digest, [], reasons)

    async def record(self, message_id: str, state: State | str, detail: str = "") -> None:
        await self._store.record(message_id, state, detail)

    async def submit(self, message: InboundMessage) -> str:
        headers = dict(message.headers)
        headers["source"] = message.source
        headers["adapter"] = self._adapter  # whom to tell if the hub refuses it
        await self.transport.publish(INBOUND_QUEUE, message.body, headers)
        return headers.get("message-id", "")

    def sign_envelope(self, xml: bytes) -> bytes:
        return self._signer.sign_envelope(xml)

    def signed_receipt(
        self, recipient: str, message_id: str, state: str, reasons: list[tuple[str, str]]
    ) -> bytes:
        if not is_participant(recipient):
            raise ValueError(f"{recipient!r} is not a participant id: no receipt for it")
        content = receipt_content(self.hub_id, recipient, message_id, state, reasons=reasons)
        return self._signer.sign_canonical(content)

    async def receipt_sent(
        self, recipient: str, message_id: str, state: str, receipt: bytes
    ) -> None:
        await self._store.archive_emitted(
            RECEIPT, signed_id(receipt), message_id, recipient, state, receipt
        )

    def inbox_queue(self, participant: str) -> str:
        return inbox_queue(participant)

    async def record_stage(self, document_id: str, stage: Stage, detail: str) -> None:
        await self._store.record_stage(document_id, stage, f"{self._adapter}: {detail}")

    def participant_attribute(self, key: str) -> dict[str, str]:
        if self._rules is None:
            return {}
        found: dict[str, str] = {}
        for participant_id, participant in self._rules().participants.items():
            value = getattr(participant, key, None)
            if isinstance(value, str) and value:
                found[participant_id] = value
        return found
