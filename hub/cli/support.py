"""What every command group shares: the rejection exit (status 1, one line per problem), the
``--config`` option that loads a deployment's hub.toml, reading and writing files, JSON out."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from hub.config import HubConfig, default_config_path, load_config
from hub.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


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


def reject_problems(problems: list[str]) -> NoReturn:
    """Exit 1 with one line per problem (an ``EnvelopeError``'s, a ``HubError``'s)."""
    raise Rejected(problems) from None


def read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}") from None


def write_out(path: str | None, data: bytes) -> None:
    """To a file, or to stdout for ``-`` (or None)."""
    if path in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        assert path is not None
        Path(path).write_bytes(data)


def to_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def remote_options(command: F) -> F:
    """``--url``/``--token`` (``HUB_URL``/``HUB_TOKEN``): talk to a hub's API, not its store."""
    for option in reversed(
        [
            click.option(
                "--url",
                envvar="HUB_URL",
                help="the hub's API (e.g. https://hub.city.example): work remotely [HUB_URL]",
            ),
            click.option(
                "--token", envvar="HUB_TOKEN", help="the API token (hub tokens create) [HUB_TOKEN]"
            ),
            click.option(
                "--ca",
                "ca_file",
                envvar="HUB_CA",
                type=click.Path(dir_okay=False, exists=True),
                help="the CA of the API's TLS certificate (default: the system's) [HUB_CA]",
            ),
        ]
    ):
        command = option(command)
    return command


def remote_client(url: str, token: str | None, ca_file: str | None) -> Any:
    """A ``hub.api.client.HubClient`` for the remote options (a token is required)."""
    if not token:
        raise click.UsageError("--url needs --token (or HUB_TOKEN): ask the hub's administrator")
    from hub.api.client import HubClient

    return HubClient(url, token, verify=ca_file or True)


def api_rejected(exc: Any) -> Rejected:
    """An ``ApiError`` as the command line's rejection (one line per problem, with its code)."""
    return Rejected([f"{exc.code}: {problem}" for problem in exc.problems] or [exc.code])
