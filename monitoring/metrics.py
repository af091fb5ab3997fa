"""Every metric of the hub, in one place (catalogue: monitoring/README.md).

Labels are bounded vocabularies only (adapter, destination, message type, outcome, reason,
state); never message ids. Each process has its own registry so that tests can count exactly.
A hub's registry puts its ``node`` on every sample (several nodes behind one Prometheus).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ACK_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
STAGES = ("parse", "validate", "verify", "route", "sign", "store", "deliver")


class NodeRegistry(CollectorRegistry):
    """A registry whose every sample carries the node's name as the label ``node``.

    (prometheus_client has no constant labels; one place here beats a label on each of forty
    metrics and their every call.) The gauges read from the shared store — messages by state,
    documents on control — are the same on every node: take ``max`` of them, not ``sum``."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def collect(self) -> Iterable[Metric]:
        for family in super().collect():
            family.samples = [
                s._replace(labels={"node": self.node, **s.labels}) for s in family.samples
            ]
            yield family

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return super().get_sample_value(name, {"node": self.node, **(labels or {})})


class Metrics:
    """The hub's metrics bound to one registry (a ``NodeRegistry`` when ``node`` is given)."""

    def __init__(self, registry: CollectorRegistry | None = None, node: str | None = None) -> None:
        if registry is None:
            registry = NodeRegistry(node) if node else CollectorRegistry()
        self.registry = registry
        r = self.registry
        self.received = Counter(
            "hub_messages_received",
            "Envelopes taken from the inbound queue",
            ["source"],
            registry=r,
        )
        self.accepted = Counter(
            "hub_messages_accepted",
            "Envelopes accepted (valid, verified, routed)",
            ["message_type"],
            registry=r,
        )
        self.rejected = Counter(
            "hub_messages_rejected", "Envelopes rejected, by reason code", ["reason"], registry=r
        )
        self.duplicates = Counter(
            "hub_messages_duplicate", "Resubmissions of an already accepted envelope", registry=r
        )
        self.deliveries = Counter(
            "hub_deliveries",
            "Delivery attempts by adapter, destination and outcome",
            ["adapter", "destination", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "hub_retries_scheduled",
            "Deliveries put back for a later attempt",
            ["adapter", "destination"],
            registry=r,
        )
        self.dead_letters = Counter(
            "hub_dead_letters",
            "Messages moved to the dead-letter store",
            ["adapter", "reason"],
            registry=r,
        )
        self.dead_letters_current = Gauge(
            "hub_dead_letters_current", "Messages in the dead-letter store now", registry=r
        )
        self.expired = Counter("hub_messages_expired", "Messages past ExpiresAt", registry=r)
        self.receipts = Counter(
            "hub_receipts_sent", "Signed receipts sent to senders", ["state"], registry=r
        )
        self.end_to_end = Histogram(
            "hub_end_to_end_seconds",
            "From taking a message to its delivery",
            ["adapter"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage = Histogram(
            "hub_stage_seconds",
            "Time per pipeline stage per message",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ack_latency = Histogram(
            "hub_ack_seconds",
            "From delivery to the recipient's acknowledgement",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "hub_queue_depth", "Messages waiting in a hub queue", ["queue"], registry=r
        )
        self.oldest_undelivered = Gauge(
            "hub_oldest_undelivered_seconds",
            "Age of the oldest accepted, undelivered message",
            registry=r,
        )
        self.breaker_state = Gauge(
            "hub_circuit_breaker_state",
            "Per destination: 0 closed, 1 half-open, 2 open",
            ["adapter", "destination"],
            registry=r,
        )
        self.rules_reloads = Counter(
            "hub_rules_reloads", "Routing rule reloads by result", ["result"], registry=r
        )
        self.rules_version = Gauge(
            "hub_rules_version_info",
            "The active routing rules version (value 1)",
            ["version"],
            registry=r,
        )
        self.certificate_expiry = Gauge(
            "hub_certificate_expiry_days",
            "Days until a configured certificate expires",
            ["certificate"],
            registry=r,
        )
        self.certificates_expiring = Gauge(
            "hub_certificates_expiring",
            "Configured certificates that expire within the given days (or have expired)",
            ["within"],
            registry=r,
        )
        for within in ("30d", "7d"):
            self.certificates_expiring.labels(within).set(0)
        self.store_bytes = Gauge(
            "hub_store_size_bytes", "Size of the SQLite store (with its WAL)", registry=r
        )
        self.messages_by_state = Gauge(
            "hub_messages_by_state",
            "Messages in the store by current state",
            ["state"],
            registry=r,
        )
        self.documents_on_control = Gauge(
            "hub_documents_on_control",
            "Documents on control (a deadline set, not executed, not closed), by recipient",
            ["department"],
            registry=r,
        )
        self.documents_due_soon = Gauge(
            "hub_documents_due_soon",
            "Documents on control due within [execution] due_soon_days, by recipient",
            ["department"],
            registry=r,
        )
        self.documents_overdue = Gauge(
            "hub_documents_overdue",
            "Documents on control past their deadline, by recipient",
            ["department"],
            registry=r,
        )
        self.up = Gauge("hub_up", "1 while the hub runs", ["transport"], registry=r)
        self.ready = Gauge(
            "hub_ready",
            "1 when broker, store and every adapter are reachable (what /readyz says), else 0",
            registry=r,
        )
        self.ready_check = Gauge(
            "hub_ready_check",
            "Per readiness check (transport, store, adapter:<name>): 1 passing, 0 failing",
            ["check"],
            registry=r,
        )
        self.collector_errors = Counter(
            "hub_collector_errors",
            "Refreshes of a gauge group that failed (the gauges keep their last value)",
            ["part"],
            registry=r,
        )
        # counters that alerts take increase() of exist from the start, at 0
        for result in ("applied", "refused"):
            self.rules_reloads.labels(result)
