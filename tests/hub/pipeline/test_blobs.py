"""Attachments by reference through the pipeline, on both transports: an inline attachment
above ``[blobs] threshold`` is kept as the sender's blob and forwarded by reference (the queued
copy stays small, both signatures verify), and the recipient's inbox writes it back, checked."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from envelopes.model import Attachment
from envelopes.parsing import parse_xml
from envelopes.signatures import verify_hub, verify_sender
from tests.hub.harness import Deployment, running_hub, submit, wait_for_state
from tests.hub.pipeline.test_pipeline import take_inbox, trust


def _read(path: Path) -> bytes:
    return path.read_bytes()


async def test_big_inline_attachments_are_forwarded_by_reference(
    deployment: Deployment, tmp_path: Path
) -> None:
    big = os.urandom(2 * 1024 * 1024)
    small = b"a small table" * 10
    attachments = [
        Attachment.from_bytes("att1", "scan.pdf", "application/pdf", big),
        Attachment.from_bytes("att2", "table.csv", "text/csv", small),
    ]
    async with running_hub(deployment) as hub:
        message_id, body = deployment.envelope(attachments=attachments)
        assert len(body) > 2 * 1024 * 1024
        await submit(hub, body)
        assert await wait_for_state(hub.store, message_id, {"delivered"}) == "delivered"
        digest = hashlib.sha256(big).hexdigest()
        assert await hub.store.blob_refs(message_id) == [digest]
        assert await hub.store.may_read_blob(digest, ("dept.culture",))
        got = await take_inbox(deployment, "dept.culture", tmp_path / "in", expect=1)
    assert [i.message_id for i in got] == [message_id]
    delivered = await asyncio.to_thread(_read, got[0].path)
    assert len(delivered) < 64 * 1024
    assert f"blob:sha256:{digest}".encode() in delivered
    root = parse_xml(delivered)
    store = trust(deployment)
    verified = verify_sender(root, store)  # the sender's signature still holds
    assert [r.ref.id for r in verified.envelope.references] == ["att1"]
    assert [a.ref.id for a in verified.envelope.attachments] == ["att2"]
    verify_hub(root, store, "hub.main")
    files = tmp_path / "in" / f"{message_id}.files"
    assert await asyncio.to_thread(_read, files / "scan.pdf") == big
    assert await asyncio.to_thread(_read, files / "table.csv") == small
