"""What operators do next to a running hub: dead letters (list, show, replay, discard) and status.

Everything goes through the store file and the transport the hub itself uses, so these commands
work in both modes while ``hub serve`` runs. Replays and discards land on the message's
timeline with who did it, when and why.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import socket
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hub.abc import State
from hub.client import connect
from hub.config import HubConfig
from hub.server import INBOUND_QUEUE, out_queue
from hub.store import Store, _record, now_iso


@dataclass
class DeadLetter:
    message_id: str
    adapter: str
    address: str
    error: str
    at: str
    headers: dict[str, str]
    size: int

    @property
    def destination(self) -> str:
        return f"{self.adapter}:{self.address}"


def operator() -> str:
    """Who is acting, as it goes on the timeline."""
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"{user}@{socket.gethostname()}"


async def dead_letters(store: Store, ids: list[str] | None = None) -> list[DeadLetter]:
    sql = "SELECT message_id, adapter, address, error, at, headers, length(body) FROM dead_letters"
    params: list[Any] = []
    if ids:
        sql += f" WHERE message_id IN ({','.join('?' * len(ids))})"
        params = list(ids)
    rows = await store._fetchall(sql + " ORDER BY at", params)
    return [
        DeadLetter(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), int(r[6] or 0))
        for r in rows
    ]


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
        letters = await dead_letters(store, None if replay_all else ids)
        letters = [d for d in letters if _matches(d, destination)]
        who = operator()
        for letter in letters:
            body = await store._fetchall(
                "SELECT body FROM dead_letters WHERE message_id = ? AND adapter = ? "
                "AND address = ?",
                (letter.message_id, letter.adapter, letter.address),
            )
            headers = dict(letter.headers)
            for key in [k for k in headers if k.startswith("x-")]:
                del headers[key]
            if letter.adapter == "inbound":
                queue = INBOUND_QUEUE
            else:
                queue = out_queue(letter.adapter)
                headers.update({"attempt": "1", "first-attempt-at": f"{time.time():.3f}"})
            detail = f"{letter.destination} by {who}: {reason or 'no reason given'}"
            # on record first (the hub may deliver it at once), then sent, then off the list:
            # a crash in between leaves it listed, to be replayed again (same MessageId)
            await store.write(
                functools.partial(
                    _settle, letter=letter, state=State.REPLAYED, detail=detail, remove=False
                )
            )
            await transport.publish(queue, body[0][0], headers)
            await store.write(functools.partial(_remove, letter=letter))
        return letters


async def discard(config: HubConfig, ids: list[str], reason: str) -> list[DeadLetter]:
    """Give up on dead letters for good, on record."""
    store = await Store.open(config.database)
    try:
        letters = await dead_letters(store, ids)
        who = operator()
        for letter in letters:
            detail = f"{letter.destination} by {who}: {reason}"
            await store.write(
                functools.partial(_settle, letter=letter, state=State.DISCARDED, detail=detail)
            )
        return letters
    finally:
        await store.close()


def _remove(conn: sqlite3.Connection, letter: DeadLetter) -> None:
    conn.execute(
        "DELETE FROM dead_letters WHERE message_id = ? AND adapter = ? AND address = ?",
        (letter.message_id, letter.adapter, letter.address),
    )


def _settle(
    conn: sqlite3.Connection, letter: DeadLetter, state: State, detail: str, remove: bool = True
) -> None:
    at = now_iso()
    if remove:
        _remove(conn, letter)
    conn.execute(
        "UPDATE deliveries SET state = ?, updated_at = ? WHERE message_id = ? AND adapter = ? "
        "AND address = ?",
        (
            "pending" if state == State.REPLAYED else "discarded",
            at,
            letter.message_id,
            letter.adapter,
            letter.address,
        ),
    )
    _record(conn, letter.message_id, state, detail, at)


def pid_file(config: HubConfig) -> Path:
    return config.path(config.data_dir) / "hub.pid"


def hub_running(config: HubConfig) -> int | None:
    """The pid of a running ``hub serve`` for this deployment, if any."""
    try:
        pid = int(pid_file(config).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


async def status(config: HubConfig) -> dict[str, Any]:
    async with connect(config) as (store, transport):
        queues = [INBOUND_QUEUE, *(out_queue(a) for a in config.adapters)]
        queues += [f"inbox.{d}" for d in config.departments]
        depths = {q: await transport.depth(q) for q in queues}
        breakers = await store._fetchall(
            "SELECT adapter, address, state, failures, last_error, updated_at FROM breakers "
            "ORDER BY adapter, address"
        )
        rules = await store._fetchall(
            "SELECT version, applied_at, summary FROM rules_versions ORDER BY applied_at DESC "
            "LIMIT 1"
        )
        dead = await store._fetchall("SELECT COUNT(*) FROM dead_letters")
        return {
            "hub": config.id,
            "mode": "embedded" if config.embedded else "rabbitmq",
            "running_pid": hub_running(config),
            "messages_by_state": await store.count_by_state(),
            "queues": depths,
            "dead_letters": int(dead[0][0]),
            "oldest_undelivered_seconds": round(await store.oldest_undelivered_age(), 1),
            "circuit_breakers": [
                {
                    "destination": f"{b[0]}:{b[1]}",
                    "state": b[2],
                    "failures": b[3],
                    "last_error": b[4],
                    "since": b[5],
                }
                for b in breakers
            ],
            "rules": {"version": rules[0][0], "applied_at": rules[0][1]} if rules else None,
            "store_bytes": await store.size_bytes(),
        }


def format_status(data: dict[str, Any]) -> str:
    running = f"running (pid {data['running_pid']})" if data["running_pid"] else "not running"
    lines = [f"hub {data['hub']} ({data['mode']}): {running}"]
    rules = data.get("rules")
    if rules:
        lines.append(f"rules {rules['version']} applied {rules['applied_at']}")
    states = data["messages_by_state"]
    lines.append(
        "messages: " + (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none")
    )
    lines.append(
        f"dead letters: {data['dead_letters']}; oldest undelivered: "
        f"{data['oldest_undelivered_seconds']} s; store {data['store_bytes'] // 1024} KB"
    )
    lines.append("queues:")
    lines += [f"  {q:<32} {n}" for q, n in data["queues"].items()]
    lines.append("circuit breakers:" + ("" if data["circuit_breakers"] else " all closed"))
    for b in data["circuit_breakers"]:
        error = f" ({b['last_error']})" if b["last_error"] else ""
        lines.append(f"  {b['destination']:<32} {b['state']}{error} since {b['since']}")
    return "\n".join(lines)


def letters_json(letters: list[DeadLetter]) -> str:
    return json.dumps([asdict(d) for d in letters], ensure_ascii=False, indent=2)
