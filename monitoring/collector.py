"""Refreshes the gauges that describe state rather than events, and answers ``/readyz``.

Counters and histograms move where things happen (``observer.py`` hears the hub); what is a
*state* (queue
depths, the oldest undelivered message, dead letters now, messages by state, the store's size,
certificate lifetimes, readiness) is read on demand, before each ``/metrics`` scrape and
``/readyz``, and in the background when nothing asked for ``interval`` seconds (30: an idle hub
should not spend its CPU refreshing gauges nobody reads; issue 23).

``hub_ack_seconds`` is observed here too: ``hub inbox`` records the recipient's acknowledgement
in another process, so each refresh reads the ``acknowledged`` events written since the last one
and pairs each with its message's ``delivered`` event.

Every read goes through the store's reader connection; it never waits on the writer.

With several hub nodes on one store and broker, every node runs its own collector, and that is
right: readiness, breakers and certificates are the node's own, and the shared state (queue
depths, messages by state, dead letters, documents on control) is only read, so reading it on
every node changes nothing and needs no lease — each node's gauges say the same, so dashboards
take ``max`` of them across nodes, not ``sum``. ``hub_ack_seconds`` is observed by every node
for every acknowledgement: one node's histogram is the whole picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography import x509

from hub.abc import State
from hub.pipeline.hub import Hub
from hub.queues import INBOUND_QUEUE, inbox_queue, out_queue
from monitoring.metrics import Metrics

log = logging.getLogger("hub.monitoring")

DEFAULT_INTERVAL = 30.0
CATCH_UP = 1.0  # seconds to the next refresh while acknowledgements are left to pair
CHECK_TIMEOUT = 3.0
# an acknowledgement whose "delivered" event is not visible yet is retried for this long
ACK_PAIRING_GRACE = 60.0
ACK_SCAN_LIMIT = 5000
# the gauge groups one refresh goes through (the ``part`` label of hub_collector_errors_total)
PARTS = ("readiness", "queues", "store", "acks", "certificates", "breakers", "execution")


@runtime_checkable
class ReportsBreakers(Protocol):
    """An adapter with circuit breakers reports them: destination address → 0/1/2.

    0 closed, 1 half-open, 2 open (the values of ``hub_circuit_breaker_state``).
    """

    def breaker_states(self) -> Mapping[str, int]: ...


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, bool]

    @property
    def failing(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "checks": self.checks, "failing": self.failing}


@dataclass
class _PendingAck:
    event_id: int
    message_id: str
    acked_at: dt.datetime


def _parse_at(value: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


# ----------------------------------------------------------------------------- certificates
def certificate_not_after(path: Path) -> dt.datetime:
    """When the first-expiring certificate in a PEM (or DER) file stops being valid."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        certs = x509.load_pem_x509_certificates(data)
    else:
        certs = [x509.load_der_x509_certificate(data)]
    return min(c.not_valid_after_utc for c in certs)


def certificate_files(hub: Hub) -> dict[str, Path]:
    """Label → file: the hub's certificate, every trusted CA file, the departments' certificates.

    The label is the file's path relative to the deployment folder (``pki/ca.pem``): bounded by
    configuration and unique even when two CA files share a name.
    """
    config = hub.config
    files: dict[str, Path] = {}

    def add(path: Path) -> None:
        full = config.path(path)
        try:
            label = str(full.relative_to(config.base_dir))
        except ValueError:
            label = str(full)
        files[label] = full

    add(config.pki.cert)
    for ca in config.pki.trust:
        add(ca)
    pki_dir = config.path(config.pki.cert).parent
    for department in config.departments:
        candidate = pki_dir / f"{department}.pem"
        if candidate.is_file():
            add(candidate)
    return files


# ----------------------------------------------------------------------------- the collector
class Collector:
    """Keeps the state gauges of one hub fresh; also the one place that decides readiness."""

    def __init__(
        self,
        hub: Hub,
        metrics: Metrics,
        interval: float = DEFAULT_INTERVAL,
        *,
        min_interval: float = 0.5,
    ) -> None:
        self.hub = hub
        self.metrics = metrics
        self.interval = interval
        self.min_interval = min_interval  # on-demand refreshes closer together are skipped
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_run = 0.0
        self._ack_cursor: int | None = None
        self._pending_acks: list[_PendingAck] = []
        self._acks_behind = False  # the last scan stopped at ACK_SCAN_LIMIT
        self._cert_cache: dict[Path, tuple[float, dt.datetime]] = {}
        self._cert_labels: set[str] = set()
        self._ready_checks: set[str] = set()
        for part in PARTS:  # at 0 from the start, so that increase() sees the first error
            self.metrics.collector_errors.labels(part)

    # -------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Remember where the timeline is (acknowledgements before now are not observed), refresh
        once, then keep refreshing every ``interval`` seconds."""
        await self._init_ack_cursor()
        await self.collect(force=True)
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="metrics-collector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(CATCH_UP if self._acks_behind else self.interval)
            fresh = time.monotonic() - self._last_run < self.interval
            if fresh and not self._acks_behind:
                continue  # a scrape refreshed it meanwhile
            try:
                await self.collect(force=True)
            except Exception:  # never let the loop die: the next round tries again
                log.exception("metrics collection failed")

    # -------------------------------------------------------------- refreshing
    async def collect(self, *, force: bool = False) -> None:
        """Refresh every state gauge (skipped if another refresh ended < min_interval ago)."""
        async with self._lock:
            if not force and time.monotonic() - self._last_run < self.min_interval:
                return
            if not self._started():
                await self.check_ready()  # not ready: "started" is the failing check
                return
            await self._part("readiness", self.check_ready)
            await self._part("queues", self._queues)
            await self._part("store", self._store_gauges)
            await self._part("acks", self._acks)
            await self._part("certificates", self._certificates)
            await self._part("breakers", self._breakers)
            await self._part("execution", self._execution)
            self._last_run = time.monotonic()

    async def _part(self, name: str, refresh: Callable[[], Awaitable[object]]) -> None:
        try:
            await refresh()
        except Exception as exc:
            self.metrics.collector_errors.labels(name).inc()
            log.warning("metrics: refreshing %s failed: %r", name, exc)

    def _started(self) -> bool:
        return self.hub.started.is_set() and hasattr(self.hub, "store")

    def queue_names(self) -> list[str]:
        names = [INBOUND_QUEUE]
        names += [out_queue(name) for name in self.hub.adapters]
        names += [inbox_queue(d) for d in self.hub.config.departments]
        return names

    async def _queues(self) -> None:
        transport = self.hub.transport
        for queue in self.queue_names():
            depth = await asyncio.wait_for(transport.depth(queue), CHECK_TIMEOUT)
            self.metrics.queue_depth.labels(queue).set(depth)

    async def _store_gauges(self) -> None:
        store = self.hub.store
        self.metrics.oldest_undelivered.set(await store.oldest_undelivered_age())
        self.metrics.dead_letters_current.set(await store.count_dead_letters())
        counts = await store.count_by_state()
        for state in State:
            if state != State.NOTE:
                self.metrics.messages_by_state.labels(state.value).set(counts.get(state, 0))
        for name, n in counts.items():  # a state this code does not know still shows
            self.metrics.messages_by_state.labels(name).set(n)
        self.metrics.store_bytes.set(await store.size_bytes())

    # -------------------------------------------------------------- acknowledgements
    async def _init_ack_cursor(self) -> None:
        if self._ack_cursor is None and self._started():
            self._ack_cursor = await self.hub.store.last_event_id()

    async def _acks(self) -> None:
        if self._ack_cursor is None:
            await self._init_ack_cursor()
            return
        store = self.hub.store
        now = dt.datetime.now(dt.UTC)
        still: list[_PendingAck] = []
        for pending in self._pending_acks:
            delivered = await store.delivered_at(pending.message_id)
            if delivered is not None:
                self._observe_ack(pending.acked_at, _parse_at(delivered))
            elif (now - pending.acked_at).total_seconds() < ACK_PAIRING_GRACE:
                still.append(pending)
        self._pending_acks = still
        scanned = await store.acknowledgements_since(self._ack_cursor, ACK_SCAN_LIMIT)
        self._acks_behind = len(scanned) >= ACK_SCAN_LIMIT
        for ack in scanned:
            self._ack_cursor = max(self._ack_cursor, ack.event_id)
            acked = _parse_at(ack.at)
            if ack.delivered_before is not None:
                self._observe_ack(acked, _parse_at(ack.delivered_before))
            elif ack.delivered_after is not None:
                # taken from the inbox before the hub wrote "delivered" down; the event carries
                # the time the message was handed over (0 if it says otherwise)
                self._observe_ack(acked, _parse_at(ack.delivered_after))
            elif (now - acked).total_seconds() < ACK_PAIRING_GRACE:
                self._pending_acks.append(_PendingAck(ack.event_id, ack.message_id, acked))

    def _observe_ack(self, acked: dt.datetime, delivered: dt.datetime) -> None:
        self.metrics.ack_latency.observe(max(0.0, (acked - delivered).total_seconds()))

    # -------------------------------------------------------------- certificates
    async def _certificates(self) -> None:
        files = certificate_files(self.hub)
        now = dt.datetime.now(dt.UTC)
        seen: set[str] = set()
        lefts: list[float] = []
        for label, path in files.items():
            try:
                not_after = await asyncio.to_thread(self._not_after, path)
            except (OSError, ValueError) as exc:
                self.metrics.collector_errors.labels("certificates").inc()
                log.warning("metrics: cannot read certificate %s: %r", path, exc)
                continue
            days = (not_after - now).total_seconds() / 86400
            self.metrics.certificate_expiry.labels(label).set(round(days, 3))
            lefts.append(days)
            seen.add(label)
        for within, limit in (("30d", 30), ("7d", 7)):
            self.metrics.certificates_expiring.labels(within).set(sum(d < limit for d in lefts))
        for gone in self._cert_labels - seen:
            with contextlib.suppress(KeyError):
                self.metrics.certificate_expiry.remove(gone)
        self._cert_labels = seen

    def _not_after(self, path: Path) -> dt.datetime:
        mtime = path.stat().st_mtime
        cached = self._cert_cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        not_after = certificate_not_after(path)
        self._cert_cache[path] = (mtime, not_after)
        return not_after

    # -------------------------------------------------------------- breakers
    async def _breakers(self) -> None:
        for name, adapter in self.hub.adapters.items():
            if isinstance(adapter, ReportsBreakers):
                for destination, state in adapter.breaker_states().items():
                    self.metrics.breaker_state.labels(name, destination).set(state)

    # -------------------------------------------------------------- execution
    async def _execution(self) -> None:
        """Documents on control, due soon, overdue, per department (every configured one, at 0
        when it has none, so that an alert sees the series)."""
        counts = await self.hub.store.control_counts()
        departments = set(self.hub.config.departments) | set(counts)
        for department in departments:
            figures = counts.get(department)
            on_control = figures.on_control if figures else 0
            self.metrics.documents_on_control.labels(department).set(on_control)
            self.metrics.documents_due_soon.labels(department).set(
                figures.due_soon if figures else 0
            )
            self.metrics.documents_overdue.labels(department).set(figures.overdue if figures else 0)

    # -------------------------------------------------------------- readiness
    async def check_ready(self) -> Readiness:
        """Broker, store and every adapter, each with a timeout; sets ``hub_ready``."""
        checks: dict[str, bool] = {}
        if not self._started():
            checks["started"] = False
        else:
            probes: dict[str, Awaitable[bool]] = {
                "transport": self.hub.transport.ping(),
                "store": self.hub.store.ping(),
            }
            for name, adapter in self.hub.adapters.items():
                probes[f"adapter:{name}"] = adapter.ping()
            results = await asyncio.gather(*(_check(p) for p in probes.values()))
            checks = dict(zip(probes, results, strict=True))
        ready = all(checks.values())
        self.metrics.ready.set(1 if ready else 0)
        for name, ok in checks.items():
            self.metrics.ready_check.labels(name).set(1 if ok else 0)
        for gone in self._ready_checks - checks.keys():
            with contextlib.suppress(KeyError):
                self.metrics.ready_check.remove(gone)
        self._ready_checks = set(checks)
        return Readiness(ready, checks)


async def _check(probe: Awaitable[bool]) -> bool:
    try:
        return bool(await asyncio.wait_for(probe, CHECK_TIMEOUT))
    except Exception as exc:
        log.debug("readiness probe failed: %r", exc)
        return False
