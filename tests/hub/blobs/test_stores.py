"""The blob stores' contract, the same test bodies on the filesystem and on S3 (moto)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.abc import BlobMismatchError, BlobStore
from hub.blobs.fs import FsBlobStore
from hub.blobs.uploads import OffsetMismatchError, Uploads

CONTENT = os.urandom(300_000)
DIGEST = hashlib.sha256(CONTENT).hexdigest()


async def chunks(data: bytes, size: int = 50_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read(store: BlobStore, digest: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.get(digest, start, end)])


async def test_put_get_stat_delete(blob_store: BlobStore) -> None:
    info = await blob_store.put(chunks(CONTENT), sha256=DIGEST, size=len(CONTENT))
    assert (info.digest, info.size) == (DIGEST, len(CONTENT))
    assert await blob_store.stat(DIGEST) == info
    assert await read(blob_store, DIGEST) == CONTENT
    assert await read(blob_store, DIGEST, 1000, 2000) == CONTENT[1000:2000]
    assert await read(blob_store, DIGEST, 299_990) == CONTENT[299_990:]
    assert [d async for d, _ in blob_store.digests()] == [DIGEST]
    again = await blob_store.put(chunks(CONTENT))  # the same content: the same blob
    assert again == info
    assert await blob_store.delete(DIGEST)
    assert await blob_store.stat(DIGEST) is None
    assert not await blob_store.delete(DIGEST)


@pytest.mark.parametrize(
    ("sha256", "size"),
    [(hashlib.sha256(b"other").hexdigest(), None), (None, 1000), (None, len(CONTENT) + 1)],
    ids=["digest", "too-long", "truncated"],
)
async def test_content_not_as_announced_keeps_nothing(
    blob_store: BlobStore, sha256: str | None, size: int | None, tmp_path: Path
) -> None:
    with pytest.raises(BlobMismatchError):
        await blob_store.put(chunks(CONTENT), sha256=sha256, size=size)
    assert await blob_store.stat(DIGEST) is None
    assert [d async for d, _ in blob_store.digests()] == []
    spooled = getattr(blob_store, "tmp", None) or getattr(blob_store, "spool_dir", None)
    assert spooled is None or not _files(Path(spooled))


async def test_fs_blobs_are_content_addressed_files(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path)
    await store.put(chunks(CONTENT))
    assert (tmp_path / "sha256" / DIGEST[:2] / DIGEST).read_bytes() == CONTENT
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


async def test_a_big_blob_streams_in_bounded_chunks(blob_store: BlobStore) -> None:
    """30 MB in 1 MB chunks: no chunk read back is bigger than the store's chunk size."""
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    for _ in range(30):
        digest.update(block)

    async def blocks() -> AsyncIterator[bytes]:
        for _ in range(30):
            yield block

    info = await blob_store.put(blocks(), sha256=digest.hexdigest())
    assert info.size == 30 * len(block)
    largest = 0
    again = hashlib.sha256()
    async for chunk in blob_store.get(info.digest):
        largest = max(largest, len(chunk))
        again.update(chunk)
    assert again.hexdigest() == info.digest
    assert largest <= 64 * 1024


async def test_uploads_resume_at_their_offset(blob_store: BlobStore, tmp_path: Path) -> None:
    uploads = Uploads(tmp_path / "up", chunk_size=64 * 1024)
    upload = "a" * 32
    await uploads.create(upload)
    assert await uploads.offset(upload) == 0
    assert await uploads.append(upload, 0, chunks(CONTENT[:100_000]), len(CONTENT)) == 100_000
    with pytest.raises(OffsetMismatchError) as caught:
        await uploads.append(upload, 50_000, chunks(CONTENT[50_000:]), len(CONTENT))
    assert caught.value.offset == 100_000
    with pytest.raises(BlobMismatchError):
        await uploads.append(upload, 100_000, chunks(CONTENT[100_000:] + b"x"), len(CONTENT))
    at = await uploads.offset(upload)
    assert at is not None
    assert await uploads.append(upload, at, chunks(CONTENT[at:]), len(CONTENT)) == len(CONTENT)
    info = await uploads.finish(upload)
    assert (info.digest, info.size) == (DIGEST, len(CONTENT))
    await blob_store.put_file(uploads.path(upload), info)
    await uploads.discard(upload)
    assert await read(blob_store, DIGEST) == CONTENT
    assert await uploads.offset(upload) is None


def _files(directory: Path) -> list[Path]:
    return list(directory.glob("*")) if directory.is_dir() else []
