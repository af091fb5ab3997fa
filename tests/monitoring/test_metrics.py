"""Counters, histograms and gauges move exactly as the traffic says (embedded hub, workers=0)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from lxml import etree

import hub.pipeline.hub
from hub.ops import inbox as ops_inbox
from hub.queues import out_queue
from hub.routing import RulesError, RuleSet
from monitoring import metrics_of
from monitoring.collector import Collector
from monitoring.metrics import Metrics
from tests.monitoring.conftest import MEMO_TYPE, RECIPIENT, SENDER, Deployment, wait_for


def _tampered(body: bytes) -> bytes:
    changed = body.replace("арендной плате".encode(), "арендной плате (исправлено)".encode(), 1)
    assert changed != body
    return changed


async def test_counters_and_histograms_follow_the_traffic(deployment: Deployment) -> None:
    d = deployment
    await d.collector.start()
    unknown = etree.fromstring(b'<x:Order xmlns:x="urn:example:unknown"><x:N>1</x:N></x:Order>')
    for _ in range(5):
        await d.publish(d.envelope())
    await d.publish(_tampered(d.envelope()))
    await d.publish(d.envelope(unknown))
    await d.publish(d.envelope(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))

    def receipts() -> float:
        return sum(d.value("hub_receipts_sent_total", state=s) for s in ("delivered", "rejected"))

    await wait_for(lambda: receipts() + d.value("hub_receipts_sent_total", state="expired") >= 8)

    assert d.value("hub_messages_received_total", source="test") == 8
    assert d.value("hub_messages_accepted_total", message_type=MEMO_TYPE) == 5
    assert d.value("hub_messages_rejected_total", reason="signature_invalid") == 1
    assert d.value("hub_messages_rejected_total", reason="unknown_message_type") == 1
    assert d.value("hub_messages_expired_total") == 1
    assert d.value("hub_messages_duplicate_total") == 0
    delivered = {"adapter": "internal", "destination": RECIPIENT}
    assert d.value("hub_deliveries_total", **delivered, outcome="delivered") == 5
    assert d.value("hub_deliveries_total", **delivered, outcome="transient") == 0
    assert d.value("hub_receipts_sent_total", state="delivered") == 5
    assert d.value("hub_receipts_sent_total", state="rejected") == 2
    assert d.value("hub_receipts_sent_total", state="expired") == 1
    assert d.value("hub_end_to_end_seconds_count", adapter="internal") == 5
    assert d.value("hub_end_to_end_seconds_bucket", adapter="internal", le="+Inf") == 5
    # stages: every envelope is parsed; the unknown type fails validation, the tampered one
    # verification; the expired one is routed (a route may give it a TTL) but not signed
    expected = {"parse": 8, "validate": 7, "verify": 6, "route": 6, "sign": 5, "deliver": 5}
    for stage, count in expected.items():
        assert d.value("hub_stage_seconds_count", stage=stage) == count, stage
    assert d.value("hub_stage_seconds_count", stage="store") >= 1

    await d.collector.collect(force=True)
    assert d.value("hub_messages_by_state", state="delivered") == 5
    assert d.value("hub_messages_by_state", state="rejected") == 2
    assert d.value("hub_messages_by_state", state="expired") == 1
    assert d.value("hub_messages_by_state", state="failed") == 0
    assert d.value("hub_queue_depth", queue="hub.inbound") == 0
    assert d.value("hub_queue_depth", queue="inbox.dept.culture") == 5
    assert d.value("hub_queue_depth", queue="inbox.dept.finance") == 8  # the receipts
    assert d.value("hub_queue_depth", queue="inbox.dept.land") == 0
    assert d.value("hub_queue_depth", queue=out_queue("flaky")) == 0
    assert d.value("hub_oldest_undelivered_seconds") == 0
    assert d.value("hub_dead_letters_current") == 0
    assert d.value("hub_store_size_bytes") > 0
    assert d.value("hub_ready") == 1
    assert d.value("hub_up", transport="embedded") == 1


async def test_ack_latency_from_the_inbox(deployment: Deployment) -> None:
    d = deployment
    await d.collector.start()
    for _ in range(3):
        await d.publish(d.envelope())
    await wait_for(lambda: d.value("hub_receipts_sent_total", state="delivered") >= 3)
    await d.collector.collect(force=True)
    assert d.value("hub_ack_seconds_count") == 0
    assert d.value("hub_queue_depth", queue="inbox.dept.culture") == 3

    taken = await ops_inbox.inbox(d.config, RECIPIENT, d.directory / "taken", None, 0.1)
    assert len(taken) == 3
    await d.collector.collect(force=True)
    assert d.value("hub_ack_seconds_count") == 3
    assert 0 <= d.value("hub_ack_seconds_sum") < 60
    assert d.value("hub_messages_by_state", state="acknowledged") == 3
    assert d.value("hub_queue_depth", queue="inbox.dept.culture") == 0
    # receipts are not acknowledgements of a delivery
    await ops_inbox.inbox(d.config, SENDER, d.directory / "taken", None, 0.1)
    await d.collector.collect(force=True)
    assert d.value("hub_ack_seconds_count") == 3


async def test_ack_recorded_before_delivered_is_still_paired(deployment: Deployment) -> None:
    d = deployment
    await d.collector.start()
    store = d.hub.store
    await store.record("m-early", "acknowledged", "taken by dept.culture")
    await store.record("m-early", "delivered", "internal:dept.culture")
    await store.record("m-late", "acknowledged", "taken by dept.culture")
    await d.collector.collect(force=True)
    assert d.value("hub_ack_seconds_count") == 1  # m-late waits for its "delivered" event
    await store.record("m-late", "delivered", "internal:dept.culture")
    await d.collector.collect(force=True)
    assert d.value("hub_ack_seconds_count") == 2
    await d.collector.collect(force=True)
    assert d.value("hub_ack_seconds_count") == 2


async def test_retry_then_dead_letter(deployment: Deployment) -> None:
    d = deployment
    d.hub.config.retry.inline_attempts = 1  # no quick in-process retry: through the broker
    await d.collector.start()
    headers = {
        "message-id": "7d1f1f4e-0c33-4c56-9a55-0b4f4b1e2c11",
        "sender": SENDER,
        "recipient": "agency.remote",
        "message-type": MEMO_TYPE,
        "kind": "request",
        "adapter": "flaky",
        "address": "remote.example",
        "attempt": "1",
    }
    await d.hub.transport.publish(out_queue("flaky"), b"<envelope/>", headers)
    await wait_for(lambda: d.value("hub_receipts_sent_total", state="failed") >= 1)
    flaky = {"adapter": "flaky", "destination": "remote.example"}
    assert d.value("hub_deliveries_total", **flaky, outcome="transient") == 1
    assert d.value("hub_deliveries_total", **flaky, outcome="permanent") == 1
    assert d.value("hub_deliveries_total", **flaky, outcome="delivered") == 0
    assert d.value("hub_retries_scheduled_total", **flaky) == 1
    assert d.value("hub_dead_letters_total", adapter="flaky", reason="permanent") == 1
    assert len(d.flaky.attempts) == 2
    await d.collector.collect(force=True)
    assert d.value("hub_dead_letters_current") == 1
    assert d.value("hub_circuit_breaker_state", **flaky) == 2


async def test_certificate_expiry_days(deployment: Deployment) -> None:
    d = deployment
    await d.collector.start()
    hub_days = d.value("hub_certificate_expiry_days", certificate="pki/hub.main.pem")
    assert 364 < hub_days <= 365
    assert 3649 < d.value("hub_certificate_expiry_days", certificate="pki/ca.pem") <= 3650
    for department in ("dept.finance", "dept.culture", "dept.land"):
        days = d.value("hub_certificate_expiry_days", certificate=f"pki/{department}.pem")
        assert 364 < days <= 365
    # a certificate that disappears stops being reported
    (d.pki / "dept.land.pem").unlink()
    await d.collector.collect(force=True)
    found = metrics_of(d.hub).registry.get_sample_value(
        "hub_certificate_expiry_days", {"certificate": "pki/dept.land.pem"}
    )
    assert found is None


async def test_certificates_expiring_within_30_and_7_days(deployment: Deployment) -> None:
    from envelopes.pki import new_participant

    d = deployment
    await d.collector.start()
    assert d.value("hub_certificates_expiring", within="30d") == 0
    assert d.value("hub_certificates_expiring", within="7d") == 0
    new_participant("dept.land", d.pki, days=20)  # reissued, shorter: soon
    new_participant("dept.culture", d.pki, days=3)  # this week
    await d.collector.collect(force=True)
    assert d.value("hub_certificates_expiring", within="30d") == 2
    assert d.value("hub_certificates_expiring", within="7d") == 1


async def test_rules_reload_counters(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = deployment
    assert d.value("hub_rules_reloads_total", result="refused") == 0
    assert d.value("hub_rules_reloads_total", result="applied") == 0
    assert d.value("hub_rules_version_info", version=d.hub.rules.version) == 1

    def broken(directory: object) -> RuleSet:
        raise RulesError("rules: line 1: not a mapping")

    # not by editing the files: the hub's own file watch would reload them too
    monkeypatch.setattr(hub.pipeline.hub, "load_rules", broken)
    assert await d.hub.reload_rules() is False
    assert d.value("hub_rules_reloads_total", result="refused") == 1
    assert d.value("hub_rules_reloads_total", result="applied") == 0
    assert d.value("hub_rules_version_info", version=d.hub.rules.version) == 1


async def test_no_message_ids_in_labels(deployment: Deployment) -> None:
    d = deployment
    await d.collector.start()
    body = d.envelope()
    await d.publish(body)
    await wait_for(lambda: d.value("hub_receipts_sent_total", state="delivered") >= 1)
    await d.collector.collect(force=True)
    text = json.dumps(
        [
            s.labels
            for family in metrics_of(d.hub).registry.collect()
            for s in family.samples
            if s.labels
        ]
    )
    row = await d.hub.store.recent_messages(1)
    assert row and row[0].message_id not in text


async def test_not_started_hub_is_not_ready(deployment: Deployment) -> None:
    idle = hub.pipeline.hub.Hub(deployment.config)
    metrics = Metrics()
    collector = Collector(idle, metrics, min_interval=0)
    await collector.collect()
    readiness = await collector.check_ready()
    assert readiness.as_json() == {
        "ready": False,
        "checks": {"started": False},
        "failing": ["started"],
    }
    registry = metrics.registry
    assert registry.get_sample_value("hub_ready") == 0
    assert registry.get_sample_value("hub_ready_check", {"check": "started"}) == 0


async def test_documents_on_control_due_soon_and_overdue_per_department(
    deployment: Deployment,
) -> None:
    import datetime as dt

    from hub.execution.calendar import WorkCalendar
    from tests.hub.harness import document_on_control

    d = deployment
    store = d.hub.store
    today = d.hub.policy.today()

    def working(day: dt.date) -> dt.date:
        return d.hub.policy.calendar.previous_working_day(day)

    async def document(deadline: dt.date) -> None:
        await document_on_control(store, deadline, sender=SENDER, recipient=RECIPIENT)

    await document(working(today - dt.timedelta(days=10)))  # overdue
    await document(working(today + dt.timedelta(days=40)))  # on control, not due soon
    # tomorrow, made a working day whatever the calendar says: the test runs on any date
    soon = today + dt.timedelta(days=1)
    store.policy.calendar = WorkCalendar(extra_working_days=[soon])  # type: ignore[attr-defined]
    await document(soon)
    await d.collector.collect(force=True)
    culture = {"department": RECIPIENT}
    assert d.value("hub_documents_on_control", **culture) == 3
    assert d.value("hub_documents_overdue", **culture) == 1
    assert d.value("hub_documents_due_soon", **culture) == 1
    assert d.value("hub_documents_overdue", department=SENDER) == 0  # a series for every one
