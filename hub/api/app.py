"""The FastAPI application over a running hub."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from hub import __version__
from hub.api import problems
from hub.api.auth import RateLimiter
from hub.api.leases import InboxLeases
from hub.api.problems import problem_response
from hub.api.routes import admin, documents, messages
from hub.api.state import ApiState
from hub.ops.tokens import api_key
from hub.pipeline.hub import Hub

DESCRIPTION = """The interagency exchange hub's front door: submit signed envelopes, pull your
inbox with leases, follow your messages and documents, and (administrators) everything the
command line does. Authenticate with `Authorization: Bearer <token>` (`hub tokens create`) or a
client certificate (mTLS). Errors are `application/problem+json` with a stable `code`."""


def create_app(hub: Hub) -> FastAPI:
    """The API of a started hub."""
    config = hub.config.api
    app = FastAPI(
        title="Interagency exchange hub",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    limiter = RateLimiter(
        config.rate,
        config.burst,
        {
            participant: (limits.rate or config.rate, limits.burst or config.burst)
            for participant, limits in config.limits.items()
        },
    )
    app.state.api = ApiState(
        hub=hub,
        token_key=api_key(hub.config),
        limiter=limiter,
        leases=InboxLeases(hub.store, hub.transport, config.lease),
    )
    problems.install(app)

    @app.middleware("http")
    async def time_limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            return await asyncio.wait_for(call_next(request), config.request_timeout)
        except TimeoutError:
            return problem_response(
                request, 504, "timeout", f"no answer within {config.request_timeout:g} s"
            )

    app.include_router(messages.router, tags=["messages"])
    app.include_router(documents.router, tags=["documents"])
    app.include_router(admin.router, tags=["administration"])
    return app
