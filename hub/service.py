"""``hub serve``: the hub plus its HTTP endpoints, until a signal stops it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any

from hub.config import HubConfig
from hub.server import Hub

log = logging.getLogger("hub")


def run_loop(main: Coroutine[Any, Any, None], event_loop: str = "uvloop") -> None:
    """Run the hub on uvloop where it is installed (Linux, macOS), else on asyncio's own loop.

    uvloop's transports and callbacks are in C: the hub's event loop spends most of its time
    in AMQP framing and socket writes, and uvloop cut that by about a tenth in bench/throughput.py.
    ``event_loop = "asyncio"`` keeps the standard loop (to rule uvloop out when debugging).
    """
    if event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def dump_tasks() -> None:
    """SIGUSR1: log what every asyncio task is waiting on (for a hub that seems stuck)."""
    import io

    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(limit=8, file=out)
        log.warning("task %s:\n%s", task.get_name(), out.getvalue())


async def serve(config: HubConfig, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    hub = Hub(config)
    await hub.start()
    from hub.operations import pid_file

    pid = pid_file(config)
    pid.write_text(f"{os.getpid()}\n")
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(hub.reload_rules()))
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    http = None
    collector = None
    try:
        if config.metrics.enabled:
            from monitoring.collector import Collector
            from monitoring.http import bound_address, start_http

            collector = Collector(hub)
            await collector.start()
            host, port = config.metrics_host_port
            http = await start_http(hub, host, port, collector)
            host, port = bound_address(http)
            log.info("metrics at http://%s:%d/metrics", host, port)
        await stop.wait()
    finally:
        if collector is not None:
            await collector.stop()
        if http is not None:
            await http.cleanup()
        await hub.stop()
        with contextlib.suppress(OSError):
            if pid.read_text().strip() == str(os.getpid()):
                pid.unlink()
