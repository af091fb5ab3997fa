"""The Store contract: what every store implementation does, tested through the interface only.

The ``store`` fixture (tests/hub/conftest.py) runs each test on every backend, SQLite and
PostgreSQL; a new backend joins by adding itself to ``STORE_BACKENDS`` and passing these tests
unchanged.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from hub.abc import Destination, State
from hub.records import DeliveryMark, Ingested, Outgoing, Processed
from hub.store import Store

INTERNAL = Destination("internal", "dept.culture")
EMAIL = Destination("email", "tax@agency.example")


@pytest.fixture
async def any_store(store: Store) -> AsyncIterator[Store]:
    yield store


def decision(
    message_id: str | None = None,
    *,
    state: str = "accepted",
    digest: str = "d1",
    sender: str = "dept.finance",
    recipient: str = "dept.culture",
    correlation_id: str | None = None,
    destinations: tuple[Destination, ...] = (INTERNAL,),
    kind: str = "request",
) -> Processed:
    accepted = state == "accepted"
    return Processed(
        message_id=message_id or str(uuid.uuid4()),
        state=state,
        envelope=b"<envelope/>",
        code=None if accepted else "schema_invalid",
        reasons=[] if accepted else ["Envelope/Content/Header/Sender: missing"],
        sender=sender,
        recipient=recipient,
        message_type="{urn:x}Memo",
        kind=kind,
        correlation_id=correlation_id,
        digest=digest,
        rule="r1" if accepted else None,
        rules_version="v1",
        outgoing=[Outgoing(d.adapter, d.address, b"<countersigned/>") for d in destinations]
        if accepted
        else [],
    )


async def ingest(
    store: Store, *decisions: Processed, hints: list[str | None] | None = None
) -> list[Ingested]:
    return await store.record_ingest(
        list(decisions), [None] * len(decisions), hints or [None] * len(decisions)
    )


# ---------------------------------------------------------------------------------- ingest
async def test_a_new_decision_is_stored_with_its_first_events(any_store: Store) -> None:
    p = decision()
    (outcome,) = await ingest(any_store, p)
    assert outcome.status == "new" and outcome.pending == [("internal", "dept.culture")]
    row = await any_store.get_message(p.message_id)
    assert row is not None and row.state == "routed" and row.envelope == b"<envelope/>"
    assert [e.state for e in await any_store.timeline(p.message_id)] == [
        "received",
        "accepted",
        "routed",
    ]
    assert [(d.adapter, d.address, d.state) for d in await any_store.deliveries(p.message_id)] == [
        ("internal", "dept.culture", "pending")
    ]


async def test_a_rejection_is_stored_with_its_reason(any_store: Store) -> None:
    p = decision(state="rejected")
    await ingest(any_store, p)
    row = await any_store.get_message(p.message_id)
    assert row is not None and row.state == "rejected"
    assert row.reason == "schema_invalid: Envelope/Content/Header/Sender: missing"
    assert await any_store.deliveries(p.message_id) == []


async def test_same_id_same_content_is_a_duplicate_with_its_pending_deliveries(
    any_store: Store,
) -> None:
    p = decision()
    await ingest(any_store, p)
    (again,) = await ingest(any_store, p)
    assert again.status == "duplicate" and again.existing_state == "routed"
    assert again.pending == [("internal", "dept.culture")]
    await any_store.mark_delivered([DeliveryMark(p.message_id, [INTERNAL], [])])
    (third,) = await ingest(any_store, p)
    assert third.status == "duplicate" and third.pending == []


async def test_same_id_other_content_is_a_conflict(any_store: Store) -> None:
    p = decision()
    await ingest(any_store, p)
    (outcome,) = await ingest(any_store, decision(p.message_id, digest="other"))
    assert outcome.status == "conflict"
    notes = [e.detail for e in await any_store.timeline(p.message_id) if e.state == "note"]
    assert any("conflict" in n for n in notes)


async def test_a_corrected_resubmission_of_a_rejection_replaces_it(any_store: Store) -> None:
    bad = decision(state="rejected", digest="bad")
    await ingest(any_store, bad)
    (outcome,) = await ingest(any_store, decision(bad.message_id, digest="good"))
    assert outcome.status == "new"
    row = await any_store.get_message(bad.message_id)
    assert row is not None and row.state == "routed" and row.digest == "good"
    states = [e.state for e in await any_store.timeline(bad.message_id)]
    assert states[:2] == ["received", "rejected"] and "routed" in states


async def test_submissions_report_the_decision(any_store: Store) -> None:
    p = decision()
    await any_store.record_ingest([p], ["s1"], [None])
    await any_store.record_ingest([p], ["s2"], [None])
    await any_store.record_ingest([decision(p.message_id, digest="x")], ["s3"], [None])
    assert await any_store.submission("s1") == (p.message_id, "accepted", "")
    assert (await any_store.submission("s2") or ("", "", ""))[1] == "duplicate"
    third = await any_store.submission("s3")
    assert third is not None and third.outcome == "conflict" and "conflict" in (third.reason or "")
    assert await any_store.submission("nope") is None


async def test_a_response_marks_its_request_answered(any_store: Store) -> None:
    request = decision()
    await ingest(any_store, request)
    response = decision(
        sender="dept.culture",
        recipient="dept.finance",
        kind="response",
        correlation_id=request.message_id,
    )
    (outcome,) = await ingest(any_store, response)
    assert outcome.answered == request.message_id
    assert (await any_store.states([request.message_id]))[request.message_id] == "answered"
    assert await any_store.answers(request.message_id) == [response.message_id]


async def test_a_hint_links_only_a_response_from_the_addressee(any_store: Store) -> None:
    request = decision()
    await ingest(any_store, request)
    stranger = decision(sender="dept.land", recipient="dept.finance", kind="response")
    (first,) = await ingest(any_store, stranger, hints=[request.message_id])
    assert first.answered is None
    reply = decision(sender="dept.culture", recipient="dept.finance", kind="response")
    (second,) = await ingest(any_store, reply, hints=[request.message_id])
    assert second.answered == request.message_id


# -------------------------------------------------------------------------------- timelines
async def test_states_only_move_forward(any_store: Store) -> None:
    p = decision()
    await ingest(any_store, p)
    await any_store.record(p.message_id, State.DELIVERED, "internal:dept.culture")
    await any_store.record(p.message_id, State.DELIVERING, "late news")  # not backwards
    await any_store.record(p.message_id, State.NOTE, "a note never moves the state")
    row = await any_store.get_message(p.message_id)
    assert row is not None and row.state == "delivered"
    await any_store.record(p.message_id, State.FAILED, "bounced")
    row = await any_store.get_message(p.message_id)
    assert row is not None and row.state == "delivered"  # failed ranks below delivered
    await any_store.record_many([(p.message_id, State.ACKNOWLEDGED, "taken")])
    assert (await any_store.states([p.message_id, "unknown"])) == {p.message_id: "acknowledged"}


async def test_a_delivery_mark_keeps_its_hand_over_time(any_store: Store) -> None:
    request = decision()
    await ingest(any_store, request)
    handed = "2000-01-01T00:00:00.000000+00:00"  # before anything written after it
    await any_store.record(request.message_id, State.NOTE, "written before the mark")
    await any_store.mark_delivered(
        [
            DeliveryMark(
                request.message_id, [INTERNAL], [(request.message_id, "delivered", "x", handed)]
            )
        ]
    )
    events = await any_store.timeline(request.message_id)
    assert events[0].state == "delivered" and events[0].at == handed
    (delivery,) = await any_store.deliveries(request.message_id)
    assert delivery.state == "delivered" and delivery.attempts == 1


async def test_recent_messages_newest_first(any_store: Store) -> None:
    first, second = decision(), decision()
    await ingest(any_store, first)
    await asyncio.sleep(0.002)
    await ingest(any_store, second)
    recent = await any_store.recent_messages(2)
    assert [r.message_id for r in recent] == [second.message_id, first.message_id]
    assert recent[0].envelope is None


# ------------------------------------------------------------------------------- deliveries
async def test_queued_delivery_retry_then_settle(any_store: Store) -> None:
    p = decision(destinations=(EMAIL,))
    await ingest(any_store, p)
    await any_store.note_retry(p.message_id, EMAIL, "attempt 1 failed: 451")
    (delivery,) = await any_store.deliveries(p.message_id)
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        "pending",
        1,
        "attempt 1 failed: 451",
    )
    assert (await any_store.get_message(p.message_id)).state == "retry_scheduled"  # type: ignore[union-attr]
    assert await any_store.oldest_undelivered_age() >= 0
    await any_store.settle_delivery(p.message_id, EMAIL, "delivered", "email:tax (<id@x>)")
    (delivery,) = await any_store.deliveries(p.message_id)
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert delivery.last_error == "attempt 1 failed: 451"  # kept: the last error seen
    assert await any_store.delivered_at(p.message_id) is not None


async def test_news_after_delivery_fails_it(any_store: Store) -> None:
    p = decision(destinations=(EMAIL,))
    await ingest(any_store, p)
    await any_store.settle_delivery(p.message_id, EMAIL, "delivered", "sent")
    await any_store.mark_failed_after_delivery(p.message_id, "email", "550 no such user")
    row = await any_store.get_message(p.message_id)
    assert row is not None and row.state == "failed" and row.reason == "550 no such user"
    (delivery,) = await any_store.deliveries(p.message_id)
    assert delivery.state == "failed"


async def test_nothing_pending_means_no_undelivered_age(any_store: Store) -> None:
    assert await any_store.oldest_undelivered_age() == 0.0


# ----------------------------------------------------------------------------- dead letters
async def test_dead_letters_park_replay_and_discard(any_store: Store) -> None:
    p, q = decision(destinations=(EMAIL,)), decision(destinations=(EMAIL,))
    await ingest(any_store, p, q)
    for m in (p, q):
        await any_store.dead_letter(m.message_id, EMAIL, "gave up", b"<body/>", {"a": "1"})
    assert await any_store.count_dead_letters() == 2
    (letter,) = await any_store.dead_letters([p.message_id])
    assert (letter.destination, letter.error, letter.headers, letter.size) == (
        "email:tax@agency.example",
        "gave up",
        {"a": "1"},
        7,
    )
    assert await any_store.dead_letter_body(letter) == b"<body/>"
    row = await any_store.get_message(p.message_id)
    assert row is not None and row.state == "dead_lettered"
    await any_store.mark_replayed(letter, "by ops: fixed")
    assert await any_store.count_dead_letters() == 2  # listed until it is sent
    row = await any_store.get_message(p.message_id)
    assert row is not None and row.state == "delivering"
    await any_store.unlist_dead_letter(letter)
    assert [d.message_id for d in await any_store.dead_letters()] == [q.message_id]
    (other,) = await any_store.dead_letters()
    await any_store.discard_dead_letter(other, "by ops: obsolete")
    assert await any_store.dead_letters() == []
    row = await any_store.get_message(q.message_id)
    assert row is not None and row.state == "discarded" and row.reason == "by ops: obsolete"


# --------------------------------------------------------------------- breakers and rules
async def test_breakers_are_saved_and_listed(any_store: Store) -> None:
    await any_store.save_breaker(EMAIL, "open", 5, "connection refused")
    await any_store.save_breaker(EMAIL, "closed", 0, "")
    (breaker,) = await any_store.breakers()
    assert (breaker.adapter, breaker.address, breaker.state, breaker.failures) == (
        "email",
        "tax@agency.example",
        "closed",
        0,
    )


async def test_rules_versions_restart_and_revert(any_store: Store) -> None:
    await any_store.record_rules_version("v1", "loaded at start", at_start=True, at="t1")
    await any_store.record_rules_version("v1", "loaded again", at_start=True, at="t1b")
    await any_store.record_rules_version("v2", "replaced v1", at_start=False, at="t2")
    await any_store.record_rules_version("v1", "replaced v2", at_start=False, at="t3")
    assert [(r.version, r.applied_at, r.summary) for r in await any_store.rules_versions()] == [
        ("v2", "t2", "replaced v1"),
        ("v1", "t3", "replaced v2"),
    ]


# ---------------------------------------------------------------- references and inboxes
async def test_adapters_references_are_their_own(any_store: Store) -> None:
    await any_store.remember("smev", "sent:1", "m1", '{"a": 1}')
    await any_store.remember("smev", "seen:2", "m1", "")
    await any_store.remember("email", "sent:1", "m2", "")
    assert await any_store.recall("smev", "sent:1") == ("m1", '{"a": 1}')
    assert await any_store.recall("email", "sent:1") == ("m2", "")
    assert await any_store.recall("smev", "nope") is None
    assert await any_store.recall_by_message("smev", "m1") == [
        ("sent:1", '{"a": 1}'),
        ("seen:2", ""),
    ]


async def test_an_inbox_item_is_seen_once(any_store: Store) -> None:
    assert await any_store.mark_seen("dept.culture", "m1") is True
    assert await any_store.mark_seen("dept.culture", "m1") is False
    assert await any_store.mark_seen("dept.land", "m1") is True


async def test_counts_and_acknowledgements(any_store: Store) -> None:
    p, q = decision(), decision(state="rejected")
    await ingest(any_store, p, q)
    assert await any_store.count_by_state() == {"routed": 1, "rejected": 1}
    cursor = await any_store.last_event_id()
    await any_store.record(p.message_id, State.DELIVERED, "internal:dept.culture")
    await any_store.record(p.message_id, State.ACKNOWLEDGED, "taken by dept.culture")
    (ack,) = await any_store.acknowledgements_since(cursor, 10)
    assert ack.message_id == p.message_id and ack.delivered_before is not None
    assert ack.delivered_after is None and ack.event_id > cursor
    assert await any_store.acknowledgements_since(ack.event_id, 10) == []
    assert await any_store.ping() is True
    assert await any_store.size_bytes() > 0


# -------------------------------------------------------------------------- embedded queues
async def test_queue_claims_in_priority_order_with_leases(any_store: Store) -> None:
    low = await any_store.enqueue("q", b"low", {"priority": "1"})
    high = await any_store.enqueue("q", b"high", {"priority": "9"})
    await any_store.enqueue("q", b"later", {}, delay=60)
    await any_store.enqueue("other", b"x", {})
    assert await any_store.queue_depth("q") == 2
    first = await any_store.claim("q", 1, lease=60)
    assert [r.body for r in first] == [b"high"] and first[0].id == high
    assert first[0].deliveries == 1 and first[0].headers == {"priority": "9"}
    assert await any_store.queue_depth("q") == 1
    second = await any_store.claim("q", 10, lease=60)
    assert [r.id for r in second] == [low]
    assert await any_store.claim("q", 10, lease=60) == []  # the delayed one is not ready
    await any_store.settle(high, requeue=False)
    await any_store.settle(low, requeue=True)
    again = await any_store.claim("q", 10, lease=60)
    assert [(r.id, r.deliveries) for r in again] == [(low, 2)]
    assert await any_store.release_locks("q") == 1
    assert [r.id for r in await any_store.claim("q", 10, lease=60)] == [low]
