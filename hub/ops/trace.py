"""A message's way through the hub: its state, timeline, deliveries and answers."""

from __future__ import annotations

from typing import Any

from hub.config import HubConfig
from hub.ops.connection import opened_store
from hub.store import Store


async def trace(config: HubConfig, message_id: str) -> dict[str, Any] | None:
    """What ``hub trace --json`` prints; None for an unknown id."""
    async with opened_store(config) as store:
        return await trace_of(store, message_id)


async def trace_of(store: Store, message_id: str) -> dict[str, Any] | None:
    """``trace`` on a store that is open already (the running hub's)."""
    row = await store.get_message(message_id)
    if row is None:
        return None
    events = await store.timeline(message_id)
    deliveries = await store.deliveries(message_id)
    answers = await store.answers(message_id)
    return {
        "message_id": row.message_id,
        "state": row.state,
        "sender": row.sender,
        "recipient": row.recipient,
        "message_type": row.message_type,
        "kind": row.kind,
        "correlation_id": row.correlation_id,
        "reason": row.reason,
        "rules_version": row.rules_version,
        "deliveries": [
            {
                "adapter": d.adapter,
                "address": d.address,
                "state": d.state,
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in deliveries
        ],
        "answers": answers,
        "events": [{"state": e.state, "at": e.at, "detail": e.detail} for e in events],
    }


def format_trace(data: dict[str, Any]) -> str:
    lines = [
        f"{data['message_id']}  {data['state']}",
        f"  {data['sender']} → {data['recipient']}  {data['kind']}  {data['message_type']}",
    ]
    if data.get("correlation_id"):
        lines.append(f"  answers {data['correlation_id']}")
    answers = data.get("answers")
    if isinstance(answers, list) and answers:
        lines.append(f"  answered by {', '.join(answers)}")
    for event in data["events"]:
        lines.append(f"  {event['at']}  {event['state']:<15} {event['detail']}")
    return "\n".join(lines)
