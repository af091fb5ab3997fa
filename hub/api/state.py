"""What the API's routes share: the running hub and the API's own parts."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from hub.abc import Transport
from hub.api.auth import RateLimiter, TokenCache
from hub.api.decisions import Decisions
from hub.api.leases import InboxLeases
from hub.config import HubConfig
from hub.pipeline.hub import Hub
from hub.store import Store


@dataclass
class ApiState:
    """The hub the API fronts, its token key, the rate limiter, the inbox leases and the
    tokens verified lately."""

    hub: Hub
    token_key: bytes
    limiter: RateLimiter
    leases: InboxLeases
    tokens: TokenCache
    decisions: Decisions

    @property
    def config(self) -> HubConfig:
        return self.hub.config

    @property
    def store(self) -> Store:
        return self.hub.store

    @property
    def transport(self) -> Transport:
        return self.hub.transport

    def max_body(self, participant: str) -> int:
        limits = self.config.api.limits.get(participant)
        if limits is not None and limits.max_body_bytes is not None:
            return limits.max_body_bytes
        return self.config.api.max_body_bytes


async def api_state(request: Request) -> ApiState:  # async: FastAPI runs sync ones in threads
    state: ApiState = request.app.state.api
    return state
