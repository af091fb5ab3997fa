"""The filesystem blob store (the default): ``<dir>/sha256/<2 hex>/<64 hex>``, each written to a
temporary file, fsynced, renamed into place and its folder fsynced — a blob is there whole or
not at all, whatever moment the hub is killed at."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from hub.abc import BlobInfo, BlobStore
from hub.blobs.files import fsync_dir, put_spooled, read_range

_HEX = re.compile(r"^[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    """A blob key is 64 lower-case hex digits (it becomes a file name: nothing else passes)."""
    if not _HEX.match(digest):
        raise ValueError(f"{digest!r} is not a SHA-256 in lower-case hex")
    return digest


class FsBlobStore(BlobStore):
    """Blobs as files under one folder (the hub's ``data_dir/blobs`` by default)."""

    def __init__(self, directory: Path, chunk_size: int = 1024 * 1024) -> None:
        self.directory = directory
        self.chunk_size = chunk_size
        self.tmp = directory / "tmp"

    def path(self, digest: str) -> Path:
        check_digest(digest)
        return self.directory / "sha256" / digest[:2] / digest

    async def put(
        self, chunks: AsyncIterable[bytes], *, sha256: str | None = None, size: int | None = None
    ) -> BlobInfo:
        return await put_spooled(chunks, self.tmp, self.put_file, sha256=sha256, size=size)

    async def put_file(self, path: Path, info: BlobInfo) -> None:
        await asyncio.to_thread(self._place, path, info)

    def _place(self, path: Path, info: BlobInfo) -> None:
        """A hard link: created whole or not at all, and the caller's file stays its own
        (it may need to put it again, ``hub.ops.blobs.keep``). Across file systems: a copy,
        fsynced, renamed into place."""
        final = self.path(info.digest)
        if final.exists():  # the same content already (content-addressed)
            return
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, final)
        except FileExistsError:
            return
        except OSError:  # another file system: copy, then rename atomically
            copy = final.with_name(f"{final.name}.{os.getpid()}.tmp")
            shutil.copyfile(path, copy)
            with copy.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(copy, final)
        fsync_dir(final.parent)

    async def get(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        async for chunk in read_range(self.path(digest), start, end, self.chunk_size):
            yield chunk

    async def stat(self, digest: str) -> BlobInfo | None:
        try:
            st = await asyncio.to_thread(self.path(digest).stat)
        except FileNotFoundError:
            return None
        return BlobInfo(digest, st.st_size)

    async def delete(self, digest: str) -> bool:
        path = self.path(digest)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        await asyncio.to_thread(fsync_dir, path.parent)
        return True

    async def digests(self) -> AsyncIterator[tuple[str, float]]:
        def listing() -> list[tuple[str, float]]:
            found = []
            for path in (self.directory / "sha256").glob("??/*"):
                if _HEX.match(path.name):
                    with contextlib.suppress(FileNotFoundError):
                        found.append((path.name, path.stat().st_mtime))
            return found

        for item in await asyncio.to_thread(listing):
            yield item
