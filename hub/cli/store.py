"""``hub store``: retention and legal holds (docs/retention.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import asdict
from typing import Any

import click

from hub.cli.support import Rejected, config_option, deployment_config


@click.group()
def store() -> None:
    """The store: prune old messages (retention), legal holds, collect unused blobs."""


@store.command("prune")
@click.option("--older-than", "days", type=click.IntRange(min=1),
              help="days (default: [store] retention_days)")  # fmt: skip
@click.option("--before", "before_day", type=click.DateTime(["%Y-%m-%d", "%d.%m.%Y"]),
              help="a day instead: received before it (2026-01-01 or 01.01.2026)")  # fmt: skip
@click.option("--batch", type=click.IntRange(10, 10_000), default=500, show_default=True,
              help="messages per transaction")  # fmt: skip
@click.option("--pause", type=click.FloatRange(0, 10), default=0.05, show_default=True,
              help="seconds between batches (the hub's own writes go first)")  # fmt: skip
@click.option("--reason", default="", help="why, for the audit log")
@config_option
def prune_command(
    days: int | None, before_day: dt.datetime | None, batch: int, pause: float, reason: str,
    config_path: str,
) -> None:  # fmt: skip
    """Delete messages older than the retention age, in small batches, with all their rows:
    never one in flight, a document on control, or one on legal hold. Safe while the hub runs."""
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator
    from hub.ops.retention import RetentionRun, cut_off, prune

    config = deployment_config(config_path)
    if before_day is not None and days is not None:
        raise Rejected(["give --older-than or --before, not both"])
    if before_day is not None:
        before = before_day.replace(tzinfo=dt.UTC).isoformat(timespec="microseconds")
    else:
        days = days or config.store.retention_days
        if not days:
            raise Rejected(["how old? --older-than DAYS, --before DAY or [store] retention_days"])
        before = cut_off(days)

    def shown(run: RetentionRun) -> None:
        click.echo(f"\r{run.deleted} pruned, {run.kept} kept …", nl=False, err=True)

    async def run() -> RetentionRun:
        async with opened_store(config) as st:
            return await prune(st, before, batch=batch, pause=pause, actor=operator(),
                               reason=reason, progress=shown)  # fmt: skip

    result = asyncio.run(run())
    click.echo("", err=True)
    click.echo(
        f"{result.deleted} messages received before {before} pruned in {result.batches} "
        f"batches ({result.seconds:.1f} s, the longest {result.longest_batch * 1000:.0f} ms); "
        f"{result.kept} kept (in flight, on control or held)"
    )


@store.command("hold")
@click.argument("message_ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="why (a court's request, an inspection …)")
@config_option
def hold_command(message_ids: tuple[str, ...], reason: str, config_path: str) -> None:
    """Keep MESSAGE_IDS from retention, whatever their age, until released."""
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator

    config = deployment_config(config_path)
    who = operator()

    async def run() -> list[str]:
        async with opened_store(config) as st:
            held = await st.hold_messages(list(message_ids), reason, who)
            for message_id in held:
                await st.audit(who, "cli", "store.hold", message_id, reason, "{}")
            already = {h.message_id for h in await st.legal_holds()}
            return [m for m in message_ids if m not in already]

    unknown = asyncio.run(run())
    for message_id in message_ids:
        if message_id not in unknown:
            click.echo(f"{message_id} held")
    if unknown:
        raise Rejected([f"{m}: no such message in the store" for m in unknown])


@store.command("release")
@click.argument("message_ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="why the hold ends")
@config_option
def release_command(message_ids: tuple[str, ...], reason: str, config_path: str) -> None:
    """Let retention have MESSAGE_IDS again."""
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator

    config = deployment_config(config_path)
    who = operator()

    async def run() -> list[str]:
        async with opened_store(config) as st:
            released = await st.release_holds(list(message_ids))
            for message_id in released:
                await st.audit(who, "cli", "store.release", message_id, reason, "{}")
            return released

    released = asyncio.run(run())
    for message_id in released:
        click.echo(f"{message_id} released")
    missing = [m for m in message_ids if m not in released]
    if missing:
        raise Rejected([f"{m}: not on hold" for m in missing])


@store.command("holds")
@click.option("--json", "as_json", is_flag=True)
@config_option
def holds_command(as_json: bool, config_path: str) -> None:
    """Every message on legal hold: since when, by whom, why."""
    from hub.ops.connection import opened_store

    config = deployment_config(config_path)

    async def run() -> list[Any]:
        async with opened_store(config) as st:
            return await st.legal_holds()

    holds = asyncio.run(run())
    if as_json:
        click.echo(json.dumps([asdict(h) for h in holds], ensure_ascii=False, indent=2))
        return
    for h in holds:
        click.echo(f"{h.message_id}  {h.held_at}  {h.held_by}  {h.reason}")


@store.command("collect-blobs")
@click.option("--grace", type=click.FloatRange(0), help="seconds (default: [blobs] grace)")
@config_option
def collect_blobs_command(grace: float | None, config_path: str) -> None:
    """Remove the blobs no message refers to (retention deleted the messages, they were
    rejected, an upload was never used) once the grace period has passed, and uploads never
    finished. Never a blob a message refers to. Safe while the hub runs (which does it hourly)."""
    from hub.blobs import open_blob_store
    from hub.ops.blobs import CollectRun, collect, uploads_for
    from hub.ops.connection import opened_store

    config = deployment_config(config_path)
    blobs = open_blob_store(config)

    async def run() -> CollectRun:
        try:
            async with opened_store(config) as st:
                return await collect(
                    st, blobs, uploads_for(config),
                    config.blobs.grace if grace is None else grace,
                )  # fmt: skip
        finally:
            await blobs.aclose()

    done = asyncio.run(run())
    click.echo(f"{done.blobs} blobs removed, {done.uploads} unfinished uploads and "
               f"{done.leftovers} leftovers cleared")  # fmt: skip
