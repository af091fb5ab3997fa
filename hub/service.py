"""``hub serve``: the hub and its extensions (the metrics endpoint, …) until a signal stops it.

Extensions are found by the ``hub.extensions`` entry point group (hub/plugins.py): the core
never imports them. Each factory gets the hub before it starts (to add its observers) and
returns an Extension to start once the hub runs, or None to stay out.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any

from hub.abc import Extension
from hub.config import HubConfig
from hub.ops.status import pid_file
from hub.pipeline.hub import Hub
from hub.plugins import EXTENSIONS, found, load

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
    extensions: list[Extension] = []
    for name in sorted(found(EXTENSIONS)):
        extension = load(EXTENSIONS, name)(hub)
        if extension is not None:
            extensions.append(extension)
    await hub.start()
    pid = pid_file(config)
    pid.parent.mkdir(parents=True, exist_ok=True)  # (a PostgreSQL store makes no data dir)
    pid.write_text(f"{os.getpid()}\n")
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(hub.reload_rules()))
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    started: list[Extension] = []
    try:
        for extension in extensions:
            await extension.start()
            started.append(extension)
        # what start-up loaded (modules, schemas, the API's routes) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it (decision 0025)
        gc.collect()
        gc.freeze()
        await stop.wait()
    finally:
        gc.unfreeze()  # (serve may run inside a longer process: tests)
        for extension in reversed(started):
            try:
                await extension.stop()
            except Exception:
                log.exception("extension %r did not stop cleanly", extension)
        await hub.stop()
        with contextlib.suppress(OSError):
            if pid.read_text().strip() == str(os.getpid()):
                pid.unlink()
