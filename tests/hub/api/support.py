"""The HTTP API in front of a running test hub, with a token for every kind of caller."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from hub.api.server import ApiServer
from hub.ops.tokens import Role, api_key, create_token
from hub.pipeline.hub import Hub
from tests.hub.harness import Deployment

# who calls: (participant, role, department)
CALLERS: dict[str, tuple[str, Role, str | None]] = {
    "finance": ("dept.finance", Role.PARTICIPANT, None),
    "culture": ("dept.culture", Role.PARTICIPANT, None),
    "land": ("dept.land", Role.PARTICIPANT, None),
    "finance-manager": ("dept.finance", Role.MANAGER, "dept.finance"),
    "land-manager": ("dept.land", Role.MANAGER, "dept.land"),
    "auditor": ("hub.main", Role.AUDITOR, None),
    "admin": ("hub.main", Role.ADMIN, None),
}


@dataclass
class Api:
    """A served API: its URL, the hub behind it, and a token per caller of ``CALLERS``."""

    url: str
    hub: Hub
    deployment: Deployment
    server: ApiServer
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def client(self, who: str | None = None, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            headers=self.headers(who),
            timeout=30.0,
            **kwargs,  # type: ignore[arg-type]
        )


@contextlib.asynccontextmanager
async def serving_api(hub: Hub, deployment: Deployment) -> AsyncIterator[Api]:
    """Start the API of ``hub`` on a free port (as ``hub serve`` would), with tokens."""
    deployment.config.api.address = "127.0.0.1:0"
    server = ApiServer(hub)
    await server.start()
    api = Api(server.url, hub, deployment, server)
    key = api_key(deployment.config)
    for name, (participant, role, department) in CALLERS.items():
        record, token = await create_token(hub.store, key, participant, role, department, name)
        api.tokens[name] = token
        api.token_ids[name] = record.id
    try:
        yield api
    finally:
        await server.stop()
