"""What people and the hub do with blobs (attachments by reference, decision 0023): uploads
begun, resumed and finished; a file kept by the hub next to it (``hub send`` without the API);
who may read a blob; and the collector, which removes blobs no message refers to (retention
deleted the messages, the message was rejected, the upload was never used) once the grace
period has passed — never one a message refers to (``hub.store.sql_blobs``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from hub.abc import BlobInfo, BlobMismatchError, BlobStore
from hub.blobs.files import spool
from hub.blobs.uploads import OffsetMismatchError, Uploads
from hub.config import HubConfig
from hub.records import UploadRow, now_iso
from hub.store import Store

log = logging.getLogger("hub.blobs")

COLLECT = "blobs"  # the lease of the collector's runs (one node of several)
FAILPOINT = "HUB_BLOBS_FAILPOINT"  # tests: the collector SIGKILLs itself at this step


class UploadError(Exception):
    """An upload cannot go on: ``code`` (problem+json), and the offset where it stands."""

    def __init__(self, code: str, detail: str, offset: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.offset = offset


def uploads_for(config: HubConfig) -> Uploads:
    return Uploads(config.blob_directory, config.blobs.chunk_size)


async def begin_upload(
    store: Store, uploads: Uploads, owner: str, sha256: str, size: int
) -> UploadRow:
    """A new upload of ``size`` bytes whose SHA-256 must be ``sha256``."""
    upload = UploadRow(uuid.uuid4().hex, owner, sha256.lower(), size, now_iso())
    await uploads.create(upload.upload_id)
    await store.add_upload(upload)
    return upload


async def finish_upload(
    store: Store, uploads: Uploads, blobs: BlobStore, upload: UploadRow
) -> BlobInfo:
    """Check what arrived against what the upload promised and keep it as a blob. Short:
    ``upload_incomplete`` (the upload stays, to be resumed); other content:
    ``attachment_digest_mismatch`` and nothing is kept."""
    offset = await uploads.offset(upload.upload_id)
    if offset is None:
        raise UploadError("not_found", f"upload {upload.upload_id} has no content here")
    if offset < upload.size:
        raise UploadError(
            "upload_incomplete",
            f"{offset} of {upload.size} bytes have arrived: send the rest from byte {offset}",
            offset,
        )
    info = await uploads.finish(upload.upload_id)
    try:
        if info.digest != upload.sha256 or info.size != upload.size:
            raise UploadError(
                "attachment_digest_mismatch",
                f"the {info.size} bytes uploaded have SHA-256 {info.digest}, not the "
                f"{upload.sha256} announced: nothing is kept",
            )
        await keep(store, blobs, upload.owner, uploads.path(upload.upload_id), info)
    finally:
        await uploads.discard(upload.upload_id)
        await store.end_upload(upload.upload_id)
    return info


async def keep(store: Store, blobs: BlobStore, owner: str, path: Path, info: BlobInfo) -> None:
    """Make a checked file the blob ``info``, ``owner``'s. Content first, then the record —
    waiting while the collector removes an older copy — then the content again if that
    removal took it (``path`` is still the caller's)."""
    await blobs.put_file(path, info)
    for _ in range(600):
        if await store.claim_blob(info.digest, info.size, owner):
            break
        await asyncio.sleep(0.1)
    else:
        raise UploadError("unavailable", f"blob {info.digest} is being removed; try again")
    if await blobs.stat(info.digest) is None:
        await blobs.put_file(path, info)


async def keep_file(
    store: Store, blobs: BlobStore, config: HubConfig, owner: str, path: Path
) -> BlobInfo:
    """A local file kept as ``owner``'s blob, streamed (``hub send`` next to the hub)."""
    staged, info = await spool(
        _read_file(path, config.blobs.chunk_size), config.blob_directory / "tmp"
    )
    try:
        await keep(store, blobs, owner, staged, info)
    finally:
        with contextlib.suppress(OSError):
            staged.unlink()
    return info


async def _read_file(path: Path, chunk_size: int) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, chunk_size):
            yield chunk
    finally:
        handle.close()


async def stream_into(
    uploads: Uploads, upload: UploadRow, start: int, chunks: AsyncIterable[bytes]
) -> int:
    """Append a range to an upload; the new offset."""
    try:
        return await uploads.append(upload.upload_id, start, chunks, upload.size)
    except FileNotFoundError:  # begun on another node, or its file was lost
        raise UploadError(
            "not_found", f"upload {upload.upload_id} has no content on this node"
        ) from None
    except OffsetMismatchError as exc:
        raise UploadError(
            "conflict", f"the upload is at byte {exc.offset}, not {start}", exc.offset
        ) from None
    except BlobMismatchError as exc:
        raise UploadError("too_large", str(exc), await uploads.offset(upload.upload_id)) from None


# ---------------------------------------------------------------------------- the collector
@dataclass(frozen=True)
class CollectRun:
    """What a run of the collector removed."""

    blobs: int
    uploads: int
    leftovers: int  # content without a record (a put that died before its record)


def _failpoint(step: str) -> None:
    if os.environ.get(FAILPOINT) == step:
        os.kill(os.getpid(), signal.SIGKILL)


async def collect(
    store: Store, blobs: BlobStore, uploads: Uploads, grace: float, now: dt.datetime | None = None
) -> CollectRun:
    """Remove what no message refers to and nobody uploaded within ``grace`` seconds: blobs
    (mark, remove the content, forget the record: each step durable before the next),
    uploads never finished, and content the store has no record of."""
    moment = now or dt.datetime.now(dt.UTC)
    before = (moment - dt.timedelta(seconds=grace)).isoformat(timespec="microseconds")
    stale = await store.stale_uploads(before)
    for upload_id in stale:
        await uploads.discard(upload_id)
        await store.end_upload(upload_id)
    removed = 0
    while doomed := await store.doom_blobs(before):
        _failpoint("after-doom")
        for digest in doomed:
            await blobs.delete(digest)
        _failpoint("after-delete")
        await store.forget_blobs(doomed)
        removed += len(doomed)
    leftovers = 0
    cut = moment.timestamp() - grace
    found = [d async for d, written in blobs.digests() if written < cut]
    for start in range(0, len(found), 500):
        batch = found[start : start + 500]
        known = await store.known_blobs(batch)
        for digest in batch:
            if digest not in known and await blobs.delete(digest):
                leftovers += 1
    if removed or stale or leftovers:
        log.info(
            "blobs: %d removed, %d unfinished uploads and %d leftovers cleared",
            removed, len(stale), leftovers,
        )  # fmt: skip
    return CollectRun(removed, len(stale), leftovers)
