"""SMEV 3: the adapter (``type = "smev"``), its signatures and its simulator.

``create`` imports the adapter lazily, so the signature tools (``hub smev ...``) and the
simulator do not load the HTTP client and the hub's pipeline types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.smev.adapter import SmevAdapter


def create(settings: Mapping[str, Any]) -> SmevAdapter:
    """The adapter for ``[adapters.<name>]`` with ``type = "smev"`` (docs/smev-adapter.md)."""
    from adapters.smev.adapter import create as create_adapter

    return create_adapter(settings)


__all__ = ["create"]
