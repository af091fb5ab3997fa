"""One hub process: store, transport, worker pool, adapters and the pipeline between them.

``Hub.start`` opens the store and the transport, loads the rules and the adapters, starts the
workers, then consumes ``hub.inbound`` (ingest), ``hub.out.<adapter>`` (dispatch) and
``hub.dead`` (dead letters). It keeps its node's heartbeat in the store, and watches the
deadlines when it holds that job's lease (presence.py). ``Hub.stop`` undoes it in reverse.
Observers hear what happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any

from hub.abc import Adapter, BlobStore, Destination, Observer, Transport
from hub.blobs import open_blob_store
from hub.config import HubConfig
from hub.execution.policy import ExecutionPolicy
from hub.nodes import HEARTBEAT
from hub.pipeline import archive_heads
from hub.pipeline.breakers import Breaker, Breakers, BreakerState
from hub.pipeline.context import HubAdapterContext, HubSigner
from hub.pipeline.dead_letters import DeadLetters
from hub.pipeline.dispatch import Dispatcher
from hub.pipeline.execution import ExecutionControl
from hub.pipeline.ingest import Ingest, LocalDelivery
from hub.pipeline.observers import Observers
from hub.pipeline.pool import CryptoPool
from hub.pipeline.presence import Presence, StoreReloadRequests, run_leased
from hub.pipeline.receipts import ReceiptSender
from hub.pipeline.retry import RetryPolicy
from hub.plugins import create_adapter
from hub.queues import DEAD_QUEUE, INBOUND_QUEUE, inbox_queue, out_queue
from hub.records import Ingested
from hub.routing import RulesError, RuleSet, load_rules, version_summary
from hub.routing.watch import RulesWatcher
from hub.store import Store, open_store
from hub.transports import open_transport

log = logging.getLogger("hub")


class Hub:
    """The running hub. ``transport`` and ``adapters`` may be given (tests); by default they
    come from the configuration."""

    def __init__(
        self,
        config: HubConfig,
        *,
        transport: Transport | None = None,
        adapters: dict[str, Adapter] | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.config = config
        self.observers = Observers(observers)
        self._given_transport = transport
        self._given_adapters = adapters
        self.store: Store
        self.transport: Transport
        self.blobs: BlobStore  # attachments by reference (hub.blobs)
        self.adapters: dict[str, Adapter] = {}
        self.pool: CryptoPool | None = None
        self.rules: RuleSet = RuleSet()
        self.signer = HubSigner(config)
        self.policy = ExecutionPolicy.from_config(config.execution, config.departments)
        self.control: ExecutionControl | None = None
        self.retry = RetryPolicy(config.retry)
        self.breakers = Breakers(
            config.breaker.failure_threshold,
            config.breaker.probe_interval,
            on_change=self._breaker_changed,
        )
        self.node = config.node_name  # this process among the nodes sharing the store
        self.heartbeat = HEARTBEAT
        self.presence: Presence | None = None
        self._addresses: dict[str, str] = {}
        self.started = asyncio.Event()
        self._ingest: Ingest | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reload_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        config = self.config
        self.rules = load_rules(config.path(config.paths.routing_rules))
        self.store = await open_store(config)
        self.blobs = open_blob_store(config)
        self.transport = self._given_transport or open_transport(config, self.store)
        await self.transport.start()
        if self._given_adapters is not None:
            self.adapters = dict(self._given_adapters)
        else:
            self.adapters = {
                name: create_adapter(name, settings, str(config.base_dir))
                for name, settings in config.adapters.items()
            }
        self._check_adapters(self.rules)
        inline = frozenset(n for n, a in self.adapters.items() if a.inline)
        self.pool = pool = CryptoPool(config, inline)
        await pool.warm_up()
        receipts = ReceiptSender(
            config.id, self.transport, pool.sign_receipt, self.observers,
            self.store.archive_emitted,
        )  # fmt: skip
        self.control = control = ExecutionControl(
            config.id,
            self.store,
            self.transport,
            self.policy,
            self.signer.sign_envelope,
            config.departments,
        )
        dead_letters = DeadLetters(self.store, receipts, self.observers)
        dispatcher = Dispatcher(
            self.store,
            self.transport,
            self.adapters,
            self.breakers,
            self.retry,
            receipts,
            dead_letters,
            self.observers,
            control.registered,
        )
        self._ingest = ingest = Ingest(
            config,
            self.store,
            self.transport,
            pool,
            lambda: self.rules,
            dispatcher,
            receipts,
            self.adapters,
            self.observers,
            self._spawn,
            control.registered,
            self.blobs,
        )
        for name, adapter in self.adapters.items():
            await adapter.start(
                HubAdapterContext(
                    name,
                    config.id,
                    self.store,
                    self.transport,
                    receipts,
                    self.signer,
                    lambda: self.rules,
                    self.blobs,
                )
            )
        for department in config.departments:
            await self.transport.declare_queue(inbox_queue(department))
        self.observers.rules_applied(self.rules.version, None)
        await self.store.record_rules_version(
            self.rules.version, version_summary(self.rules, None), at_start=True
        )
        self.presence = presence = Presence(
            self.store, self.node, lambda: self.rules.version, interval=self.heartbeat
        )
        presence.addresses.update(self._addresses)
        await presence.beat()  # in `hub status` from now on
        self.observers.hub_started(self.transport.name)
        self._spawn(ingest.run(), "ingest-batches")
        self._spawn(presence.run(), "heartbeat")
        self._spawn(self._watch_rules(), "rules-watch")
        self._spawn(control.run(self.node), "execution-control")
        self._spawn(archive_heads.run(self.store, config, self.node), "archive-heads")
        if config.store.retention_days:
            self._spawn(self._retention(config.store.retention_days), "retention")
        self._spawn(self._collect_blobs(), "blobs-collector")
        await self.transport.consume(INBOUND_QUEUE, ingest.on_inbound, prefetch=config.prefetch)
        for name in self.adapters:
            await self.transport.consume(out_queue(name), dispatcher.on_outbound, prefetch=16)
        await self.transport.consume(DEAD_QUEUE, dead_letters.on_dead, prefetch=16)
        self.started.set()
        log.info(
            "hub %s (node %s) serving on %s transport, rules %s",
            config.id,
            self.node,
            self.transport.name,
            self.rules.version,
        )

    async def _retention(self, days: int) -> None:
        from hub.ops.retention import DAILY, RETENTION, daily

        await run_leased(self.store, RETENTION, self.node, DAILY, lambda: daily(self.store, days))

    async def _collect_blobs(self) -> None:
        """Blobs no message refers to any more, past the grace period: hourly, one node — from
        the first blob or upload on (until then no lease is asked for)."""
        from hub.ops.blobs import COLLECT, collect, uploads_for

        while not await self.store.has_blobs():
            await asyncio.sleep(60.0)
        grace = self.config.blobs.grace
        uploads = uploads_for(self.config)
        await run_leased(
            self.store, COLLECT, self.node, 3600.0,
            lambda: collect(self.store, self.blobs, uploads, grace),
        )  # fmt: skip

    async def stop(self) -> None:
        if self._ingest is not None:
            self._ingest.stopping = True  # no new batches
        with contextlib.suppress(Exception):
            await self.transport.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._ingest is not None:
            self._ingest.stop()  # what still waited for a batch goes back
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.aclose()
        if self.pool is not None:
            self.pool.close()
        if self.presence is not None:
            with contextlib.suppress(Exception):  # else its row and leases run out by themselves
                await self.presence.leave()
        await self.store.close()
        with contextlib.suppress(Exception):
            await self.blobs.aclose()
        self.observers.hub_stopped(self.transport.name)

    async def ingest_here(
        self, body: bytes, headers: Mapping[str, str], properties: Mapping[str, str]
    ) -> Ingested | None:
        """Decide a submission in this process, in the next ingest batch, as if it had come
        from ``hub.inbound`` (the HTTP API's way in: no round trip through the broker). Returns
        once it is decided and on record — durable, dispatched, answered — as when a message
        of ``hub.inbound`` is acknowledged: what storing the decision came to. None if it was
        not (the hub is stopping, or the batch failed): then the caller puts it on
        ``hub.inbound``, where it is retried."""
        ingest = self._ingest
        if ingest is None or ingest.stopping:
            return None
        delivery = LocalDelivery(body, headers, properties)
        try:
            await ingest.on_inbound(delivery)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the caller itself is cancelled
            return None  # the hub stopped forming batches: the caller queues it
        return delivery.outcome if delivery.settled == "ack" else None

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def announce(self, kind: str, url: str) -> None:
        """Where this node serves ``kind`` (``api``, ``metrics``: the extensions say so once they
        listen), for ``hub status``."""
        self._addresses[kind] = url
        if self.presence is not None:
            self.presence.announce(kind, url)

    def sign_envelope(self, xml: bytes) -> bytes:
        """Sign, as the hub, an envelope the hub composed itself (wrapping an unsigned document)."""
        return self.signer.sign_envelope(xml)

    # ------------------------------------------------------------------ routing rules
    async def reload_rules(self) -> bool:
        """Load the rule files again; swap atomically if valid, keep the old set if not."""
        async with self._reload_lock:  # SIGHUP, the file watch and `hub routes reload` may race
            return await self._reload_rules()

    async def _reload_rules(self) -> bool:
        directory = self.config.path(self.config.paths.routing_rules)
        try:
            rules = await asyncio.to_thread(load_rules, directory)
            self._check_adapters(rules)
        except Exception as exc:
            self.observers.rules_refused()
            log.error("routing rules reload refused, keeping %s: %s", self.rules.version, exc)
            return False
        if rules.version == self.rules.version:
            return True
        old = self.rules
        self.rules = rules  # batches read self.rules once, so none sees a half-loaded set
        self.observers.rules_applied(rules.version, old.version)
        await self.store.record_rules_version(
            rules.version, version_summary(rules, old), at_start=False
        )
        log.info("routing rules %s applied (was %s)", rules.version, old.version)
        return True

    def _check_adapters(self, rules: RuleSet) -> None:
        """Rules must only name configured adapters: else their messages would wait forever."""
        missing = sorted(rules.adapters() - set(self.adapters))
        if missing:
            raise RulesError(
                f"routing rules deliver through {', '.join(missing)}, which hub.toml does not "
                f"configure (configured: {', '.join(sorted(self.adapters))})"
            )

    def rules_watcher(self, interval: float | None = None) -> RulesWatcher:
        """The watch on the rules folder and on ``hub routes reload`` requests (through the
        store: every node gets them)."""
        config = self.config
        return RulesWatcher(
            config.path(config.paths.routing_rules),
            self.reload_rules,
            lambda: self.rules.version,
            lambda: self.rules.sources,
            lambda: self.rules.source_digest,
            requests=StoreReloadRequests(self.store, self.node),
            interval=interval,
        )

    async def _watch_rules(self) -> None:
        await self.rules_watcher().run()

    # ------------------------------------------------------------------ circuit breakers
    def _breaker_changed(self, destination: Destination, breaker: Breaker) -> None:
        self.observers.breaker_changed(destination, int(breaker.state))
        log.log(
            logging.INFO if breaker.state == BreakerState.HALF_OPEN else logging.WARNING,
            "circuit breaker for %s is %s (%s)",
            destination,
            breaker.state.name.lower(),
            breaker.last_error or "ok",
            extra={"destination": str(destination)},
        )
        self._spawn(
            self.store.save_breaker(
                destination, breaker.state.name.lower(), breaker.failures, breaker.last_error
            ),
            "save-breaker",
        )
