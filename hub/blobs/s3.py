"""The S3-compatible blob store (for several hub nodes): one object per blob,
``<prefix>sha256/<64 hex>``. A blob is spooled to a local file while it is hashed, then sent
as a multipart upload of ``part_size`` parts (boto3, in a thread): memory stays at a few parts
whatever the size, and an object appears whole or not at all (S3 completes a multipart upload
atomically). boto3 is imported only when this store is configured."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

from hub.abc import BlobInfo, BlobStore
from hub.blobs.files import put_spooled
from hub.blobs.fs import check_digest
from hub.config import HubConfig, S3Config
from hub.errors import ConfigError


class S3BlobStore(BlobStore):
    """Blobs as objects in one bucket."""

    def __init__(self, settings: S3Config, spool_dir: Path, chunk_size: int = 1024 * 1024) -> None:
        if not settings.bucket:
            raise ConfigError('blobs.s3.bucket: required when blobs.store = "s3"')
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
        except ImportError:
            raise ConfigError(
                'blobs.store = "s3" needs boto3: pip install "interagency-hub[s3]" (or boto3)'
            ) from None
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.spool_dir = spool_dir
        self.chunk_size = chunk_size
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url or None,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id or None,
            aws_secret_access_key=settings.secret_access_key or None,
        )
        self.transfer = TransferConfig(
            multipart_threshold=settings.part_size,
            multipart_chunksize=settings.part_size,
            max_concurrency=2,
            use_threads=True,
        )

    @classmethod
    def from_config(cls, config: HubConfig) -> S3BlobStore:
        return cls(config.blobs.s3, config.blob_directory / "tmp", config.blobs.chunk_size)

    def key(self, digest: str) -> str:
        return f"{self.prefix}sha256/{check_digest(digest)}"

    async def put(
        self, chunks: AsyncIterable[bytes], *, sha256: str | None = None, size: int | None = None
    ) -> BlobInfo:
        return await put_spooled(chunks, self.spool_dir, self.put_file, sha256=sha256, size=size)

    async def put_file(self, path: Path, info: BlobInfo) -> None:
        if await self.stat(info.digest) is not None:
            return  # the same content already
        await asyncio.to_thread(
            self.client.upload_file,
            str(path),
            self.bucket,
            self.key(info.digest),
            Config=self.transfer,
        )

    async def get(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        extra: dict[str, str] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        answer = await asyncio.to_thread(
            self.client.get_object, Bucket=self.bucket, Key=self.key(digest), **extra
        )
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, self.chunk_size):
                yield chunk
        finally:
            body.close()

    async def stat(self, digest: str) -> BlobInfo | None:
        from botocore.exceptions import ClientError

        try:
            head = await asyncio.to_thread(
                self.client.head_object, Bucket=self.bucket, Key=self.key(digest)
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return BlobInfo(digest, int(head["ContentLength"]))

    async def delete(self, digest: str) -> bool:
        if await self.stat(digest) is None:
            return False
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self.key(digest))
        return True

    async def digests(self) -> AsyncIterator[tuple[str, float]]:
        def pages() -> list[tuple[str, float]]:
            found = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}sha256/"):
                for item in page.get("Contents", []):
                    name = str(item["Key"]).rsplit("/", 1)[-1]
                    found.append((name, item["LastModified"].timestamp()))
            return found

        for item in await asyncio.to_thread(pages):
            yield item

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
