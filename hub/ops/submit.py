"""Submit envelopes and wait for the hub's decision on each."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.abc import State, Transport
from hub.config import HubConfig
from hub.ops.connection import connect
from hub.queues import INBOUND_QUEUE, header_facts
from hub.store import Store


@dataclass
class SendResult:
    message_id: str
    state: str
    reason: str | None


async def submit(
    transport: Transport,
    body: bytes,
    source: str = "cli",
    submission: str | None = None,
    facts: tuple[str, str, str] | None = None,
) -> tuple[str, str]:
    """Put one envelope on the inbound queue: (submission id, the MessageId it claims);
    ``facts``: its ``header_facts`` if the caller read them already."""
    message_id, sender, _ = facts or header_facts(body)
    submission = submission or str(uuid.uuid4())
    headers = {
        "message-id": message_id,
        "submission-id": submission,
        "source": source,
        "sender": sender,
    }
    await transport.publish(INBOUND_QUEUE, body, headers)
    return submission, message_id


async def decision(store: Store, submission: str) -> SendResult | None:
    """The hub's decision on a submission, once it has made it."""
    decided = await store.submission(submission)
    if decided is None:
        return None
    if decided.outcome == "conflict":
        return SendResult(decided.message_id, State.REJECTED, decided.reason)
    row = await store.get_message(decided.message_id)
    state = row.state if row is not None else decided.outcome
    why = decided.reason or (row.reason if row is not None else None)
    return SendResult(decided.message_id, state, why)


async def send(
    config: HubConfig, files: list[Path], wait: float, attach: Sequence[Path] = ()
) -> list[SendResult]:
    """Submit envelope files and wait for the decisions (see ``send_bodies``); the files of
    their attachments by reference (``attach``, or beside the envelope by name) are kept in
    the blob store first, as the sender's."""
    bodies = [path.read_bytes() for path in files]
    async with connect(config) as (store, transport):
        if any(b"Reference" in body for body in bodies):
            await keep_referenced(config, store, list(zip(files, bodies, strict=True)), attach)
        return await send_bodies(store, transport, bodies, wait)


async def keep_referenced(
    config: HubConfig, store: Store, envelopes: list[tuple[Path, bytes]], attach: Sequence[Path]
) -> None:
    """Put the blobs these envelopes refer to in the hub's blob store (streamed), unless
    their sender may use them already. ValueError names a file that cannot be found."""
    from hub.blobs import open_blob_store
    from hub.ops.attachments import referenced_files
    from hub.ops.blobs import keep_file

    blobs = open_blob_store(config)
    try:
        for path, body in envelopes:
            found = await asyncio.to_thread(referenced_files, path, body, list(attach))
            for digest, file in found.files.items():
                if not await store.may_read_blob(digest, (found.sender,)):
                    await keep_file(store, blobs, config, found.sender, file)
    finally:
        await blobs.aclose()


async def send_bodies(
    store: Store, transport: Transport, bodies: list[bytes], wait: float
) -> list[SendResult]:
    """Submit envelopes, then wait (up to ``wait`` seconds) for the hub's decision on each.

    Each travels with its own submission id, so a conflicting resubmission is reported as
    rejected even though the MessageId it carries is already known (and delivered). What is
    not decided in time is reported ``queued``.
    """
    pending = [await submit(transport, body) for body in bodies]
    deadline = time.monotonic() + wait
    results: dict[str, SendResult] = {}
    while True:
        for submission, _ in pending:
            if submission not in results:
                result = await decision(store, submission)
                if result is not None:
                    results[submission] = result
        if len(results) == len(pending) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    return [results.get(s, SendResult(m, "queued", None)) for s, m in pending]
