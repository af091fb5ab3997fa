"""``hub send``, ``hub inbox``, ``hub trace``: what a department does with its messages."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from hub.cli.support import Rejected, config_option, deployment_config, to_json


@click.command("send")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@config_option
@click.option(
    "--wait",
    type=float,
    default=10.0,
    show_default=True,
    help="seconds to wait for the hub's decision",
)
def send_command(files: tuple[str, ...], config_path: str, wait: float) -> None:
    """Submit envelope FILES; prints '<message-id> <state>' for each."""
    from hub.ops.submit import send

    config = deployment_config(config_path)
    results = asyncio.run(send(config, [Path(f) for f in files], wait))
    failed = False
    for result in results:
        click.echo(f"{result.message_id} {result.state}")
        if result.state == "rejected":
            failed = True
            for line in (result.reason or "").splitlines():
                click.echo(f"rejected: {result.message_id}: {line}", err=True)
    if failed:
        sys.exit(1)


@click.command("inbox")
@click.argument("participant")
@config_option
@click.option("--max", "max_items", type=click.IntRange(1), help="take at most N")
@click.option("--wait", type=float, default=0.0, help="seconds to wait for something to arrive")
@click.option(
    "-o",
    "--out",
    "out_dir",
    default=".",
    type=click.Path(file_okay=False),
    show_default=True,
    help="folder for the <message-id>.xml files",
)
def inbox_command(
    participant: str, config_path: str, max_items: int | None, wait: float, out_dir: str
) -> None:
    """Take what waits in PARTICIPANT's inbox: '<message-id> <sender> <kind>' per item."""
    from hub.ops.inbox import inbox

    config = deployment_config(config_path)
    items = asyncio.run(inbox(config, participant, Path(out_dir), max_items, wait))
    for item in items:
        click.echo(f"{item.message_id} {item.sender} {item.kind}")


@click.command("trace")
@click.argument("message_id")
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def trace_command(message_id: str, config_path: str, as_json: bool) -> None:
    """Show a message's timeline."""
    from hub.ops.trace import format_trace, trace

    config = deployment_config(config_path)
    data = asyncio.run(trace(config, message_id))
    if data is None:
        raise Rejected([f"no message {message_id} in {config.database}"])
    click.echo(to_json(data) if as_json else format_trace(data))
