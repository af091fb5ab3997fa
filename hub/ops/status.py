"""``hub status``: messages by state, queues, dead letters, breakers, rules, the running hub and
the nodes alive on its store, with the jobs each holds."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.abc import Destination, Transport
from hub.config import HubConfig
from hub.nodes import alive_within
from hub.ops.certificates import EXPIRY_URGENT_DAYS, expiring_certificates
from hub.ops.connection import connect
from hub.queues import INBOUND_QUEUE, inbox_queue, out_queue
from hub.records import LeaseRow, NodeRow
from hub.store import Store


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
        return await status_of(config, store, transport)


async def status_of(config: HubConfig, store: Store, transport: Transport) -> dict[str, Any]:
    """``status`` on an open store and transport (the running hub's)."""
    queues = [INBOUND_QUEUE, *(out_queue(a) for a in config.adapters)]
    queues += [inbox_queue(d) for d in config.departments]
    depths = {q: await transport.depth(q) for q in queues}
    breakers = await store.breakers()
    versions = await store.rules_versions()
    latest = max(versions, key=lambda v: v.applied_at) if versions else None
    return {
        "hub": config.id,
        "mode": "embedded" if config.embedded else "rabbitmq",
        "running_pid": hub_running(config),
        "messages_by_state": await store.count_by_state(),
        "queues": depths,
        "dead_letters": await store.count_dead_letters(),
        "oldest_undelivered_seconds": round(await store.oldest_undelivered_age(), 1),
        "circuit_breakers": [
            {
                "destination": f"{b.adapter}:{b.address}",
                "state": b.state,
                "failures": b.failures,
                "last_error": b.last_error,
                "since": b.updated_at,
            }
            for b in breakers
        ],
        "rules": {"version": latest.version, "applied_at": latest.applied_at} if latest else None,
        "store_bytes": await store.size_bytes(),
        # within 30 days (7: urgent) or expired: renew before signatures stop verifying
        "certificates_expiring": await asyncio.to_thread(expiring_certificates, config),
        "nodes": await nodes_of(store),
        "jobs": {
            lease.name: {
                "holder": lease.holder if lease.expires_in > 0 else None,
                "since": lease.since,
                "expires_in": lease.expires_in,
            }
            for lease in await store.leases()
        },
    }


async def nodes_of(store: Store) -> list[dict[str, Any]]:
    """The nodes alive on the store, each with the jobs it holds."""
    leases = await store.leases()
    return [_node(n, leases) for n in await store.nodes(alive_within())]


def _node(node: NodeRow, leases: list[LeaseRow]) -> dict[str, Any]:
    return {
        "node": node.node,
        "started_at": node.started_at,
        "seen_ago": node.seen_ago,
        "version": node.version,
        "rules_version": node.rules_version,
        "api": node.api or None,
        "metrics": node.metrics or None,
        "jobs": [x.name for x in leases if x.holder == node.node and x.expires_in > 0],
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
    nodes = data.get("nodes", [])
    lines.append(
        f"nodes alive: {len(nodes)}" + ("" if nodes else " (no hub serve runs on this store)")
    )
    for n in nodes:
        jobs = f"; holds {', '.join(n['jobs'])}" if n["jobs"] else ""
        where = "".join(f", {k} {n[k]}" for k in ("api", "metrics") if n[k])
        lines.append(
            f"  {n['node']}: since {n['started_at']}, seen {n['seen_ago']:.1f} s ago, "
            f"version {n['version']}, rules {n['rules_version']}{where}{jobs}"
        )
    for name, job in data.get("jobs", {}).items():
        if job["holder"] is None:
            lines.append(f"  {name}: nobody holds it now (its lease ran out)")
    expiring = data.get("certificates_expiring", [])
    lines.append("certificates expiring within 30 days:" + ("" if expiring else " none"))
    for c in expiring:
        when = dt.datetime.fromisoformat(c["not_after"]).strftime("%d.%m.%Y")
        days = c["days_left"]
        urgency = "EXPIRED" if days <= 0 else "URGENT" if days < EXPIRY_URGENT_DAYS else "renew"
        lines.append(
            f"  {c['file']:<32} {urgency}: expires {when} ({days:.1f} days), "
            f"serial {c['serial']}, {c['subject']}"
        )
    lines.append("circuit breakers:" + ("" if data["circuit_breakers"] else " all closed"))
    for b in data["circuit_breakers"]:
        error = f" ({b['last_error']})" if b["last_error"] else ""
        lines.append(f"  {b['destination']:<32} {b['state']}{error} since {b['since']}")
    return "\n".join(lines)


async def breakers_of(store: Store, live: Mapping[Destination, Any]) -> list[dict[str, Any]]:
    """Every destination's circuit breaker as the running hub holds it (``live``), with when
    it last changed (from the store)."""
    saved = {(b.adapter, b.address): b for b in await store.breakers()}
    out = []
    for destination, breaker in sorted(live.items(), key=lambda item: str(item[0])):
        row = saved.get((destination.adapter, destination.address))
        out.append(
            {
                "destination": str(destination),
                "state": breaker.state.name.lower(),
                "failures": breaker.failures,
                "last_error": breaker.last_error,
                "since": row.updated_at if row else None,
            }
        )
    return out
