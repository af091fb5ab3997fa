"""The FastAPI application over a running hub."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import __version__
from hub.api import problems
from hub.api.auth import RateLimiter, TokenCache
from hub.api.decisions import Decisions
from hub.api.leases import InboxLeases
from hub.api.problems import problem_response
from hub.api.routes import admin, archive, blobs, documents, messages
from hub.api.state import ApiState
from hub.ops.delivered import DeliveredReader
from hub.ops.tokens import api_key
from hub.pipeline.hub import Hub
from hub.plugins import PAGES, found, load

DESCRIPTION = """The interagency exchange hub's front door: submit signed envelopes, pull your
inbox with leases, follow your messages and documents, and (administrators) everything the
command line does. Authenticate with `Authorization: Bearer <token>` (`hub tokens create`) or a
client certificate (mTLS). Errors are `application/problem+json` with a stable `code`."""


class TimeLimit:
    """A request that takes longer than ``seconds`` is answered 504 (plain ASGI: Starlette's
    BaseHTTPMiddleware would cost a task and two streams per request). Blob transfers are
    exempt: a gigabyte takes what the network takes (they stream, and resume)."""

    EXEMPT = "/v1/blobs/"

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):  # no task of its own, unlike wait_for
                await self.app(scope, receive, sending)
        except TimeoutError:
            if started:  # too late for another answer: the connection just ends
                raise
            response = problem_response(
                Request(scope), 504, "timeout", f"no answer within {self.seconds:g} s"
            )
            await response(scope, receive, send)


def build_app(request_timeout: float = 120.0) -> FastAPI:
    """The endpoints, their errors and limits, without a hub (what the OpenAPI document
    describes)."""
    app = FastAPI(
        title="Interagency exchange hub",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    problems.install(app)
    app.add_middleware(TimeLimit, seconds=request_timeout)
    app.include_router(messages.router, tags=["messages"])
    app.include_router(documents.router, tags=["documents"])
    app.include_router(admin.router, tags=["administration"])
    app.include_router(archive.router, tags=["archive"])
    app.include_router(blobs.router, tags=["blobs"])

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.document_errors(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app(hub: Hub, decisions: Decisions | None = None) -> FastAPI:
    """The API of a hub (``decisions``: the observer the hub tells of its decisions), and
    the managers' page under ``/ui/`` unless ``[ui]`` is off."""
    config = hub.config.api
    app = build_app(config.request_timeout)
    if hub.config.ui.enabled:  # the managers' page, found as a plug-in (the API never imports it)
        for name in sorted(found(PAGES)):
            load(PAGES, name)(app)
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
        leases=InboxLeases(
            hub.store, hub.transport, config.lease, DeliveredReader.for_config(hub.config)
        ),
        tokens=TokenCache(),
        decisions=decisions or Decisions(),
    )
    return app
