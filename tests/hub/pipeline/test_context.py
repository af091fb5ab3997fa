"""What the hub lends adapters (hub/pipeline/context.py): content an adapter fetched from
outside (SMEV's file storage) kept as the sending participant's blob, streamed; a stream that
fails keeps nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from hub.pipeline.context import HubAdapterContext
from tests.hub.harness import Deployment, running_hub


async def _chunks(content: bytes, fail: bool = False) -> AsyncIterator[bytes]:
    for start in range(0, len(content), 65536):
        yield content[start : start + 65536]
    if fail:
        raise ValueError("the file is not what its hash says")


async def test_an_adapter_keeps_fetched_content_as_the_senders_blob(
    deployment: Deployment,
) -> None:
    async with running_hub(deployment) as hub:
        context = HubAdapterContext(
            "smev", "hub.main", hub.store, hub.transport, None, None,  # type: ignore[arg-type]
            blobs=hub.blobs,
        )  # fmt: skip
        content = os.urandom(300_000)
        info = await context.keep_blob(_chunks(content), "agency.rosreestr")
        assert (info.digest, info.size) == (hashlib.sha256(content).hexdigest(), len(content))
        assert await hub.store.may_read_blob(info.digest, ("agency.rosreestr",))
        assert not await hub.store.may_read_blob(info.digest, ("dept.finance",))
        assert b"".join([c async for c in context.read_blob(info.digest)]) == content
        other = os.urandom(1000)
        with pytest.raises(ValueError):
            await context.keep_blob(_chunks(other, fail=True), "agency.rosreestr")
        assert await hub.blobs.stat(hashlib.sha256(other).hexdigest()) is None
