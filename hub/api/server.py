"""The API inside ``hub serve``: uvicorn on the hub's event loop, with TLS and client
certificates when ``[api]`` names them.

uvicorn does not hand the client certificate to the application; ``PeerCertificateProtocol``
puts it into the request's state for ``auth.authenticate`` (the TLS handshake already checked
it against ``client_ca``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import uvicorn

try:  # httptools (C) parses HTTP several times faster than h11 (pure Python)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Http
except ImportError:  # pragma: no cover - httptools is a dependency
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Http  # type: ignore[assignment]

from hub.abc import Extension
from hub.api.app import create_app
from hub.api.decisions import Decisions
from hub.api.state import ApiState
from hub.nodes import reachable_url
from hub.pipeline.hub import Hub

log = logging.getLogger("hub.api")


class PeerCertificateProtocol(_Http):
    """HTTP/1.1 that tells the app which certificate the client showed."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[arg-type]
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der:
            self.app_state = {**self.app_state, "peer_certificate": der}


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (``hub serve`` owns the signals), and without
    its ten wake-ups a second: an idle hub is mostly this loop's timers (issue 23)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def exit(self) -> None:
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        """uvicorn ticks every 0.1 s to see whether to stop and refreshes its Date header every
        tenth tick: here a tick a second (each a tenth, for the header) and a stop at once."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)


class ApiServer(Extension):
    """Serves the API of a started hub until stopped."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.decisions = Decisions()
        hub.observers.add(self.decisions)  # before the hub starts, as ``hub serve`` makes it
        self.url = ""
        self._server: _Server | None = None
        self._state: ApiState | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> ApiState:
        """The API's parts (the inbox leases, the rate limiter …), once started."""
        assert self._state is not None, "the API server is not started"
        return self._state

    async def start(self) -> None:
        settings = self.hub.config.api
        host, port = self.hub.config.api_host_port
        app = create_app(self.hub, self.decisions)
        self._state = app.state.api
        self._state.leases.start()
        options: dict[str, Any] = {}
        if settings.tls_cert is not None and settings.tls_key is not None:
            options["ssl_certfile"] = str(self.hub.config.path(settings.tls_cert))
            options["ssl_keyfile"] = str(self.hub.config.path(settings.tls_key))
            if settings.client_ca is not None:
                options["ssl_ca_certs"] = str(self.hub.config.path(settings.client_ca))
                options["ssl_cert_reqs"] = ssl.CERT_OPTIONAL  # a token alone still works
        config = uvicorn.Config(
            app,
            http=PeerCertificateProtocol,
            lifespan="off",
            access_log=False,
            log_config=None,
            timeout_keep_alive=30,
            **options,
        )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.set_inheritable(True)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.01)
        bound_host, bound_port = sock.getsockname()[:2]
        scheme = "https" if "ssl_certfile" in options else "http"
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"{scheme}://{shown}:{bound_port}"
        log.info("api at %s (docs at %s/docs)", self.url, self.url)
        self.hub.announce("api", reachable_url(scheme, bound_host, bound_port))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.exit()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10)
        if self._state is not None:
            await self._state.leases.close()


def extension(hub: Hub) -> Extension | None:
    """The ``hub.extensions`` entry point: the API for ``hub serve`` unless ``[api]`` is off."""
    if not hub.config.api.enabled:
        return None
    return ApiServer(hub)
