"""Ingest: envelopes from ``hub.inbound``, in batches, decided, stored, dispatched, answered.

A batch is one pool call (the workers decide), one store transaction (the decisions), the
deliveries, one more transaction (the inline delivery marks), the receipts, and only then the
inbound acks. A crash anywhere before the acks replays the batch; replay is idempotent (same
MessageId and content: no second acceptance; pending deliveries are redone, same MessageId).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any

from envelopes.ids import is_message_id
from envelopes.parsing import ParseLimits
from hub.abc import Adapter, BlobStore, Delivery, Destination, Observer, State, Transport
from hub.config import HubConfig
from hub.pipeline.dispatch import Dispatcher
from hub.pipeline.pool import CryptoPool
from hub.pipeline.receipts import ReceiptSender, receipt_after_dispatch
from hub.queues import UNPARSED_PREFIX, answer_to, has_inbox_here
from hub.records import DeliveryMark, Ingested, Processed, Registration
from hub.routing import RuleSet
from hub.store import Store

log = logging.getLogger("hub")

Item = tuple[Delivery, asyncio.Future[None]]


class LocalDelivery(Delivery):
    """A submission handed to ingest by this process (the HTTP API) rather than by a queue:
    acknowledged means decided and on record, as for a message of ``hub.inbound``; nacked means
    not (the submitter puts it on ``hub.inbound`` instead)."""

    def __init__(
        self, body: bytes, headers: Mapping[str, str], properties: Mapping[str, str]
    ) -> None:
        self.body = body
        self.headers = headers
        self._properties = properties
        self.redelivered = False
        self.delivery_count = 1
        self.settled: str | None = None  # "ack" | "nack"
        self.outcome: Ingested | None = None  # what storing its decision came to

    @property
    def properties(self) -> Mapping[str, str]:
        return self._properties

    async def ack(self) -> None:
        self.settled = self.settled or "ack"

    async def nack(self, requeue: bool = True) -> None:
        self.settled = self.settled or "nack"


class Ingest:
    """Batches inbound deliveries and takes each batch through the pipeline."""

    def __init__(
        self,
        config: HubConfig,
        store: Store,
        transport: Transport,
        pool: CryptoPool,
        rules: Callable[[], RuleSet],
        dispatcher: Dispatcher,
        receipts: ReceiptSender,
        adapters: dict[str, Adapter],
        observer: Observer,
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
        registered: Callable[[list[Registration]], Awaitable[None]],
        blobs: BlobStore | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.transport = transport
        self.pool = pool
        self.rules = rules  # read once per batch: a reload never shows half a rule set
        self.dispatcher = dispatcher
        self.receipts = receipts
        self.adapters = adapters
        self.observer = observer
        self._batch: list[Item] = []
        self._batch_ready = asyncio.Event()
        # batches at the crypto pool: one per worker and one waiting, so a worker never waits
        # for a batch; what comes after (store, deliveries, receipts) is not limited here
        self._batch_slots = asyncio.Semaphore(max(1, config.workers) + 1)
        self._spawn = spawn  # the hub keeps the batch tasks (and cancels them when it stops)
        self._registered = registered  # tells senders of documents registered on delivery
        self.departments = frozenset(config.departments)
        self.blobs = blobs  # where big inline attachments go (Processed.externalised)
        self.stopping = False

    # ------------------------------------------------------------------ batching
    async def on_inbound(self, delivery: Delivery) -> None:
        """The inbound queue's consumer: returns once the delivery is settled."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((delivery, future))
        self._batch_ready.set()
        await future

    async def run(self) -> None:
        """Form batches until stopped (``batch_size`` at most, a couple of ms to fill up)."""
        while not self.stopping:
            await self._batch_ready.wait()
            if len(self._batch) < self.config.batch_size:
                await asyncio.sleep(0.002)  # let a few more arrive: one pool call, one commit
            await self._batch_slots.acquire()
            items = self._batch[: self.config.batch_size]
            del self._batch[: self.config.batch_size]
            if not self._batch:
                self._batch_ready.clear()
            if not items:
                self._batch_slots.release()
                continue
            self._spawn(self._run_batch(items), "ingest-batch")

    def stop(self) -> None:
        """Stop forming batches; what waits for one goes back (its message is redelivered)."""
        self.stopping = True
        for _, future in self._batch:
            if not future.done():
                future.cancel()

    async def _run_batch(self, items: list[Item]) -> None:
        held = True

        def release() -> None:
            # the slot goes once the batch leaves the pool: had it waited for the deliveries
            # and receipts too, the worker sat idle for half of each batch's time
            nonlocal held
            if held:
                held = False
                self._batch_slots.release()

        try:
            await self._ingest_isolated(items, release)
        finally:
            release()

    async def _ingest_isolated(
        self, items: list[Item], crypto_done: Callable[[], None] = lambda: None
    ) -> None:
        """Ingest a batch; if it fails, one message at a time, so a poison message fails alone.

        A failed message goes back to the inbound queue; the transport's delivery limit moves
        one that keeps failing to ``hub.dead`` (and from there to the dead-letter store).
        """
        try:
            await self._ingest(items, crypto_done)
        except Exception as exc:
            if len(items) > 1 and not self.stopping and await self.transport.ping():
                log.warning("ingest batch of %d failed (%s); retrying one by one", len(items), exc)
                for item in items:
                    await self._ingest_isolated([item])
                return
            log.exception("ingest failed; the message goes back to the inbound queue")
            for delivery, future in items:
                with contextlib.suppress(Exception):
                    await delivery.nack(requeue=True)
                if not future.done():
                    future.set_exception(exc)
        else:
            for _, future in items:
                if not future.done():
                    future.set_result(None)

    # ------------------------------------------------------------------ one batch
    async def _ingest(
        self, items: list[Item], crypto_done: Callable[[], None] = lambda: None
    ) -> None:
        started = time.perf_counter()
        bodies = [d.body for d, _ in items]
        for d, _ in items:
            self.observer.message_received(d.headers.get("source", "amqp"))
        publishers = [d.properties.get("user_id") for d, _ in items]
        results = await self.pool.process(bodies, self.rules(), publishers)
        crypto_done()
        for (d, _), p in zip(items, results, strict=True):
            for stage, seconds in p.timings.items():
                self.observer.stage_timed(stage, seconds)
            if p.message_id.startswith(UNPARSED_PREFIX):
                keep_under_given_id(d, p)
            if p.externalised:
                await self._externalise(d.body, p)
        t_store = time.perf_counter()
        outcomes = await self.store.record_ingest(
            results,
            [d.headers.get("submission-id") for d, _ in items],
            [d.headers.get("correlation-hint") for d, _ in items],
        )
        self.observer.stage_timed("store", (time.perf_counter() - t_store) / max(1, len(results)))
        for outcome, (d, _) in zip(outcomes, items, strict=True):
            self._observe(outcome)
            if isinstance(d, LocalDelivery):
                d.outcome = outcome
        marks = await asyncio.gather(*(self.dispatcher.dispatch(o, started) for o in outcomes))
        if any(delivered or events for delivered, events in marks):
            # one transaction for the batch: a delivery row and its event never disagree
            registered = await self.store.mark_delivered(
                [
                    DeliveryMark(o.processed.message_id, delivered, events)
                    for o, (delivered, events) in zip(outcomes, marks, strict=True)
                ]
            )
            if registered:
                await self._registered(registered)
        decided = [d.headers["submission-id"] for d, _ in items if d.headers.get("submission-id")]
        if decided:
            self.observer.submissions_decided(decided)
        await asyncio.gather(
            *(
                self._tell_sender(o, m[0], d)
                for o, m, (d, _) in zip(outcomes, marks, items, strict=True)
            )
        )
        refused = [
            (d, o, adapter)
            for (d, _), o in zip(items, outcomes, strict=True)
            if (adapter := self._adapter_to_tell(d, o)) is not None
        ]  # (a task only for the few an adapter must answer, not one per message of the batch)
        if refused:
            await asyncio.gather(*(self._tell_adapter(d, o, a) for d, o, a in refused))
        await asyncio.gather(*(d.ack() for d, _ in items))

    async def _externalise(self, body: bytes, p: Processed) -> None:
        """Keep a submission's big inline attachments as the sender's blobs, before its
        decision is stored (which checks that the blobs it refers to are there: without a
        blob store here, it is rejected as ``attachment_missing``)."""
        if self.blobs is None or p.sender is None:
            return
        contents = await asyncio.to_thread(inline_contents, body, p.externalised)
        for attachment_id, digest, size in p.blobs:
            content = contents.get(attachment_id)
            if content is None:
                continue
            await self.blobs.put(_once(content), sha256=digest, size=size)
            while not await self.store.claim_blob(digest, size, p.sender):
                await asyncio.sleep(0.1)  # the collector is removing an older copy
            if await self.blobs.stat(digest) is None:
                await self.blobs.put(_once(content), sha256=digest, size=size)

    def _observe(self, outcome: Ingested) -> None:
        p = outcome.processed
        if outcome.status == "conflict":
            self.observer.message_decided("rejected", "conflict")
        elif outcome.status == "duplicate":
            self.observer.message_decided("duplicate", "")
        elif p.state == State.REJECTED:
            self.observer.message_decided("rejected", p.code or "invalid")
        elif p.state == State.EXPIRED:
            self.observer.expired()
        else:
            self.observer.message_decided("accepted", p.message_type or "")

    async def _tell_sender(
        self, outcome: Ingested, delivered: list[Destination], delivery: Delivery
    ) -> None:
        """The receipt for a stored (and, where inline, delivered) decision."""
        p = outcome.processed
        if outcome.status == "conflict":
            why = f"MessageId {p.message_id} was already submitted with other content"
            await self._answer_refusal(delivery, p, [("conflict", why)])
            return
        if outcome.refusal is not None:  # a notice the rules refused: its receipt says why
            if p.sender:
                await self.receipts.send(
                    p.sender, p.message_id, State.REJECTED, p.digest, [], [outcome.refusal]
                )
            return
        if p.state == State.REJECTED and p.receipt is None:
            # no receipt signed: the envelope names no sender with an inbox here (or its id
            # was unreadable and it is kept under the one its submitter gave)
            await self._answer_refusal(delivery, p, [(p.code or "rejected", r) for r in p.reasons])
            return
        if p.receipt is None or not p.sender or not p.receipt_state:
            return
        if outcome.status == "duplicate":
            # the first try may have died before telling the sender: tell again (a receipt's
            # MessageId is derived from what it says, so the inbox shows it once)
            await self.receipts.publish(p.sender, p.receipt, p.receipt_state)
            return
        state = receipt_after_dispatch(p.receipt_state, len(p.outgoing), len(delivered))
        if state == p.receipt_state:
            await self.receipts.publish(p.sender, p.receipt, p.receipt_state)
        else:  # some destination is not there yet: "accepted" now, "delivered" later
            await self.receipts.send(p.sender, p.message_id, state, p.digest, p.destinations, [])

    async def _answer_refusal(
        self, delivery: Delivery, p: Processed, reasons: list[tuple[str, str]]
    ) -> None:
        """A ``rejected`` receipt, signed in the pool, to the envelope's sender if it has an
        inbox here, else to the submitter (``answer_to``: the AMQP ``user_id`` or ``reply_to``);
        with neither, the timeline says nobody could be told (unless an adapter brought it in:
        the adapter answers its sender)."""
        if p.sender is not None and has_inbox_here(p.sender, self.departments):
            await self.receipts.send(p.sender, p.message_id, State.REJECTED, p.digest, [], reasons)
            return
        found = answer_to(delivery.properties, self.departments)
        if found is None:
            if delivery.headers.get("adapter", "") not in self.adapters:
                await self.store.record(
                    p.message_id,
                    State.NOTE,
                    "no receipt: neither the envelope nor the submission (AMQP user_id, "
                    "reply_to) names a participant with an inbox here",
                )
            return
        to, how = found
        await self.receipts.send(to, p.message_id, State.REJECTED, p.digest, [], reasons)
        await self.store.record(p.message_id, State.NOTE, f"rejected receipt to {to} ({how})")

    def _adapter_to_tell(self, delivery: Delivery, outcome: Ingested) -> Adapter | None:
        """The adapter that brought in a document refused just now (it answers the sender)."""
        p = outcome.processed
        if outcome.status != "new" or p.state not in (State.REJECTED, State.EXPIRED):
            return None
        return self.adapters.get(delivery.headers.get("adapter", ""))

    async def _tell_adapter(self, delivery: Delivery, outcome: Ingested, adapter: Adapter) -> None:
        """A refused document an adapter brought in: the adapter answers its sender."""
        p = outcome.processed
        name = delivery.headers.get("adapter", "")
        reasons = [(p.code or str(p.state), reason) for reason in p.reasons]
        try:
            await adapter.refused(p.message_id, str(p.state), reasons, dict(delivery.headers))
        except Exception as exc:  # best effort: the refusal itself is stored and on record
            log.warning(
                "%s could not tell the sender of %s that it was %s: %r",
                name,
                p.message_id,
                p.state,
                exc,
                extra={"message_id": p.message_id},
            )
            detail = f"{name}: the sender could not be told ({exc!r})"[:1000]
            await self.store.record(p.message_id, State.NOTE, detail)


async def _once(content: bytes) -> AsyncIterator[bytes]:
    yield content


def inline_contents(body: bytes, ids: list[str]) -> dict[str, bytes]:
    """The decoded content of the envelope's inline attachments ``ids`` (already checked
    against the signed manifest by the worker)."""
    import base64

    from envelopes.codec import q
    from envelopes.parsing import parse_xml

    root = parse_xml(body, ParseLimits(max_bytes=len(body) + 1, max_depth=256))
    wanted = set(ids)
    return {
        str(item.get("Ref")): base64.b64decode(item.text or "")
        for item in root.iterfind(f"{q('AttachmentData')}/{q('Data')}")
        if item.get("Ref") in wanted
    }


def keep_under_given_id(delivery: Delivery, p: Processed) -> None:
    """An envelope without a readable MessageId is kept under the id its submitter gave in the
    AMQP ``message_id`` property, if that is a MessageId, so that ``hub trace`` finds it by the
    id the submitter knows (else under the ``unparsed-…`` id made from its bytes)."""
    given = delivery.properties.get("message_id")
    if given is not None and is_message_id(given):
        p.message_id = given
        p.receipt = p.receipt_state = None  # signed about the other id: answered anew
