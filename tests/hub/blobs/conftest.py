"""The blob stores under test: the filesystem one, and the S3 one against moto's S3 server
started here on a free port (a real HTTP server in its own process)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hub.abc import BlobStore
from hub.blobs.fs import FsBlobStore
from hub.config import S3Config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (skipped where moto is not installed)."""
    pytest.importorskip("moto")
    pytest.importorskip("boto3")
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def s3_settings(url: str, bucket: str) -> S3Config:
    import boto3

    settings = S3Config(
        bucket=bucket, endpoint_url=url, access_key_id="test", secret_access_key="test",
        part_size=5 * 1024 * 1024,
    )  # fmt: skip
    boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    return settings


@pytest.fixture(params=["fs", "s3"])
async def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "fs":
        store: BlobStore = FsBlobStore(tmp_path / "blobs", chunk_size=64 * 1024)
    else:
        from hub.blobs.s3 import S3BlobStore

        url = request.getfixturevalue("s3_server")
        bucket = f"b{os.getpid()}-{time.monotonic_ns()}"
        store = S3BlobStore(s3_settings(url, bucket), tmp_path / "spool", 64 * 1024)
    yield store
    await store.aclose()
