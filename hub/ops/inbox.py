"""Take what waits in a participant's inbox: envelopes and receipts, each item once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from hub.abc import BlobStore, State, Transport
from hub.config import HubConfig
from hub.ops.connection import connect
from hub.ops.delivered import DeliveredReader
from hub.queues import header_facts, inbox_queue
from hub.store import Store


@dataclass
class InboxItem:
    """An item taken, described by its verified header (``problem``: why it did not verify)."""

    message_id: str
    sender: str
    kind: str
    path: Path
    problem: str | None = None


async def inbox(
    config: HubConfig,
    participant: str,
    out_dir: Path,
    max_items: int | None,
    wait: float,
    skipped: list[str] | None = None,
) -> list[InboxItem]:
    """Take envelopes and receipts from a participant's inbox (see ``take``)."""
    from hub.blobs import open_blob_store

    reader = await asyncio.to_thread(DeliveredReader.for_config, config)
    blobs = open_blob_store(config)
    try:
        async with connect(config) as (store, transport):
            return await take(
                store, transport, participant, out_dir, max_items, wait, skipped,
                reader=reader, blobs=blobs,
            )  # fmt: skip
    finally:
        await blobs.aclose()


async def take(
    store: Store,
    transport: Transport,
    participant: str,
    out_dir: Path,
    max_items: int | None,
    wait: float,
    skipped: list[str] | None = None,
    *,
    reader: DeliveredReader | None = None,
    blobs: BlobStore | None = None,
) -> list[InboxItem]:
    """Write each item to ``out_dir/<message-id>.xml`` (with ``blobs``, its attachments into
    ``<message-id>.files/``, each checked against its signed digest), record ``acknowledged``
    (not for receipts), then acknowledge it; a redelivery of something taken already is
    dropped.

    With a ``reader`` (as ``hub inbox`` does), what is recorded and shown of an item comes from
    its verified content; without one, from its header read as text (tests, the demo)."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    taken: list[InboxItem] = []
    queue = inbox_queue(participant)
    await transport.declare_queue(queue)
    deadline = time.monotonic() + wait
    while max_items is None or len(taken) < max_items:
        delivery = await transport.get(queue)
        if delivery is None:
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
            continue
        problem = None
        if reader is not None:
            facts = await asyncio.to_thread(reader.facts, delivery.body)
            message_id, sender, kind, problem = (
                facts.message_id,
                facts.sender,
                facts.kind,
                facts.problem,
            )
        else:
            message_id, sender, kind = header_facts(delivery.body)
        if not await store.mark_seen(participant, message_id):
            await delivery.ack()  # a redelivery of something already taken: same MessageId
            if skipped is not None:
                skipped.append(message_id)
            continue
        path = out_dir / f"{message_id}.xml"
        path.write_bytes(delivery.body)
        if blobs is not None and problem is None and b"AttachmentData" in delivery.body:
            await write_files(store, blobs, participant, delivery.body, out_dir / message_id)
        if problem is not None:
            await store.record(
                message_id, State.NOTE, f"taken by {participant}; did not verify: {problem}"
            )
        elif kind != "receipt":
            await store.record(message_id, State.ACKNOWLEDGED, f"taken by {participant}")
        await delivery.ack()
        taken.append(InboxItem(message_id, sender, kind, path, problem))
    return taken


async def write_files(
    store: Store, blobs: BlobStore, participant: str, body: bytes, stem: Path
) -> list[Path]:
    """A received envelope's attachments into ``<stem>.files/``, blobs read from the store
    (streamed) where ``participant`` may read them."""
    from envelopes.model import ContentReference
    from hub.ops.attachments import write_attachments

    loop = asyncio.get_running_loop()

    async def download(reference: ContentReference, part: Path) -> None:
        digest = reference.digest_hex
        if not await store.may_read_blob(digest, (participant,)):
            raise ValueError(f"{reference.uri}: not a blob {participant} may read")
        handle = await asyncio.to_thread(part.open, "wb")
        try:
            async for chunk in blobs.get(digest):
                await asyncio.to_thread(handle.write, chunk)
        finally:
            handle.close()

    def fetch(reference: ContentReference, part: Path) -> None:
        asyncio.run_coroutine_threadsafe(download(reference, part), loop).result()

    folder = stem.with_name(stem.name + ".files")
    return await asyncio.to_thread(write_attachments, body, folder, fetch)
