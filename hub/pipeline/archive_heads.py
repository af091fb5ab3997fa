"""Signed tree heads at ``[archive] head_interval``, by the one node holding the job's lease
(docs/archive.md): a head is signed only when the log grew since the last one."""

from __future__ import annotations

import logging

from envelopes.pki import load_private_key
from hub.archive.heads import now_at
from hub.config import HubConfig
from hub.pipeline.presence import run_leased
from hub.store import Store

log = logging.getLogger("hub.archive")
LEASE = "archive-heads"


async def run(store: Store, config: HubConfig, node: str) -> None:
    """Until cancelled (nothing when the interval is 0: heads on demand only)."""
    interval = config.archive.head_interval
    if interval <= 0:
        return
    key = load_private_key(config.path(config.pki.key))

    async def sign() -> None:
        head = await store.sign_head(key, now_at())
        log.debug("tree head of %d entries (%s)", head.size, head.root.hex())

    await run_leased(store, LEASE, node, interval, sign)
