"""The deployment's store and transport, as the command line opens them next to ``hub serve``.

Both modes work through the same two things: the transport named in hub.toml (RabbitMQ, or the
embedded queues in the store) and the store, which ``hub serve`` shares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hub.abc import Transport
from hub.config import HubConfig
from hub.store import Store, open_store
from hub.transports import open_transport


@asynccontextmanager
async def opened_store(config: HubConfig) -> AsyncIterator[Store]:
    store = await open_store(config)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def connect(config: HubConfig) -> AsyncIterator[tuple[Store, Transport]]:
    async with opened_store(config) as store:
        transport = open_transport(config, store)
        try:
            await transport.start()
            yield store, transport
        finally:
            await transport.close()
