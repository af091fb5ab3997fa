"""A message's way through the hub: its state, timeline (transport and execution stages, each
labelled), deliveries, answers, and — for a document — where its execution stands."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from hub.config import HubConfig
from hub.ops.connection import opened_store
from hub.records import EXECUTION_STAGES, DocumentRecord
from hub.store import Store


async def trace(config: HubConfig, message_id: str) -> dict[str, Any] | None:
    """What ``hub trace --json`` prints; None for an unknown id."""
    today = dt.datetime.now(zoneinfo.ZoneInfo(config.execution.timezone)).date()
    async with opened_store(config) as store:
        return await trace_of(store, message_id, today)


def execution_of(record: DocumentRecord | None, today: dt.date) -> dict[str, Any] | None:
    """A document's execution for ``trace --json`` (None for a message that is no document):
    each part is null until it is reached."""
    if record is None:
        return None
    doc = record.state
    deadline = doc.deadline
    return {
        "stage": doc.stage.value if doc.stage else None,
        "registration": {
            "number": doc.number,
            "date": doc.registered_on.isoformat(),
            "journal": doc.journal,
        }
        if doc.number is not None and doc.registered_on is not None
        else None,
        "executor": doc.executor,
        "deadline": deadline.isoformat() if deadline else None,
        "overdue": (doc.on_control and deadline < today) if deadline else None,
        "closed_at": doc.closed_on.isoformat() if doc.closed_on else None,
        "on_control": doc.on_control,
        "executed_on": doc.executed_on.isoformat() if doc.executed_on else None,
        "executed_on_time": doc.executed_on_time,
        "refusal": doc.refusal,
        "answer": doc.answer,
        "assignments": [
            {
                "id": a.id,
                "parent": a.parent,
                "executor": a.executor,
                "co_executors": list(a.co_executors),
                "deadline": a.deadline.isoformat(),
                "set_by": {"department": a.set_by_department, "person": a.set_by_person},
            }
            for a in doc.assignments
        ],
        "deadline_changes": [
            {
                "assignment": c.assignment,
                "department": c.department,
                "person": c.person,
                "old": c.old.isoformat(),
                "new": c.new.isoformat(),
                "reason": c.reason,
                "at": c.at,
            }
            for c in record.changes
        ],
        "card": record.card.model_dump(mode="json") if record.card else None,
    }


async def trace_of(
    store: Store, message_id: str, today: dt.date | None = None
) -> dict[str, Any] | None:
    """``trace`` on a store that is open already (the running hub's)."""
    row = await store.get_message(message_id)
    if row is None:
        return None
    events = await store.timeline(message_id)
    deliveries = await store.deliveries(message_id)
    answers = await store.answers(message_id)
    record = await store.document(message_id)
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
        "events": [
            {
                "state": e.state,
                "at": e.at,
                "detail": e.detail,
                "kind": "execution" if e.state in EXECUTION_STAGES else "transport",
            }
            for e in events
        ],
        "execution": execution_of(record, today or dt.datetime.now(dt.UTC).date()),
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
    execution = data.get("execution")
    if execution:
        lines.append("  execution: " + _execution_line(execution))
    for event in data["events"]:
        label = event.get("kind", "transport")
        lines.append(f"  {event['at']}  {label:<9}  {event['state']:<20} {event['detail']}")
    return "\n".join(lines)


def _execution_line(execution: dict[str, Any]) -> str:
    parts = [execution["stage"] or "not registered"]
    registration = execution.get("registration")
    if registration:
        parts.append(f"№ {registration['number']} of {registration['date']}")
    if execution.get("executor"):
        parts.append(f"executor {execution['executor']}")
    if execution.get("deadline"):
        parts.append(f"deadline {execution['deadline']}")
    if execution.get("overdue"):
        parts.append("OVERDUE")
    if execution.get("closed_at"):
        parts.append(f"closed {execution['closed_at']}")
    return ", ".join(parts)
