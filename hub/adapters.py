"""The adapter registry: the core knows adapters only by the names in configuration.

``[adapters.<name>]`` in hub.toml names a ``type``; the type is the folder ``adapters/<type>/``
whose package exposes ``create(settings) -> Adapter``. A new adapter is a new folder plus a line
of configuration.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from hub.abc import Adapter


class AdapterConfigError(Exception):
    """An adapter section of hub.toml cannot be used."""


def create_adapter(name: str, settings: Mapping[str, Any], base_dir: str = "") -> Adapter:
    """The adapter for ``[adapters.<name>]``; ``base_dir`` (the deployment folder, passed to
    every adapter) is what relative paths in its settings are relative to."""
    kind = str(settings.get("type", name))
    if not kind.isidentifier():
        raise AdapterConfigError(f"adapters.{name}.type: {kind!r} is not an adapter type")
    try:
        module = importlib.import_module(f"adapters.{kind}")
    except ImportError as exc:
        raise AdapterConfigError(f"adapters.{name}: no adapter type {kind!r} ({exc})") from None
    factory = getattr(module, "create", None)
    if factory is None:
        raise AdapterConfigError(f"adapters.{name}: adapters.{kind} has no create()")
    options = {k: v for k, v in settings.items() if k != "type"}
    if base_dir:
        options.setdefault("base_dir", base_dir)
    try:
        adapter: Adapter = factory(options)
    except (TypeError, ValueError, KeyError) as exc:
        raise AdapterConfigError(f"adapters.{name}: {exc}") from None
    adapter.name = name
    return adapter
