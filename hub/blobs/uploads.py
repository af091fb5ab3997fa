"""Uploads under way: one file per upload (``<dir>/uploads/<id>.part``), appended to range by
range (``Content-Range``) so that a broken connection resumes where the file ends. Finishing
hashes the file in chunks; the blob store then takes it. Who may write to an upload, and what
it promised (SHA-256 and size), is in the store (``uploads``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterable
from pathlib import Path

from hub.abc import BlobInfo, BlobMismatchError
from hub.blobs.files import hash_file

_ID = re.compile(r"^[0-9a-f]{32}$")


class OffsetMismatchError(Exception):
    """A range that does not start where the upload ends (``offset`` says where it does)."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the upload is at byte {offset}")
        self.offset = offset


class Uploads:
    """The folder of uploads under way."""

    def __init__(self, directory: Path, chunk_size: int = 1024 * 1024) -> None:
        self.directory = directory / "uploads"
        self.chunk_size = chunk_size

    def path(self, upload_id: str) -> Path:
        if not _ID.match(upload_id):
            raise ValueError(f"{upload_id!r} is not an upload id")
        return self.directory / f"{upload_id}.part"

    async def create(self, upload_id: str) -> None:
        def make() -> None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path(upload_id).touch(exist_ok=True)

        await asyncio.to_thread(make)

    async def offset(self, upload_id: str) -> int | None:
        """How many bytes have arrived (None: no such upload here)."""
        try:
            return (await asyncio.to_thread(self.path(upload_id).stat)).st_size
        except FileNotFoundError:
            return None

    async def append(
        self, upload_id: str, start: int, chunks: AsyncIterable[bytes], size: int
    ) -> int:
        """Write the chunks from byte ``start``, which must be where the upload ends; never
        past ``size``. Returns the new offset once it is on disk (what arrived before a broken
        connection stays: the client resumes from there)."""
        path = self.path(upload_id)
        handle = await asyncio.to_thread(path.open, "r+b")
        try:
            at = await asyncio.to_thread(handle.seek, 0, os.SEEK_END)
            if at != start:
                raise OffsetMismatchError(at)
            pending = bytearray()  # the network's small chunks, written a chunk_size at a time
            try:
                async for chunk in chunks:
                    if at + len(pending) + len(chunk) > size:
                        raise BlobMismatchError(f"more than the {size} bytes announced")
                    pending += chunk
                    if len(pending) >= self.chunk_size:
                        await asyncio.to_thread(handle.write, bytes(pending))
                        at += len(pending)
                        pending.clear()
            finally:
                if pending:
                    await asyncio.to_thread(handle.write, bytes(pending))
                    at += len(pending)
                await asyncio.to_thread(handle.flush)
                await asyncio.to_thread(os.fsync, handle.fileno())
        finally:
            handle.close()
        return at

    async def finish(self, upload_id: str) -> BlobInfo:
        """The SHA-256 and size of what arrived."""
        return await asyncio.to_thread(hash_file, self.path(upload_id), self.chunk_size)

    async def discard(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            await asyncio.to_thread(self.path(upload_id).unlink)
