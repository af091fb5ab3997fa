"""The ``hub`` command line: one module per command group, loaded only when it is used.

Exit status everywhere: 0 accepted / done, 1 rejected (one line per problem on stderr, naming the
element, certificate or rule), 2 usage error. Bad input never produces a traceback.

``hub --help`` and ``hub trace`` must start fast (every ``hub send`` pays the start-up): the
groups below are imported when invoked, each keeps its heavy imports inside its commands, and
the short help shown here is kept equal to each command's own by a test. Adapters add groups of
their own through the ``hub.commands`` entry point group (``hub smev``, ``hub smev-sim``).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from hub.errors import PluginError

# name → ("module:attribute", the command's short help)
CORE_COMMANDS: dict[str, tuple[str, str]] = {
    "archive": (
        "hub.cli.archive:archive",
        "The tamper-evident archive: tree heads, proofs, bundles, offline check, audit.",
    ),
    "keys": ("hub.cli.keys:keys", "Development keys and certificates."),
    "envelope": ("hub.cli.envelope:envelope", "Build, sign, validate and verify envelopes."),
    "init": ("hub.cli.deployment:init_command", "Scaffold a working deployment in DIRECTORY."),
    "serve": (
        "hub.cli.deployment:serve_command",
        "Run the hub until interrupted (SIGINT/SIGTERM).",
    ),
    "demo": (
        "hub.cli.deployment:demo_command",
        "Start an embedded hub with three departments and show sample traffic with traces.",
    ),
    "send": (
        "hub.cli.messages:send_command",
        "Submit envelope FILES; prints '<message-id> <state>' for each.",
    ),
    "inbox": (
        "hub.cli.messages:inbox_command",
        "Take what waits in PARTICIPANT's inbox: '<message-id> <sender> <kind>' per item.",
    ),
    "trace": ("hub.cli.messages:trace_command", "Show a message's timeline."),
    "status": (
        "hub.cli.status:status_command",
        "Messages by state, queues, dead letters, circuit breakers, rules version.",
    ),
    "dlq": ("hub.cli.dlq:dlq", "Dead letters: messages the hub gave up delivering."),
    "doc": (
        "hub.cli.doc:doc",
        "Execution control: register, assign, report, execute documents (signed notices).",
    ),
    "report": (
        "hub.cli.report:report",
        "Reports: the execution summary by department and executor.",
    ),
    "tokens": ("hub.cli.tokens:tokens", "API tokens: create (shown once), list, revoke."),
    "users": (
        "hub.cli.users:users",
        "The managers' page's users: create, list, password, disable.",
    ),
    "store": (
        "hub.cli.store:store",
        "The store: prune old messages (retention), legal holds, collect unused blobs.",
    ),
    "routes": (
        "hub.cli.routes:routes",
        "Routing rules: check, explain, reload, versions, JSON Schema (docs/routing.md).",
    ),
}


def _load_core(name: str) -> click.Command:
    module_name, _, attr = CORE_COMMANDS[name][0].partition(":")
    command: click.Command = getattr(importlib.import_module(module_name), attr)
    return command


class _Broken(click.Command):
    """Stands for an installed command group that cannot be loaded: says why, exits 1."""

    def __init__(self, name: str, error: PluginError) -> None:
        super().__init__(name, help=f"[cannot be loaded] {error}", add_help_option=False)
        self.error = error

    def invoke(self, ctx: click.Context) -> Any:
        raise click.ClickException(str(self.error))


class HubGroup(click.Group):
    """Commands found by name, imported when invoked (or when their help is asked for)."""

    def _plugins(self) -> dict[str, Any]:
        from hub.plugins import COMMANDS, found

        return {n: ep for n, ep in found(COMMANDS).items() if n not in CORE_COMMANDS}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*CORE_COMMANDS, *self._plugins(), *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in CORE_COMMANDS:
            return _load_core(cmd_name)
        if cmd_name in self._plugins():
            from hub.plugins import COMMANDS, load

            try:
                command: click.Command = load(COMMANDS, cmd_name)
            except PluginError as exc:
                return _Broken(cmd_name, exc)
            return command
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, without importing the core groups (their help is known here)."""
        rows = []
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            if name in CORE_COMMANDS:
                stand_in = click.Command(name, help=CORE_COMMANDS[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="interagency-hub")
def main() -> None:
    """Interagency exchange hub: signed XML envelopes between departments and agencies."""


def run() -> None:  # pragma: no cover - thin wrapper for python -m hub
    main()
