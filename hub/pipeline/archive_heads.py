"""The archive's sequencer (docs/decisions/0024-archive-sequencer.md): the one node holding the
``archive-heads`` lease numbers the pending leaves every ``[archive] sequence_interval`` and
signs a tree head every ``head_interval`` (only when the log grew since the last one)."""

from __future__ import annotations

import asyncio
import logging

from envelopes.pki import load_private_key
from hub.archive.heads import now_at
from hub.config import HubConfig
from hub.pipeline.presence import run_leased
from hub.store import Store

log = logging.getLogger("hub.archive")
LEASE = "archive-heads"
HOLD = 60.0  # the lease's interval when heads are signed on demand only
# leaves numbered per transaction (~4 ms on SQLite): SQLite has one writer, and a second's
# worth at saturation in one step (~2,500 leaves, 20 ms) held every commit behind it (p99 at
# half the saturated rate: 97 ms, 47-72 ms in steps of 500; decision 0028)
STEP = 500


async def run(store: Store, config: HubConfig, node: str) -> None:
    """Until cancelled: hold (or wait for) the lease; while held, integrate and sign."""
    interval = config.archive.head_interval
    key = load_private_key(config.path(config.pki.key)) if interval > 0 else None

    async def sign() -> None:
        if key is None:
            return
        head = await store.sign_head(key, now_at())
        log.debug("tree head of %d entries (%s)", head.size, head.root.hex())

    holding = asyncio.Event()
    leased = asyncio.create_task(
        run_leased(store, LEASE, node, interval if interval > 0 else HOLD, sign, holding=holding)
    )
    try:
        await sequence(store, holding, config.archive.sequence_interval)
    finally:
        leased.cancel()
        await asyncio.gather(leased, return_exceptions=True)


async def sequence(store: Store, holding: asyncio.Event, every: float) -> None:
    """Integrate the pending leaves every ``every`` seconds while ``holding`` is set (the lease's
    own renewals keep it: reading the lease every second cost an idle hub a store query)."""
    while True:
        await asyncio.sleep(every)
        await holding.wait()
        try:
            done = step = await store.archive_integrate(STEP)
            while step == STEP:  # the rest in more steps: the hub's commits go in between
                step = await store.archive_integrate(STEP)
                done += step
            if done:
                log.debug("integrated %d leaves", done)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the archive's sequencer failed; trying again")
