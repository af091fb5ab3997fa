"""Hub envelopes and SMEV messages, one made from the other; the adapter decides when.

- Out: :func:`read_envelope` takes from a hub envelope what a SendRequest/SendResponse carries
  (header, payload, attachments).
- In: :func:`incoming_envelope` builds the hub envelope an agency's request or answer becomes.
  Its id (:func:`envelope_id`) and creation time (:func:`created`) come from SMEV's own, so a
  message SMEV delivers twice becomes the same envelope twice.
- Reasons: SMEV's codes as receipt Reason codes (:func:`reason_code`), the hub's reasons as a
  SMEV RejectionReasonCode (:func:`rejection_code`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import re
import uuid
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from adapters.smev.protocol import messages as sm
from envelopes.codec import (
    attachment_refs,
    build_envelope,
    clark_name,
    content_of,
    header_from_content,
    payload_of,
    read_content,
)
from envelopes.model import Attachment, ContentReference, Header, Kind
from envelopes.parsing import parse_xml
from hub.abc import AdapterContext, Outcome

# uuid5 namespace of the envelopes the adapter composes from SMEV messages
_SMEV_IDS = uuid.UUID("3f0c8a1e-5b7d-4e2a-9c61-7d2e8b4f1a90")
NIL_ID = str(uuid.UUID(int=0))  # references that belong to no hub message
_ATTACHMENT_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_REASON_CODE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class HubMessage:
    """What deliver() needs from the envelope it delivers."""

    header: Header
    payload: etree._Element
    attachments: list[sm.Attachment]
    references: list[ContentReference] = field(default_factory=list)  # in the hub's blobs
    files: list[sm.RefAttachment] = field(default_factory=list)  # put on SMEV's file storage


def reason_code(text: str) -> str:
    """A receipt Reason/@Code (an NCName) from SMEV's codes."""
    cleaned = _REASON_CODE.sub("-", text).strip("-.") or "unknown"
    return "smev-" + cleaned


_REJECTION_CODES = {
    "access_denied": "ACCESS_DENIED",
    "route_rejected": "ACCESS_DENIED",
    "certificate_not_registered": "ACCESS_DENIED",
    "no_route": "UNKNOWN_REQUEST_DESCRIPTION",
    "unknown_message_type": "UNKNOWN_REQUEST_DESCRIPTION",
}


def rejection_code(reasons: list[tuple[str, str]]) -> str:
    """SMEV's RejectionReasonCode for the hub's first reason (FAILURE unless one fits)."""
    return _REJECTION_CODES.get(reasons[0][0], "FAILURE") if reasons else "FAILURE"


def read_envelope(body: bytes) -> HubMessage:
    root = parse_xml(body)
    content = content_of(root)
    header = header_from_content(content)
    payload = payload_of(content)
    inline, references = read_content(root, attachment_refs(content))
    attachments = [sm.Attachment(a.ref.id, a.ref.media_type, a.content) for a in inline]
    return HubMessage(header, payload, attachments, references)


def hub_attachments(items: list[sm.Attachment]) -> list[Attachment]:
    result = []
    for index, item in enumerate(items, start=1):
        attachment_id = (
            item.content_id if _ATTACHMENT_ID.match(item.content_id) else f"smev-{index}"
        )
        extension = mimetypes.guess_extension(item.mime_type) or ".bin"
        name = item.content_id if "." in item.content_id else item.content_id + extension
        result.append(
            Attachment.from_bytes(attachment_id, name[:255], item.mime_type, item.content)
        )
    return result


def plain_text(element: etree._Element) -> str:
    return " ".join(" ".join(str(t) for t in element.itertext()).split())


def envelope_id(adapter: str, role: Literal["request", "response"], ack_id: str) -> uuid.UUID:
    """The id of the envelope a SMEV message becomes: the same for every redelivery."""
    return uuid.uuid5(_SMEV_IDS, f"{adapter}:{role}:{ack_id}")


def created(metadata: sm.Metadata, message_id: str) -> dt.datetime:
    """A time that is the same on every redelivery, so the envelope is too."""
    return metadata.sent_at or sm.uuid1_time(message_id) or dt.datetime.now(dt.UTC)


def incoming_envelope(
    incoming: sm.IncomingRequest | sm.IncomingResponse,
    hub_id: uuid.UUID,
    *,
    kind: Kind,
    sender: str,
    recipient: str,
    test: bool,
    correlation_id: uuid.UUID | None = None,
    expires_at: dt.datetime | None = None,
    references: list[ContentReference] | None = None,
) -> etree._Element:
    """The hub envelope (unsigned) an agency's request or answer becomes; ``references``:
    the files fetched from SMEV's file storage into the hub's blobs."""
    content = incoming.content
    assert content is not None
    header = Header(
        message_id=hub_id,
        sender=sender,
        recipient=recipient,
        message_type=clark_name(content),
        kind=kind,
        created=created(incoming.metadata, incoming.message_id),
        correlation_id=correlation_id,
        expires_at=expires_at,
        test=test,
    )
    return build_envelope(
        header, content, hub_attachments(incoming.attachments), references=references
    )


async def fetch_references(hub: HubMessage, context: AdapterContext, limit: int) -> Outcome | None:
    """Attachments by reference (the hub's blobs) join the message's inline ones, up to
    ``limit`` bytes in all; above it, refused for good, naming the sizes (those above
    ``fs_threshold`` went to SMEV's file storage first, if one is configured: ``files.py``).
    None when they are all there."""
    total = sum(r.ref.size for r in hub.references) + sum(len(a.content) for a in hub.attachments)
    if total > limit:
        return Outcome.permanent(
            f"the attachments are {total} bytes in all; SMEV takes at most {limit} "
            "(max_attachments_bytes) inline; larger ones need SMEV's file storage (fs_host)"
        )
    for reference in hub.references:
        try:
            content = b"".join([c async for c in context.read_blob(reference.digest_hex)])
        except NotImplementedError:
            return Outcome.permanent(f"{reference.uri}: this hub keeps no blobs")
        except OSError as exc:
            return Outcome.transient(f"{reference.uri}: {exc!r}")
        if hashlib.sha256(content).digest() != reference.ref.sha256:
            return Outcome.permanent(f"{reference.uri}: the blob is not the signed content")
        hub.attachments.append(sm.Attachment(reference.ref.id, reference.ref.media_type, content))
    hub.references = []
    return None
