"""``/metrics``, ``/healthz`` and ``/readyz`` (aiohttp, on the configured address)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from hub.server import Hub


async def start_http(hub: Hub, host: str, port: int) -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(hub.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = {"transport": await hub.transport.ping()}
        for name, adapter in hub.adapters.items():
            checks[f"adapter:{name}"] = await adapter.ping()
        ready = all(checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
