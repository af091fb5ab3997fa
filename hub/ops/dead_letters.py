"""Dead letters: list, replay, discard — each replay and discard on the message's timeline with
who did it, when and why."""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from dataclasses import asdict

from hub.abc import Transport
from hub.config import HubConfig
from hub.ops.connection import connect, opened_store
from hub.queues import INBOUND_QUEUE, out_queue, without_broker_headers
from hub.records import DeadLetter
from hub.store import Store


def operator() -> str:
    """Who is acting, as it goes on the timeline."""
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"{user}@{socket.gethostname()}"


async def dead_letters(config: HubConfig, ids: list[str] | None = None) -> list[DeadLetter]:
    async with opened_store(config) as store:
        return await store.dead_letters(ids)


def _matches(letter: DeadLetter, destination: str | None) -> bool:
    if not destination:
        return True
    return destination in (letter.adapter, letter.destination)


async def replay(
    config: HubConfig,
    ids: list[str],
    replay_all: bool,
    destination: str | None,
    reason: str,
) -> list[DeadLetter]:
    """Put dead letters back on their work queue (attempts start over); returns those replayed."""
    async with connect(config) as (store, transport):
        return await replay_letters(
            store, transport, None if replay_all else ids, destination, reason, operator()
        )


async def replay_letters(
    store: Store,
    transport: Transport,
    ids: list[str] | None,
    destination: str | None,
    reason: str,
    who: str,
) -> list[DeadLetter]:
    """``replay`` on an open store and transport; ``ids`` None replays every one."""
    replayed: list[DeadLetter] = []
    for letter in await store.dead_letters(ids):
        body = await store.dead_letter_body(letter) if _matches(letter, destination) else None
        if body is None:  # another destination, or replayed or discarded meanwhile
            continue
        headers = without_broker_headers(letter.headers)
        if letter.adapter == "inbound":
            queue = INBOUND_QUEUE
        else:
            queue = out_queue(letter.adapter)
            headers.update({"attempt": "1", "first-attempt-at": f"{time.time():.3f}"})
        detail = f"{letter.destination} by {who}: {reason or 'no reason given'}"
        # on record first (the hub may deliver it at once), then sent, then off the list:
        # a crash in between leaves it listed, to be replayed again (same MessageId)
        await store.mark_replayed(letter, detail)
        await transport.publish(queue, body, headers)
        await store.unlist_dead_letter(letter)
        replayed.append(letter)
    return replayed


async def discard(config: HubConfig, ids: list[str], reason: str) -> list[DeadLetter]:
    """Give up on dead letters for good, on record."""
    async with opened_store(config) as store:
        return await discard_letters(store, ids, reason, operator())


async def discard_letters(store: Store, ids: list[str], reason: str, who: str) -> list[DeadLetter]:
    letters = await store.dead_letters(ids)
    for letter in letters:
        await store.discard_dead_letter(letter, f"{letter.destination} by {who}: {reason}")
    return letters


def letters_json(letters: list[DeadLetter]) -> str:
    return json.dumps([asdict(d) for d in letters], ensure_ascii=False, indent=2)
