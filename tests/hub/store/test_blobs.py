"""Blobs in the store, on SQLite and PostgreSQL: references checked in the ingest transaction
(missing, not the signed size, another participant's), read access for the parties of the
messages that refer to a blob, and the collector, which never removes a referenced blob."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.abc import State
from hub.blobs.fs import FsBlobStore
from hub.blobs.uploads import Uploads
from hub.ops.blobs import collect, keep
from hub.records import Processed
from hub.store import Store
from tests.hub.store.test_contract import decision

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)  # past the grace period


@pytest.fixture
async def blobs(tmp_path: Path) -> AsyncIterator[FsBlobStore]:
    yield FsBlobStore(tmp_path / "blobs")


async def stored(store: Store, blobs: FsBlobStore, owner: str, content: bytes) -> str:
    staged = blobs.directory.parent / "staged"
    staged.write_bytes(content)
    from hub.abc import BlobInfo

    info = BlobInfo(hashlib.sha256(content).hexdigest(), len(content))
    await keep(store, blobs, owner, staged, info)
    staged.unlink()
    return info.digest


def referring(digest: str, size: int, **kwargs: object) -> Processed:
    p = decision(**kwargs)  # type: ignore[arg-type]
    p.blobs = [("att1", digest, size)]
    return p


async def test_an_owned_blob_is_accepted_and_readable_by_the_recipient(
    store: Store, blobs: FsBlobStore
) -> None:
    digest = await stored(store, blobs, "dept.finance", b"scan" * 1000)
    p = referring(digest, 4000)
    (outcome,) = await store.record_ingest([p], [None], [None])
    assert outcome.status == "new" and outcome.refusal is None
    assert p.state == State.ACCEPTED
    assert await store.blob_refs(p.message_id) == [digest]
    assert await store.may_read_blob(digest, ("dept.culture",))
    assert await store.may_read_blob(digest, ("dept.finance",))
    assert not await store.may_read_blob(digest, ("dept.land",))
    assert await store.may_read_blob(digest, ())  # readers of everything
    # the recipient may send on what it received, without uploading it again
    forward = referring(digest, 4000, sender="dept.culture", recipient="dept.land")
    await store.record_ingest([forward], [None], [None])
    assert forward.state == State.ACCEPTED
    assert await store.may_read_blob(digest, ("dept.land",))


@pytest.mark.parametrize("case", ["missing", "size", "forbidden"])
async def test_references_that_cannot_stand_are_rejected(
    store: Store, blobs: FsBlobStore, case: str
) -> None:
    digest = await stored(store, blobs, "dept.land", b"plan" * 1000)
    p = {
        "missing": referring(hashlib.sha256(b"nothing").hexdigest(), 7),
        "size": referring(digest, 3999, sender="dept.land"),
        "forbidden": referring(digest, 4000),  # dept.finance refers to dept.land's blob
    }[case]
    (outcome,) = await store.record_ingest([p], [None], [None])
    code = {"missing": "attachment_missing", "size": "attachment_digest_mismatch",
            "forbidden": "attachment_forbidden"}[case]  # fmt: skip
    assert outcome.refusal is not None and outcome.refusal[0] == code
    assert p.state == State.REJECTED and p.code == code and p.outgoing == []
    row = await store.get_message(p.message_id)
    assert row is not None and row.state == State.REJECTED
    assert code in (row.reason or "") or "Reference[@Ref='att1']" in (row.reason or "")
    assert await store.blob_refs(p.message_id) == []
    assert await store.deliveries(p.message_id) == []


async def test_the_collector_keeps_what_is_referred_to(
    store: Store, blobs: FsBlobStore, tmp_path: Path
) -> None:
    uploads = Uploads(tmp_path / "up")
    used = await stored(store, blobs, "dept.finance", b"used" * 100)
    unused = await stored(store, blobs, "dept.finance", b"unused" * 100)
    p = referring(used, 400)
    await store.record_ingest([p], [None], [None])
    # within the grace period nothing goes
    run = await collect(store, blobs, uploads, grace=86400)
    assert run.blobs == 0 and await blobs.stat(unused) is not None
    run = await collect(store, blobs, uploads, grace=86400, now=LATER)
    assert run.blobs == 1
    assert await blobs.stat(unused) is None and await store.blob(unused) is None
    assert await blobs.stat(used) is not None and await store.blob(used) is not None
    # a rejected message's blob has no reference: it goes after the grace period
    rejected = await stored(store, blobs, "dept.land", b"rejected" * 100)
    await store.record_ingest([referring(rejected, 800)], [None], [None])  # forbidden
    assert (await collect(store, blobs, uploads, grace=86400, now=LATER)).blobs == 1
    assert await blobs.stat(rejected) is None and await blobs.stat(used) is not None


async def test_retention_lets_the_blobs_of_deleted_messages_go(
    store: Store, blobs: FsBlobStore, tmp_path: Path
) -> None:
    used = await stored(store, blobs, "dept.finance", b"old" * 100)
    p = referring(used, 300)
    await store.record_ingest([p], [None], [None])
    from hub.records import DeliveryMark
    from tests.hub.store.test_contract import INTERNAL

    await store.mark_delivered([DeliveryMark(p.message_id, [INTERNAL], [])])
    await store.record(p.message_id, State.DELIVERED, "to dept.culture")
    other = decision()
    await store.record_ingest([other], [None], [None])
    before = LATER.isoformat(timespec="microseconds")
    batch = await store.prune_batch(before, None, 100)
    assert batch.deleted >= 1 and await store.get_message(p.message_id) is None
    assert await store.blob_refs(p.message_id) == []
    run = await collect(store, blobs, Uploads(tmp_path / "up"), grace=86400, now=LATER)
    assert run.blobs == 1 and await blobs.stat(used) is None


async def test_a_blob_marked_by_a_run_that_died_is_never_referred_to(
    store: Store, blobs: FsBlobStore, tmp_path: Path
) -> None:
    """A run marks a blob and dies before removing it: while marked, a reference to it is
    refused as missing (never accepted and then lost); the next run finishes the removal;
    uploading it again afterwards makes it whole again."""
    content = b"doomed" * 100
    digest = await stored(store, blobs, "dept.finance", content)
    before = LATER.isoformat(timespec="microseconds")
    assert await store.doom_blobs(before) == [digest]  # ... and the run dies here
    p = referring(digest, len(content))
    (outcome,) = await store.record_ingest([p], [None], [None])
    assert outcome.refusal is not None and outcome.refusal[0] == "attachment_missing"
    assert not await store.may_read_blob(digest, ("dept.finance",))
    run = await collect(store, blobs, Uploads(tmp_path / "up"), grace=86400, now=LATER)
    assert run.blobs == 1 and await blobs.stat(digest) is None
    again = await stored(store, blobs, "dept.finance", content)
    assert again == digest and await blobs.stat(digest) is not None
    p = referring(digest, len(content))
    await store.record_ingest([p], [None], [None])
    assert p.state == State.ACCEPTED
