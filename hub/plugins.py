"""What the hub finds rather than imports: adapters, command groups, extensions.

The core never imports an adapter or an observer by name. It finds them through entry points
(``pyproject.toml`` declares the shipped ones), so a new adapter is a package plus a line of
configuration, and a broken one is a clear error, never a silent skip:

- ``hub.adapters``: ``<type> = "module:factory"``; ``[adapters.<name>] type = "<type>"`` in
  hub.toml picks one (or ``type = "package.module:factory"`` names a factory directly). A
  factory takes the section's settings and returns an ``Adapter``.
- ``hub.commands``: ``<name> = "module:command"`` adds a click command or group to ``hub``.
- ``hub.extensions``: ``<name> = "module:factory"``; ``hub serve`` calls each factory with the
  hub before starting it and runs the Extension it returns (``monitoring`` is one).
- ``hub.pages``: ``<name> = "module:install"``; the API server calls each with its FastAPI
  application to serve pages beside the API (the managers' page, ``hub.ui``, is one; all are
  off when ``[ui] enabled = false``).
- ``hub.key_algorithms``: ``<name> = "module:function"`` issues a development key and
  certificate of another algorithm for ``hub keys new`` (GOST R 34.10-2012 comes with SMEV).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from hub.abc import Adapter
from hub.errors import AdapterConfigError, PluginError

_TYPE = re.compile(r"^[A-Za-z][\w-]{0,63}$")  # an entry point name such as "smev"

ADAPTERS = "hub.adapters"
COMMANDS = "hub.commands"
EXTENSIONS = "hub.extensions"
KEY_ALGORITHMS = "hub.key_algorithms"
PAGES = "hub.pages"


def found(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name (reading them imports nothing)."""
    return {ep.name: ep for ep in entry_points(group=group)}


def load(group: str, name: str) -> Any:
    """The object entry point ``name`` of ``group`` names; PluginError if it is broken."""
    point = found(group).get(name)
    if point is None:
        raise PluginError(f"no {group} entry point {name!r} is installed")
    try:
        return point.load()
    except Exception as exc:
        raise PluginError(f"{group} {name!r} ({point.value}) cannot be loaded: {exc!r}") from exc


def _adapter_factory(name: str, kind: str) -> Callable[[Mapping[str, Any]], Adapter]:
    if ":" in kind:
        module_name, _, attr = kind.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise AdapterConfigError(
                f"adapters.{name}.type: cannot load {kind!r} ({exc})"
            ) from None
        return factory  # type: ignore[no-any-return]
    installed = found(ADAPTERS)
    if kind not in installed:
        known = ", ".join(sorted(installed)) or "none"
        raise AdapterConfigError(
            f"adapters.{name}: no adapter type {kind!r} (installed types: {known})"
        )
    try:
        factory = installed[kind].load()
    except Exception as exc:
        raise AdapterConfigError(
            f"adapters.{name}: adapter type {kind!r} ({installed[kind].value}) cannot be "
            f"loaded: {exc!r}"
        ) from exc
    return factory  # type: ignore[no-any-return]


def create_adapter(name: str, settings: Mapping[str, Any], base_dir: str = "") -> Adapter:
    """The adapter for ``[adapters.<name>]``; ``base_dir`` (the deployment folder, passed to
    every adapter) is what relative paths in its settings are relative to."""
    kind = str(settings.get("type", name))
    if not (_TYPE.match(kind) or ":" in kind):
        raise AdapterConfigError(f"adapters.{name}.type: {kind!r} is not an adapter type")
    factory = _adapter_factory(name, kind)
    options = {k: v for k, v in settings.items() if k != "type"}
    if base_dir:
        options.setdefault("base_dir", base_dir)
    try:
        adapter = factory(options)
    except (TypeError, ValueError, KeyError) as exc:
        raise AdapterConfigError(f"adapters.{name}: {exc}") from None
    if not isinstance(adapter, Adapter):
        raise AdapterConfigError(f"adapters.{name}: {kind!r} made {adapter!r}, not an Adapter")
    adapter.name = name
    return adapter
