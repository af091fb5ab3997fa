"""Blob stores: attachments' content kept by reference (decision 0023). ``fs`` (the default:
files under the hub's data directory) and ``s3`` (an S3-compatible bucket, for several nodes);
both stream, both are content-addressed by SHA-256. Uploads under way are files of their own
(``uploads.py``) whichever store keeps the finished blobs."""

from __future__ import annotations

from hub.abc import BlobStore
from hub.config import HubConfig


def open_blob_store(config: HubConfig) -> BlobStore:
    """The blob store ``[blobs]`` configures."""
    if config.blobs.store == "s3":
        from hub.blobs.s3 import S3BlobStore

        return S3BlobStore.from_config(config)
    from hub.blobs.fs import FsBlobStore

    return FsBlobStore(config.blob_directory, config.blobs.chunk_size)
