"""Signed receipts: how the hub tells a sender what became of its envelope.

A receipt is an ordinary envelope (Kind ``receipt``, from the hub, CorrelationId = the envelope
it is about) whose payload names the state, the reasons and the digest of the acknowledged
envelope's signed content. Its MessageId is derived from the original id and the state, so a
receipt sent twice (after a crash) is the same receipt.

Which receipt, when (the one place that decides it):

- at ingest, the worker signs the receipt a decision earns (``receipt_at_ingest``): ``rejected``
  or ``expired`` as decided; ``delivered`` when every destination is inline (they are delivered
  in the same step), else ``accepted``;
- after the inline deliveries, ``receipt_after_dispatch`` says whether that signed receipt goes
  out as it is, or (a ``delivered`` that not every destination met) an ``accepted`` instead;
- later, each queued destination earns its own ``delivered``, ``failed`` or ``expired``.

The builders are pure (the worker processes sign receipts with them); ``ReceiptSender`` puts a
signed receipt into the sender's inbox.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence

from lxml import etree

from envelopes import xmldsig
from envelopes.codec import CONTENT_ID, ENVELOPE_NS, build_envelope
from envelopes.model import Header, Kind
from hub.abc import Destination, Observer, Transport
from hub.archive.entries import RECEIPT, signed_id
from hub.queues import inbox_queue

RECEIPT_NS = "urn:interagency-hub:receipt:1.0"
RECEIPT_TYPE = "{" + RECEIPT_NS + "}Receipt"
_R = "{" + RECEIPT_NS + "}"
_RECEIPT_IDS = uuid.UUID("6b1f9a52-3d4e-4c1b-9a57-1f0e2d3c4b5a")


def receipt_at_ingest(
    decided: str, destinations: Sequence[Destination], inline: frozenset[str]
) -> str:
    """The receipt a decision earns at ingest (signed ahead of the deliveries)."""
    if decided != "accepted":
        return decided
    if not destinations:  # kept by the hub (a notice to a sender it cannot reach)
        return "accepted"
    return "delivered" if all(d.adapter in inline for d in destinations) else "accepted"


def receipt_after_dispatch(signed: str, destinations: int, delivered: int) -> str:
    """What goes out once the inline deliveries are done: the signed receipt's state, unless
    it said ``delivered`` and some destination is not there yet (then ``accepted``)."""
    return "accepted" if signed == "delivered" and delivered != destinations else signed


def receipt_id(message_id: str, state: str, discriminator: str = "") -> uuid.UUID:
    """Stable per (message, state): a receipt sent twice is the same receipt. Notes (several
    per message, e.g. SMEV business statuses) are told apart by their content."""
    return uuid.uuid5(_RECEIPT_IDS, f"{message_id}/{state}/{discriminator}".rstrip("/"))


def _discriminator(
    state: str,
    destinations: Sequence[Destination],
    reasons: Sequence[tuple[str, str]],
    digest: bytes | None = None,
) -> str:
    """What tells two receipts of the same state about the same message apart."""
    if state == "note":  # several business statuses per message
        return "|".join(f"{c}:{t}" for c, t in reasons)
    if state in ("delivered", "failed", "expired") and len(destinations) == 1:
        return str(destinations[0])  # fan-out: one per destination
    if state == "rejected" and reasons and reasons[0][0] == "conflict":
        return "conflict"  # a conflicting resubmission, not the first rejection
    if state == "rejected" and digest:  # a corrected resubmission may be refused again
        return digest.hex()[:16]
    return ""


def _ids(
    message_id: str,
    state: str,
    destinations: Sequence[Destination],
    reasons: Sequence[tuple[str, str]],
    digest: bytes | None,
    correlates: bool,
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """The receipt's own MessageId, and its CorrelationId (the envelope's id, if it is one)."""
    receipt = receipt_id(message_id, state, _discriminator(state, destinations, reasons, digest))
    try:
        return receipt, uuid.UUID(message_id) if correlates else None
    except ValueError:
        return receipt, None


def receipt_payload(
    message_id: str,
    state: str,
    at: dt.datetime,
    *,
    digest: bytes | None = None,
    destinations: Sequence[Destination] = (),
    reasons: Sequence[tuple[str, str]] = (),
) -> etree._Element:
    root = etree.Element(_R + "Receipt", nsmap={"r": RECEIPT_NS})
    etree.SubElement(root, _R + "MessageId").text = message_id
    etree.SubElement(root, _R + "State").text = state
    etree.SubElement(root, _R + "At").text = at.isoformat()
    if digest is not None:
        etree.SubElement(root, _R + "EnvelopeSha256").text = base64.b64encode(digest).decode()
    for destination in destinations:
        etree.SubElement(
            root, _R + "Destination", Adapter=destination.adapter, Address=destination.address
        )
    for code, text in reasons:
        etree.SubElement(root, _R + "Reason", Code=code).text = text
    return root


def receipt_envelope(
    hub_id: str,
    recipient: str,
    message_id: str,
    state: str,
    *,
    digest: bytes | None = None,
    destinations: Sequence[Destination] = (),
    reasons: Sequence[tuple[str, str]] = (),
    correlates: bool = True,
    at: dt.datetime | None = None,
) -> etree._Element:
    """An unsigned receipt envelope from the hub to ``recipient`` about ``message_id``."""
    at = at or dt.datetime.now(dt.UTC)
    receipt, correlation = _ids(message_id, state, destinations, reasons, digest, correlates)
    header = Header(
        message_id=receipt,
        sender=hub_id,
        recipient=recipient,
        message_type=RECEIPT_TYPE,
        kind=Kind.RECEIPT,
        created=at,
        correlation_id=correlation,
    )
    payload = receipt_payload(
        message_id, state, at, digest=digest, destinations=destinations, reasons=reasons
    )
    return build_envelope(header, payload)


def receipt_content(
    hub_id: str,
    recipient: str,
    message_id: str,
    state: str,
    *,
    digest: bytes | None = None,
    destinations: Sequence[Destination] = (),
    reasons: Sequence[tuple[str, str]] = (),
    correlates: bool = True,
    at: dt.datetime | None = None,
) -> bytes:
    """The receipt's Content in exclusive canonical form, written as text.

    The same document ``receipt_envelope`` builds as a tree (a test holds the two equal), at a
    fraction of the cost: the hub writes one receipt per message. ``Signer.sign_canonical``
    wraps and signs it.
    """
    at = at or dt.datetime.now(dt.UTC)
    receipt, correlation = _ids(message_id, state, destinations, reasons, digest, correlates)
    stamp = at.isoformat()
    head = [
        ("MessageId", str(receipt)),
        ("Sender", hub_id),
        ("Recipient", recipient),
        ("MessageType", RECEIPT_TYPE),
        ("Kind", Kind.RECEIPT.value),
        ("Created", stamp),
    ]
    if correlation is not None:
        head.append(("CorrelationId", str(correlation)))
    parts = [f'<hub:Content xmlns:hub="{ENVELOPE_NS}" Id="{CONTENT_ID}"><hub:Header>']
    parts += [f"<hub:{name}>{_text(value)}</hub:{name}>" for name, value in head]
    parts.append(
        f'</hub:Header><hub:Payload><r:Receipt xmlns:r="{RECEIPT_NS}">'
        f"<r:MessageId>{_text(message_id)}</r:MessageId><r:State>{_text(state)}</r:State>"
        f"<r:At>{stamp}</r:At>"
    )
    if digest is not None:
        parts.append(f"<r:EnvelopeSha256>{base64.b64encode(digest).decode()}</r:EnvelopeSha256>")
    for destination in destinations:
        parts.append(
            f'<r:Destination Adapter="{_attr(destination.adapter)}" '
            f'Address="{_attr(destination.address)}"></r:Destination>'
        )
    for code, text in reasons:
        parts.append(f'<r:Reason Code="{_attr(code)}">{_text(text)}</r:Reason>')
    parts.append("</r:Receipt></hub:Payload></hub:Content>")
    return "".join(parts).encode()


# Characters XML 1.0 cannot carry at all (a reason may quote anything): replaced, not refused.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return xmldsig.escape_text(_NOT_XML.sub("\ufffd", value))


def _attr(value: str) -> str:
    return xmldsig.escape_attribute(_NOT_XML.sub("\ufffd", value))


def read_receipt(payload: etree._Element) -> dict[str, object]:
    """A receipt payload as plain data (for ``hub inbox`` and tests)."""
    return {
        "message_id": payload.findtext(_R + "MessageId"),
        "state": payload.findtext(_R + "State"),
        "at": payload.findtext(_R + "At"),
        "reasons": [(r.get("Code"), r.text) for r in payload.iterfind(_R + "Reason")],
        "destinations": [
            (d.get("Adapter"), d.get("Address")) for d in payload.iterfind(_R + "Destination")
        ],
    }


# Store.archive_emitted: (kind, its MessageId, the message it is about, to, state, bytes)
Record = Callable[[str, str, str, str, str, bytes], Awaitable[None]]
SignReceipt = Callable[
    [str, str, str, "str | None", list[Destination], list[tuple[str, str]]],
    Awaitable["bytes | None"],
]


class ReceiptSender:
    """Signs (through ``sign``, in the worker pool) and publishes receipts to senders' inboxes."""

    def __init__(
        self,
        hub_id: str,
        transport: Transport,
        sign: SignReceipt,
        observer: Observer,
        record: Record | None = None,
    ) -> None:
        self.hub_id = hub_id
        self.transport = transport
        self._sign = sign
        self._observer = observer
        self._record = record  # the archive's: each receipt's digest, as it goes out

    async def send(
        self,
        recipient: str,
        message_id: str,
        state: str,
        digest: str | None,
        destinations: list[Destination],
        reasons: list[tuple[str, str]],
    ) -> None:
        """Sign and send a receipt (nothing if the recipient has no inbox here)."""
        body = await self._sign(recipient, message_id, str(state), digest, destinations, reasons)
        if body is None:
            return
        receipt = signed_id(body)
        if self._record is not None:  # on record before it leaves: no receipt goes unlogged
            await self._record(RECEIPT, receipt, message_id, recipient, str(state), body)
        await self.publish(recipient, body, str(state))

    async def publish(self, recipient: str, body: bytes, state: str) -> None:
        """Send a receipt signed already (and logged: by ``send``, or by the ingest write
        that stored the decision it was signed with)."""
        receipt = signed_id(body)
        await self.transport.publish(
            inbox_queue(recipient),
            body,
            {
                "message-id": receipt,
                "sender": self.hub_id,
                "kind": "receipt",
                "receipt-state": state,
            },
        )
        self._observer.receipt_sent(state)
