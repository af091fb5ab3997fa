"""``/metrics``, ``/healthz`` and ``/readyz`` (aiohttp, on the configured address).

- ``/metrics``: the hub's registry in Prometheus text format, its state gauges refreshed first.
- ``/healthz``: 200 while the process serves HTTP at all (liveness).
- ``/readyz``: 200 when the broker, the store and every adapter answer, else 503; the JSON body
  names each check (``{"ready": false, "checks": {"transport": true, "store": true,
  "adapter:smev": false}, "failing": ["adapter:smev"]}``).
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitoring.collector import Collector

log = logging.getLogger("hub.monitoring")


def make_app(collector: Collector) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        try:
            await collector.collect()
        except Exception:  # a failed refresh still serves the last values
            log.exception("metrics refresh before a scrape failed")
        body = generate_latest(collector.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        readiness = await collector.check_ready()
        return web.json_response(readiness.as_json(), status=200 if readiness.ready else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_http(collector: Collector, host: str, port: int) -> web.AppRunner:
    """Serve the endpoints on host:port (port 0: any free port, see ``bound_address``)."""
    app = make_app(collector)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def bound_address(runner: web.AppRunner) -> tuple[str, int]:
    """The host and port the endpoints actually listen on (useful with port 0)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return str(address[0]), int(address[1])
    raise RuntimeError("the metrics endpoint is not listening")
