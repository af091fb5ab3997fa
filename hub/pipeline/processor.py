"""The CPU-bound part of the pipeline, one raw envelope at a time.

parse → validate → verify the sender → check expiry → route → countersign per destination →
sign the receipt. Pure and synchronous, so it runs in worker processes (crypto off the event
loop) or inline; it returns plain data that the asynchronous side stores and dispatches.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import time

from lxml import etree

from envelopes.codec import claimed_header, q, to_bytes
from envelopes.errors import EnvelopeError
from envelopes.ids import is_message_id, is_participant
from envelopes.model import Envelope, Kind, blob_uri
from envelopes.parsing import ParseLimits, parse_xml
from envelopes.signatures import content_digest, verify_sender
from hub.abc import Destination, State
from hub.config import HubConfig
from hub.execution.notices import NOTICE_TYPE, read_notice
from hub.pipeline.receipts import receipt_at_ingest, receipt_content
from hub.queues import has_inbox_here, unparsed_id
from hub.records import Outgoing, Processed
from hub.routing import RuleSet
from hub.schemas import schema_registry
from hub.trust import hub_signer, trust_store


class Processor:
    """Holds what every envelope is checked against: schemas, trust store, the hub's key."""

    def __init__(self, config: HubConfig, inline_adapters: frozenset[str] = frozenset()) -> None:
        self.config = config
        self.hub_id = config.id
        self.limits = ParseLimits(config.limits.max_bytes, config.limits.max_depth)
        self.registry = schema_registry(config)
        self.trust = trust_store(config)
        self.signer = hub_signer(config)
        self.departments = frozenset(config.departments)
        self.blob_threshold = config.blobs.threshold
        self.inline_adapters = inline_adapters
        # who published a submission is checked on a broker only (embedded: the store's file)
        self.check_publisher = config.security.check_publisher and not config.embedded
        self.trusted_publishers = frozenset(
            config.broker_users | set(config.security.trusted_publishers)
        )

    def receipt_goes_to(self, participant: str | None) -> bool:
        """Receipts go to senders that have an inbox here (the configured departments)."""
        return has_inbox_here(participant, self.departments)

    def publisher_problem(self, publisher: str | None, sender: str) -> tuple[str, str] | None:
        """Why the broker user that published a submission may not submit for ``sender``
        (code, reason), or None. The hub's own users submit for anyone (the API, adapters)."""
        if not self.check_publisher or publisher in self.trusted_publishers:
            return None
        if publisher is None:
            return (
                "publisher_unknown",
                "the submission carries no AMQP user_id: publish with user_id set to your "
                "broker user (your participant id)",
            )
        if publisher != sender:
            return (
                "publisher_mismatch",
                f"broker user {publisher!r} published an envelope whose Sender is {sender!r}: "
                "a participant submits only its own envelopes",
            )
        return None

    def process(
        self,
        body: bytes,
        rules: RuleSet,
        now: dt.datetime | None = None,
        publisher: str | None = None,
    ) -> Processed:
        """Decide one submission; ``publisher`` is its AMQP user_id (the broker checked it)."""
        now = now or dt.datetime.now(dt.UTC)
        timings: dict[str, float] = {}
        mark = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal mark
            t = time.perf_counter()
            timings[stage] = t - mark
            mark = t

        root: etree._Element | None = None
        try:
            root = parse_xml(body, self.limits)
            lap("parse")
            self.registry.validate_envelope(root)
            lap("validate")
            verified = verify_sender(root, self.trust, now, wrapper=self.hub_id)
            lap("verify")
        except EnvelopeError as exc:
            result = self._rejection(body, root, exc.code, exc.problems, rules)
            result.timings = timings
            return result
        envelope = verified.envelope
        result = self._accepted_facts(body, envelope, rules, verified.content_sha256)
        result.signer = verified.signer_id
        header = envelope.header
        refused = self.publisher_problem(publisher, header.sender)
        if refused is not None:
            result.state = State.REJECTED
            result.code, reason = refused
            result.reasons = [reason]
            self._receipt(result, State.REJECTED, [refused])
            result.timings = timings
            return result
        problem = rules.check_certificate(verified.signer_id, verified.certificate)
        if problem is not None:  # a trusted CA issued it, but it is not the declared one
            result.state = State.REJECTED
            result.code = "certificate_not_registered"
            result.reasons = [problem]
            self._receipt(result, State.REJECTED, [(result.code, problem)])
            result.timings = timings
            return result
        result.card = envelope.card
        if header.message_type == NOTICE_TYPE:
            result.notice = read_notice(envelope.payload)
        decision = rules.route(header, envelope.payload)
        lap("route")
        result.rule = decision.rule
        kept = (  # a notice to a sender without an inbox or a route: the hub keeps it
            result.notice is not None
            and not decision.rejected
            and not decision.destinations
            and decision.code in (None, "no_route")
        )
        if (decision.rejected or not decision.destinations) and not kept:
            result.state = State.REJECTED
            result.code = decision.code or ("route_rejected" if decision.rule else "no_route")
            result.reasons = [decision.rejection or "no destination"]
            self._receipt(result, State.REJECTED, [(result.code, result.reasons[0])])
            result.timings = timings
            return result
        expires_at = header.expires_at
        ttl = decision.settings.ttl if decision.settings is not None else None
        if expires_at is None and ttl:
            expires_at = header.created + dt.timedelta(seconds=float(ttl))
            result.expires_at = expires_at.isoformat()
        if expires_at is not None and expires_at <= now:
            result.state = State.EXPIRED
            result.code = "expired"
            result.reasons = [f"Envelope/Content/Header/ExpiresAt: {expires_at} has passed"]
            self._receipt(result, State.EXPIRED, [("expired", result.reasons[0])])
            result.timings = timings
            return result
        body_out, root_out = self._by_reference(body, root, envelope, result)
        for destination in decision.destinations:
            countersigned = self.signer.countersigned(
                body_out,
                root_out,
                received=now,
                adapter=destination.adapter,
                address=destination.address,
                rules_version=rules.version,
                recipient=decision.recipient,
                content_sha256=verified.content_sha256,
            )
            settings = decision.settings_for(destination).as_dict()
            result.outgoing.append(
                Outgoing(
                    destination.adapter,
                    destination.address,
                    countersigned,
                    recipient=decision.recipient,
                    settings={k: str(v) for k, v in settings.items()},
                )
            )
        state = receipt_at_ingest(State.ACCEPTED, decision.destinations, self.inline_adapters)
        self._receipt(result, state, [])
        lap("sign")
        result.timings = timings
        return result

    def _by_reference(
        self, body: bytes, root: etree._Element, envelope: Envelope, result: Processed
    ) -> tuple[bytes, etree._Element]:
        """The document to countersign: inline attachments above ``[blobs] threshold`` become
        references (the ingest keeps their content as the sender's blobs), so that what goes
        to the queues stays small. AttachmentData is outside every signature: the sender's
        still verifies."""
        big = [a for a in envelope.attachments if a.ref.size > self.blob_threshold]
        if not big:
            return body, root
        copied = copy.deepcopy(root)
        chosen = {a.ref.id: a for a in big}
        for item in copied.iterfind(f"{q('AttachmentData')}/{q('Data')}"):
            attachment = chosen.get(item.get("Ref", ""))
            if attachment is not None:
                reference = etree.Element(
                    q("Reference"), Ref=attachment.ref.id, Uri=blob_uri(attachment.ref.sha256)
                )
                reference.tail = item.tail
                item.getparent().replace(item, reference)  # type: ignore[union-attr]
        result.blobs += [(a.ref.id, a.ref.sha256.hex(), a.ref.size) for a in big]
        result.externalised = [a.ref.id for a in big]
        return to_bytes(copied), copied

    def _accepted_facts(
        self, body: bytes, envelope: Envelope, rules: RuleSet, digest: bytes | None
    ) -> Processed:
        header = envelope.header
        assert envelope.root is not None
        content = envelope.root.find(q("Content"))
        assert content is not None
        return Processed(
            message_id=str(header.message_id),
            state=State.ACCEPTED,
            envelope=body,
            sender=header.sender,
            recipient=header.recipient,
            message_type=header.message_type,
            kind=header.kind.value,
            correlation_id=str(header.correlation_id) if header.correlation_id else None,
            conversation_id=str(header.conversation_id) if header.conversation_id else None,
            expires_at=header.expires_at.isoformat() if header.expires_at else None,
            priority=header.priority,
            digest=(digest or content_digest(content)).hex(),
            rules_version=rules.version,
            blobs=[(r.ref.id, r.digest_hex, r.ref.size) for r in envelope.references],
        )

    def _rejection(
        self,
        body: bytes,
        root: etree._Element | None,
        code: str,
        problems: list[str],
        rules: RuleSet,
    ) -> Processed:
        """Best-effort facts from an envelope we refuse: its claimed id and sender, if readable."""
        claimed = claimed_header(root) if root is not None else {}
        message_id = claimed.get("MessageId", "")
        sender = claimed.get("Sender")
        recipient = claimed.get("Recipient")
        message_type = claimed.get("MessageType")
        kind = claimed.get("Kind")
        if not is_message_id(message_id):
            message_id = unparsed_id(body)
        if not is_participant(sender):
            sender = None
        result = Processed(
            message_id=message_id,
            state=State.REJECTED,
            envelope=body,
            code=code,
            reasons=list(problems),
            sender=sender,
            recipient=recipient,
            message_type=message_type,
            kind=kind if kind in {k.value for k in Kind} else None,
            digest=hashlib.sha256(body).hexdigest(),
            rules_version=rules.version,
        )
        self._receipt(result, State.REJECTED, [(code, p) for p in problems])
        return result

    def _receipt(self, result: Processed, state: str, reasons: list[tuple[str, str]]) -> None:
        if not self.receipt_goes_to(result.sender):
            return
        assert result.sender is not None
        content = receipt_content(
            self.hub_id,
            result.sender,
            result.message_id,
            str(state),
            digest=bytes.fromhex(result.digest) if result.digest else None,
            destinations=result.destinations,
            reasons=reasons,
            correlates=not result.message_id.startswith("unparsed-"),
        )
        result.receipt = self.signer.sign_canonical(content)
        result.receipt_state = str(state)

    def sign_receipt(
        self,
        recipient: str,
        message_id: str,
        state: str,
        digest: str | None,
        destinations: list[Destination],
        reasons: list[tuple[str, str]],
    ) -> bytes | None:
        """A signed receipt for a later event (delivered, failed, conflict...)."""
        if not self.receipt_goes_to(recipient):
            return None
        content = receipt_content(
            self.hub_id,
            recipient,
            message_id,
            state,
            digest=bytes.fromhex(digest) if digest else None,
            destinations=destinations,
            reasons=reasons,
        )
        return self.signer.sign_canonical(content)

    def sign_envelope(self, xml: bytes) -> bytes:
        root = parse_xml(xml, self.limits)
        self.signer.sign(root)
        return to_bytes(root)


# ---------------------------------------------------------------- worker-process entry points
_WORKER: Processor | None = None


def init_worker(config: HubConfig, inline_adapters: frozenset[str]) -> None:
    global _WORKER
    _WORKER = Processor(config, inline_adapters)


def worker() -> Processor:
    assert _WORKER is not None, "worker process not initialised"
    return _WORKER


def ready() -> int:
    """Forces a worker to start and load its state; says which process answered."""
    import os
    import time

    assert worker() is not None
    time.sleep(0.05)  # long enough that concurrent calls land on different workers
    return os.getpid()


def process_batch(
    bodies: list[bytes], rules: RuleSet, publishers: list[str | None] | None = None
) -> list[Processed]:
    """Results without their envelopes: the caller has the bodies, so they need not travel
    back through the pipe (CryptoPool.process puts them back)."""
    processor = worker()
    now = dt.datetime.now(dt.UTC)
    who = publishers or [None] * len(bodies)
    results = [
        processor.process(body, rules, now, publisher)
        for body, publisher in zip(bodies, who, strict=True)
    ]
    for result in results:
        result.envelope = b""
    return results


def sign_receipt(
    recipient: str,
    message_id: str,
    state: str,
    digest: str | None,
    destinations: list[Destination],
    reasons: list[tuple[str, str]],
) -> bytes | None:
    return worker().sign_receipt(recipient, message_id, state, digest, destinations, reasons)


def sign_envelope(xml: bytes) -> bytes:
    return worker().sign_envelope(xml)
