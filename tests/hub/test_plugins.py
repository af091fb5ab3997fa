"""Adapters are found by entry points or ``module:factory`` names; a broken one is an error that
names it, never a silent skip."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import hub.plugins
from hub.errors import AdapterConfigError, PluginError
from hub.plugins import ADAPTERS, EXTENSIONS, create_adapter, found, load
from hub.testing import ScriptedAdapter


def make_scripted(settings: Mapping[str, Any]) -> ScriptedAdapter:
    """A factory named in hub.toml as ``type = "tests.hub.test_plugins:make_scripted"``."""
    return ScriptedAdapter(str(settings.get("mode", "up")))


def make_nothing(settings: Mapping[str, Any]) -> object:
    return object()


def test_the_shipped_adapters_and_extensions_are_installed() -> None:
    assert {"internal", "smev", "email"} <= set(found(ADAPTERS))
    assert "metrics" in found(EXTENSIONS)
    adapter = create_adapter("inboxes", {"type": "internal"})
    assert adapter.name == "inboxes" and adapter.inline


def test_a_factory_named_in_configuration() -> None:
    adapter = create_adapter(
        "remote", {"type": "tests.hub.test_plugins:make_scripted", "mode": "refuse"}
    )
    assert isinstance(adapter, ScriptedAdapter)
    assert adapter.name == "remote" and adapter.mode == "refuse"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"type": "carrier-pigeon"}, "no adapter type 'carrier-pigeon' (installed types: "),
        ({"type": "no.such.module:create"}, "adapters.x.type: cannot load 'no.such.module:create'"),
        ({"type": "tests.hub.test_plugins:nope"}, "cannot load 'tests.hub.test_plugins:nope'"),
        ({"type": "tests.hub.test_plugins:make_nothing"}, "not an Adapter"),
        ({"type": "a b"}, "adapters.x.type: 'a b' is not an adapter type"),
    ],
)
def test_a_broken_adapter_is_named(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(AdapterConfigError) as caught:
        create_adapter("x", settings)
    assert named in str(caught.value)


class _Broken:
    name = "pigeon"
    value = "pigeons.adapter:create"

    def load(self) -> object:
        raise ImportError("No module named 'pigeons'")


def test_an_installed_adapter_that_cannot_load_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hub.plugins.found
    monkeypatch.setattr(hub.plugins, "found", lambda group: {**real(group), "pigeon": _Broken()})
    with pytest.raises(AdapterConfigError, match=r"pigeons\.adapter:create.*No module named"):
        create_adapter("birds", {"type": "pigeon"})
    with pytest.raises(PluginError, match="cannot be loaded"):
        load(ADAPTERS, "pigeon")
    with pytest.raises(PluginError, match=r"no hub\.extensions entry point 'nope'"):
        load(EXTENSIONS, "nope")
