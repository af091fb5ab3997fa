"""What both blob stores do with local files: write chunks while hashing them, fsync, rename
atomically, fsync the folder; read a range back in chunks. Blocking calls run in threads (the
hash too: hashlib lets go of the GIL on large chunks), so the event loop never waits on a disk."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from hub.abc import BlobInfo, BlobMismatchError


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(handle: BinaryIO, digest: hashlib._Hash, chunk: bytes) -> None:
    digest.update(chunk)
    handle.write(chunk)


def _finish(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


async def spool(
    chunks: AsyncIterable[bytes],
    directory: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
) -> tuple[Path, BlobInfo]:
    """Write the chunks to a new fsynced file in ``directory`` while hashing them; refuse
    (``BlobMismatchError``, the file removed) content over ``size`` or not ``sha256``."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.tmp"
    digest = hashlib.sha256()
    written = 0
    handle = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in chunks:
            written += len(chunk)
            if size is not None and written > size:
                raise BlobMismatchError(f"more than the {size} bytes announced")
            await asyncio.to_thread(_write, handle, digest, chunk)
        await asyncio.to_thread(_finish, handle)
        info = BlobInfo(digest.hexdigest(), written)
        if size is not None and written != size:
            raise BlobMismatchError(f"{written} bytes, {size} announced (truncated)")
        if sha256 is not None and info.digest != sha256.lower():
            raise BlobMismatchError(f"SHA-256 is {info.digest}, {sha256} announced")
    except BaseException:
        handle.close()
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path, info


async def put_spooled(
    chunks: AsyncIterable[bytes],
    directory: Path,
    place: Callable[[Path, BlobInfo], Awaitable[None]],
    *,
    sha256: str | None,
    size: int | None,
) -> BlobInfo:
    """``BlobStore.put`` of every store: spool the stream (hashing and checking it), hand the
    file to ``place`` (the store's ``put_file``), remove the spool file whatever happens."""
    path, info = await spool(chunks, directory, sha256=sha256, size=size)
    try:
        await place(path, info)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    return info


def hash_file(path: Path, chunk_size: int) -> BlobInfo:
    """The SHA-256 and size of a file, read in chunks (blocking: run it in a thread)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
            size += len(chunk)
    return BlobInfo(digest.hexdigest(), size)


async def read_range(
    path: Path, start: int, end: int | None, chunk_size: int
) -> AsyncIterator[bytes]:
    """Bytes ``start`` to ``end`` (exclusive) of a file, in chunks."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(handle.seek, start)
        left = None if end is None else max(0, end - start)
        while left is None or left > 0:
            want = chunk_size if left is None else min(chunk_size, left)
            chunk = await asyncio.to_thread(handle.read, want)
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            yield chunk
    finally:
        handle.close()
