"""The ``hub`` group: lazy command groups whose listed help is their own, plug-in groups found by
entry points, and a broken plug-in named as such."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import click
import pytest
from click.testing import CliRunner

import hub.plugins
from hub.cli import CORE_COMMANDS, _load_core, main


@pytest.mark.parametrize("name", sorted(CORE_COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    command = _load_core(name)
    listed = click.Command(name, help=CORE_COMMANDS[name][1])
    assert listed.get_short_help_str(200) == command.get_short_help_str(200)


def test_help_lists_core_and_plugin_groups() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert set(CORE_COMMANDS) <= listed
    assert set(hub.plugins.found(hub.plugins.COMMANDS)) <= listed  # smev, smev-sim


def test_help_and_trace_do_not_load_the_pipeline() -> None:
    """What every `hub send` or `hub trace` would otherwise pay at start-up."""
    code = (
        "import sys\n"
        "from hub.cli import main\n"
        "for args in (['--help'], ['trace', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ['aio_pika', 'aiohttp', 'tenacity', 'xmlschema', 'gostcrypto', 'lxml',\n"
        "         'hub.pipeline.hub', 'hub.routing', 'prometheus_client']\n"
        "print(' '.join(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == ""


class _BrokenPoint:
    name = "broken"
    value = "nowhere.at.all:group"

    def load(self) -> object:
        raise ImportError("No module named 'nowhere'")


def test_a_broken_plugin_group_is_named_not_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hub.plugins.found

    def found(group: str) -> dict[str, EntryPoint]:
        points = dict(real(group))
        if group == hub.plugins.COMMANDS:
            points["broken"] = _BrokenPoint()  # type: ignore[assignment]
        return points

    monkeypatch.setattr(hub.plugins, "found", found)
    listing = CliRunner().invoke(main, ["--help"])
    assert "broken" in listing.output and "cannot be loaded" in listing.output
    result = CliRunner().invoke(main, ["broken"])
    assert result.exit_code == 1
    assert "nowhere.at.all:group" in result.output and "No module named" in result.output
