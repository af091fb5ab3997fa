"""The blob collector killed between its steps (SIGKILL at a failpoint, in a process of its
own): a referenced blob is never touched, a marked one is never referred to again before it is
gone, and the next run finishes what the killed one began. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from hub.abc import BlobInfo, State
from hub.blobs.fs import FsBlobStore
from hub.ops.blobs import FAILPOINT, keep
from hub.store import Store
from tests.hub.store.test_contract import decision
from tests.support.stores import StoreSpot


def _config(tmp_path: Path, spot: StoreSpot) -> Path:
    url = spot.target if spot.kind == "postgresql" else f"sqlite:///{spot.target}"
    path = tmp_path / "hub.toml"
    path.write_text(
        f'id = "hub.main"\ndata_dir = "data"\n\n[store]\nurl = "{url}"\n\n'
        '[blobs]\ndirectory = "blobs"\n'
    )
    return path


def _collect(config: Path, failpoint: str | None) -> int:
    env = {**os.environ, FAILPOINT: failpoint or ""}
    done = subprocess.run(
        [sys.executable, "-m", "hub", "store", "collect-blobs", "--grace", "0",
         "--config", str(config)],
        env=env, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return done.returncode


async def _kept(store: Store, blobs: FsBlobStore, owner: str, content: bytes) -> str:
    staged = blobs.directory / "staged"
    await asyncio.to_thread(staged.write_bytes, content)
    info = BlobInfo(hashlib.sha256(content).hexdigest(), len(content))
    await keep(store, blobs, owner, staged, info)
    await asyncio.to_thread(staged.unlink)
    return info.digest


async def test_killed_between_marking_and_deleting(
    store: Store, store_spot: StoreSpot, tmp_path: Path
) -> None:
    config = await asyncio.to_thread(_config, tmp_path, store_spot)
    blobs = FsBlobStore(tmp_path / "blobs")
    await asyncio.to_thread(blobs.directory.mkdir, parents=True)
    used = await _kept(store, blobs, "dept.finance", b"referenced" * 1000)
    unused = await _kept(store, blobs, "dept.finance", b"unreferenced" * 1000)
    message = decision()
    message.blobs = [("att1", used, 10_000)]
    await store.record_ingest([message], [None], [None])
    assert message.state == State.ACCEPTED

    # killed right after marking: the unused blob is marked, its content still there
    assert await asyncio.to_thread(_collect, config, "after-doom") == -signal.SIGKILL
    row = await store.blob(unused)
    assert row is not None and row.deleting
    assert await blobs.stat(unused) is not None
    # a reference to it now is refused as missing: never accepted, then lost
    late = decision()
    late.blobs = [("att1", unused, 12_000)]
    (outcome,) = await store.record_ingest([late], [None], [None])
    assert outcome.refusal is not None and outcome.refusal[0] == "attachment_missing"

    # killed after removing the content, before forgetting the record
    assert await asyncio.to_thread(_collect, config, "after-delete") == -signal.SIGKILL
    assert await blobs.stat(unused) is None and await store.blob(unused) is not None

    # the next run finishes; the referenced blob was never touched
    assert await asyncio.to_thread(_collect, config, None) == 0
    assert await store.blob(unused) is None
    assert await blobs.stat(used) == BlobInfo(used, 10_000)
    assert await store.may_read_blob(used, ("dept.culture",))
    content = b"".join([c async for c in blobs.get(used)])
    assert hashlib.sha256(content).hexdigest() == used
