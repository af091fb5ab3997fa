"""Retention runs: every prunable message older than a cut-off, in batches of one short
transaction each, with a pause between them for the hub's own writes; the run is on the audit
log (who, why, how many). ``hub store prune`` runs one; ``hub serve`` runs one a day when
``[store] retention_days`` is set (one node of several: a lease)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from hub.store import Store

log = logging.getLogger("hub.retention")

RETENTION = "retention"  # the lease of the daily run
DAILY = 24 * 3600.0


@dataclass(frozen=True)
class RetentionRun:
    """What a run did."""

    before: str
    deleted: int
    kept: int
    batches: int
    seconds: float
    longest_batch: float  # seconds: how long the hub's writes could have waited behind one


def cut_off(days: int, now: dt.datetime | None = None) -> str:
    """The store's time stamp ``days`` days before now (messages received before it go)."""
    moment = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    return moment.isoformat(timespec="microseconds")


async def prune(
    store: Store,
    before: str,
    *,
    batch: int = 500,
    pause: float = 0.05,
    actor: str = "hub",
    reason: str = "",
    progress: Callable[[RetentionRun], None] | None = None,
) -> RetentionRun:
    """Prune everything prunable received before ``before``; audited."""
    started = time.monotonic()
    deleted = kept = batches = 0
    longest = 0.0
    after = None
    while True:
        t0 = time.monotonic()
        result = await store.prune_batch(before, after, batch, actor, reason)
        longest = max(longest, time.monotonic() - t0)
        if result.cursor is None:
            break
        deleted, kept, batches = deleted + result.deleted, kept + result.kept, batches + 1
        after = result.cursor
        if progress is not None:
            progress(
                RetentionRun(before, deleted, kept, batches, time.monotonic() - started, longest)
            )
        if pause:
            await asyncio.sleep(pause)
    run = RetentionRun(before, deleted, kept, batches, time.monotonic() - started, longest)
    detail = json.dumps({"deleted": deleted, "kept": kept, "batches": batches,
                         "seconds": round(run.seconds, 3)})  # fmt: skip
    await store.audit(
        actor, "cli" if actor != "hub" else "hub", "store.prune", before, reason, detail
    )
    return run


async def daily(store: Store, days: int) -> None:
    """The job ``hub serve`` runs under the retention lease."""
    run = await prune(store, cut_off(days), reason=f"[store] retention_days = {days}")
    if run.deleted:
        log.info(
            "retention: %d messages received before %s pruned in %d batches (%.1f s), %d kept",
            run.deleted, run.before, run.batches, run.seconds, run.kept,
        )  # fmt: skip
