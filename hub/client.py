"""What the command line does next to a running hub: submit, read an inbox, trace.

Both modes work through the same two things: the transport named in hub.toml (RabbitMQ, or the
embedded queues in the hub's SQLite file) and the store file, which ``hub serve`` shares.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from envelopes.codec import q
from envelopes.errors import EnvelopeError
from envelopes.parsing import parse_xml
from hub.abc import State, Transport
from hub.config import HubConfig
from hub.embedded import EmbeddedTransport
from hub.processor import unparsed_id
from hub.server import INBOUND_QUEUE, inbox_queue
from hub.store import Event, Store

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SETTLED = {
    State.ACCEPTED,
    State.REJECTED,
    State.ROUTED,
    State.DELIVERING,
    State.DELIVERED,
    State.ACKNOWLEDGED,
    State.ANSWERED,
    State.FAILED,
    State.DEAD_LETTERED,
    State.EXPIRED,
    State.RETRY_SCHEDULED,
    State.DISCARDED,
}


@asynccontextmanager
async def connect(config: HubConfig) -> AsyncIterator[tuple[Store, Transport]]:
    store = await Store.open(config.database)
    transport: Transport
    if config.embedded:
        transport = EmbeddedTransport(store)
    else:
        from hub.rabbitmq import RabbitTransport

        transport = RabbitTransport(config.broker_url)
    try:
        await transport.start()
        yield store, transport
    finally:
        await transport.close()
        await store.close()


def header_facts(body: bytes) -> tuple[str, str, str]:
    """(message id, sender, kind) read leniently from an envelope we have not verified."""
    try:
        root = parse_xml(body)
    except EnvelopeError:
        return unparsed_id(body), "-", "-"
    head = f"{q('Content')}/{q('Header')}/"
    message_id = (root.findtext(head + q("MessageId")) or "").strip()
    sender = (root.findtext(head + q("Sender")) or "").strip() or "-"
    kind = (root.findtext(head + q("Kind")) or "").strip() or "-"
    if not _UUID.match(message_id):
        message_id = unparsed_id(body)
    return message_id, sender, kind


@dataclass
class SendResult:
    message_id: str
    state: str
    reason: str | None


async def send(config: HubConfig, files: list[Path], wait: float) -> list[SendResult]:
    """Submit files, then wait (up to ``wait`` seconds) for the hub's decision on each.

    Each file travels with its own submission id, so a conflicting resubmission is reported as
    rejected even though the MessageId it carries is already known (and delivered).
    """
    async with connect(config) as (store, transport):
        pending: list[tuple[str, str]] = []
        for path in files:
            body = path.read_bytes()
            message_id, sender, _ = header_facts(body)
            submission = str(uuid.uuid4())
            await transport.publish(
                INBOUND_QUEUE,
                body,
                {
                    "message-id": message_id,
                    "submission-id": submission,
                    "source": "cli",
                    "sender": sender,
                },
            )
            pending.append((submission, message_id))
        deadline = time.monotonic() + wait
        results: dict[str, SendResult] = {}
        while True:
            for submission, _ in pending:
                if submission in results:
                    continue
                decided = await store.submission(submission)
                if decided is None:
                    continue
                stored_id, outcome, reason = decided
                if outcome == "conflict":
                    results[submission] = SendResult(stored_id, State.REJECTED, reason)
                    continue
                row = await store.get_message(stored_id)
                state = row.state if row is not None else outcome
                why = reason or (row.reason if row is not None else None)
                results[submission] = SendResult(stored_id, state, why)
            if len(results) == len(pending) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        return [results.get(s, SendResult(m, "queued", None)) for s, m in pending]


@dataclass
class InboxItem:
    message_id: str
    sender: str
    kind: str
    path: Path


async def inbox(
    config: HubConfig,
    participant: str,
    out_dir: Path,
    max_items: int | None,
    wait: float,
    skipped: list[str] | None = None,
) -> list[InboxItem]:
    """Take envelopes and receipts from a department's inbox, each written and acknowledged once."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    taken: list[InboxItem] = []
    async with connect(config) as (store, transport):
        queue = inbox_queue(participant)
        await transport.declare_queue(queue)
        deadline = time.monotonic() + wait
        while max_items is None or len(taken) < max_items:
            delivery = await transport.get(queue)
            if delivery is None:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)
                continue
            message_id, sender, kind = header_facts(delivery.body)
            if not await store.mark_seen(participant, message_id):
                await delivery.ack()  # a redelivery of something already taken: same MessageId
                if skipped is not None:
                    skipped.append(message_id)
                continue
            path = out_dir / f"{message_id}.xml"
            path.write_bytes(delivery.body)
            if kind != "receipt":
                await store.record(message_id, State.ACKNOWLEDGED, f"taken by {participant}")
            await delivery.ack()
            taken.append(InboxItem(message_id, sender, kind, path))
    return taken


async def trace(config: HubConfig, message_id: str) -> dict[str, object] | None:
    store = await Store.open(config.database)
    try:
        row = await store.get_message(message_id)
        if row is None:
            return None
        events: list[Event] = await store.timeline(message_id)
        deliveries = await store.deliveries(message_id)
        answers = await store.find_by_correlation(message_id)
    finally:
        await store.close()
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
            {"adapter": a, "address": b, "state": s, "attempts": n, "last_error": e}
            for a, b, s, n, e in deliveries
        ],
        "answers": answers,
        "events": [{"state": e.state, "at": e.at, "detail": e.detail} for e in events],
    }


def format_trace(data: dict[str, object]) -> str:
    lines = [
        f"{data['message_id']}  {data['state']}",
        f"  {data['sender']} → {data['recipient']}  {data['kind']}  {data['message_type']}",
    ]
    if data.get("correlation_id"):
        lines.append(f"  answers {data['correlation_id']}")
    answers = data.get("answers")
    if isinstance(answers, list) and answers:
        lines.append(f"  answered by {', '.join(answers)}")
    events = data.get("events")
    assert isinstance(events, list)
    for event in events:
        lines.append(f"  {event['at']}  {event['state']:<15} {event['detail']}")
    return "\n".join(lines)


def to_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
