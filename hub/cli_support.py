"""What every command group shares: the rejection exit (status 1, one line per problem) and
the ``--config`` option that loads a deployment's hub.toml."""

from __future__ import annotations

from typing import Any

import click

from hub.config import ConfigError, HubConfig, default_config_path, load_config


class Rejected(click.ClickException):
    """Input refused: exit 1 with one ``<prefix>: <problem>`` line per problem on stderr."""

    exit_code = 1
    prefix = "rejected"

    def __init__(self, problems: list[str], prefix: str | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        if prefix is not None:
            self.prefix = prefix

    def show(self, file: Any = None) -> None:
        for problem in self.problems:
            click.echo(f"{self.prefix}: {problem}", err=True)


def deployment_config(path: str, error: type[Rejected] = Rejected) -> HubConfig:
    """hub.toml, or ``error`` naming every key at fault."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise error(str(exc).splitlines()) from None


config_option = click.option(
    "--config",
    "config_path",
    default=lambda: str(default_config_path()),
    show_default="hub.toml",
    help="the deployment's hub.toml",
)
