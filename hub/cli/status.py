"""``hub status``: messages by state, queues, dead letters, circuit breakers, rules version."""

from __future__ import annotations

import asyncio

import click

from hub.cli.support import config_option, deployment_config, to_json


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status_command(config_path: str, as_json: bool) -> None:
    """Messages by state, queues, dead letters, circuit breakers, rules version."""
    from hub.ops.status import format_status, status

    data = asyncio.run(status(deployment_config(config_path)))
    click.echo(to_json(data) if as_json else format_status(data))
