"""The routing rules versions the hub applied (``hub routes versions``)."""

from __future__ import annotations

from hub.config import HubConfig
from hub.ops.connection import opened_store
from hub.records import RulesVersion


async def rules_versions(config: HubConfig) -> list[RulesVersion]:
    """Oldest first, with what each changed."""
    async with opened_store(config) as store:
        return await store.rules_versions()
