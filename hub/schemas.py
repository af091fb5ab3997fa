"""The schemas a deployment validates against.

The hub's own schemas (the envelope, receipts, execution notices: ``xsd/hub`` as shipped with
the code) come first, so a deployment always validates with the version its code speaks, even
where its ``xsd`` folder holds an older copy; the deployment's folder adds the payload schemas.
"""

from __future__ import annotations

from pathlib import Path

from envelopes.schemas import SchemaRegistry
from hub.config import HubConfig
from hub.scaffold import shipped


def hub_schema_dir() -> Path:
    return shipped("xsd") / "hub"


def schema_registry(config: HubConfig | Path) -> SchemaRegistry:
    """The hub's schemas, then the payload schemas of a deployment (or of a folder)."""
    folder = config if isinstance(config, Path) else config.path(config.paths.schemas)
    return SchemaRegistry(hub_schema_dir(), folder)
