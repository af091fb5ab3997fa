"""``hub dlq``: dead letters — list, show, replay, discard (replays and discards on record)."""

from __future__ import annotations

import asyncio

import click

from hub.cli.support import Rejected, config_option, deployment_config, to_json


@click.group()
def dlq() -> None:
    """Dead letters: messages the hub gave up delivering."""


@dlq.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
def dlq_list(config_path: str, as_json: bool) -> None:
    """One line per dead letter: id, destination, when, last error."""
    from hub.ops.dead_letters import dead_letters, letters_json

    letters = asyncio.run(dead_letters(deployment_config(config_path)))
    if as_json:
        click.echo(letters_json(letters))
        return
    for d in letters:
        click.echo(f"{d.message_id} {d.destination} {d.at} {d.error}")


@dlq.command("show")
@click.argument("message_id")
@config_option
def dlq_show(message_id: str, config_path: str) -> None:
    """A dead letter with its headers and the message's timeline."""
    from hub.ops.dead_letters import dead_letters
    from hub.ops.trace import format_trace, trace

    config = deployment_config(config_path)
    letters = asyncio.run(dead_letters(config, [message_id]))
    if not letters:
        raise Rejected([f"no dead letter {message_id}"])
    for d in letters:
        click.echo(f"{d.message_id}  {d.destination}  dead since {d.at}")
        click.echo(f"  last error: {d.error}")
        click.echo(f"  size: {d.size} bytes; headers: {to_json(d.headers)}")
    data = asyncio.run(trace(config, message_id))
    if data is not None:
        click.echo(format_trace(data))


@dlq.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="every dead letter (see --destination)")
@click.option("--destination", help="only those for this adapter or adapter:address")
@click.option("--reason", default="", help="why, for the timeline")
@config_option
def dlq_replay(
    ids: tuple[str, ...], replay_all: bool, destination: str | None, reason: str, config_path: str
) -> None:
    """Send dead letters again (their attempts start over)."""
    from hub.ops.dead_letters import replay

    if not ids and not replay_all:
        raise click.UsageError("name dead letters by id, or use --all")
    config = deployment_config(config_path)
    letters = asyncio.run(replay(config, list(ids), replay_all, destination, reason))
    missing = set(ids) - {d.message_id for d in letters}
    for d in letters:
        click.echo(f"{d.message_id} replayed to {d.destination}")
    if missing:
        raise Rejected([f"no dead letter {m}" for m in sorted(missing)])


@dlq.command("discard")
@click.argument("ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="why, for the timeline")
@config_option
def dlq_discard(ids: tuple[str, ...], reason: str, config_path: str) -> None:
    """Give up on dead letters for good (recorded with who, when and why)."""
    from hub.ops.dead_letters import discard

    config = deployment_config(config_path)
    letters = asyncio.run(discard(config, list(ids), reason))
    missing = set(ids) - {d.message_id for d in letters}
    for d in letters:
        click.echo(f"{d.message_id} discarded")
    if missing:
        raise Rejected([f"no dead letter {m}" for m in sorted(missing)])
