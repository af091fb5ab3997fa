"""The API in front of a running hub, on either transport (the ``deployment`` fixture's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.hub.api.support import Api, serving_api
from tests.hub.harness import Deployment, running_hub


@pytest.fixture
async def api(deployment: Deployment) -> AsyncIterator[Api]:
    async with running_hub(deployment) as hub, serving_api(hub, deployment) as served:
        yield served
