"""What one leaf of the log says: an entry's canonical bytes (docs/archive.md, "Entries").

An entry is a JSON object with sorted keys, no whitespace, UTF-8 (not ASCII-escaped); its
values are strings and integers only, so this serialisation is also RFC 8785's (JCS). The leaf
hash is SHA-256(0x00 || those bytes) — computed once, when the entry is appended.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from hub.archive.merkle import leaf_hash

ENVELOPE = "envelope"
EVENT = "event"
ADMIN = "admin"
PRUNE = "prune"
RULES = "rules"
RECEIPT = "receipt"
NOTICE = "notice"
EMITTED = (RECEIPT, NOTICE)  # what the hub signed and sent: kept by digest, not bytes
KINDS = (ENVELOPE, EVENT, ADMIN, PRUNE, RULES, RECEIPT, NOTICE)


def canonical(entry: dict[str, str | int]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Entry:
    """One entry as appended: its kind, the row it stands for, and its canonical bytes."""

    kind: str
    ref: str  # the source row: a message id (envelope), an event or audit id, a prune run
    message_id: str | None
    at: str
    data: bytes

    @property
    def leaf(self) -> bytes:
        return leaf_hash(self.data)


def envelope(message_id: str, at: str, body: bytes) -> Entry:
    """An envelope as stored (accepted or rejected): its bytes' SHA-256 and size."""
    return envelope_digest(message_id, at, hashlib.sha256(body).hexdigest(), len(body))


def envelope_digest(message_id: str, at: str, sha256: str, size: int) -> Entry:
    """The same entry from the digest alone (a body retention removed)."""
    data = canonical(
        {"kind": ENVELOPE, "message_id": message_id, "at": at, "sha256": sha256, "size": size}
    )
    return Entry(ENVELOPE, message_id, message_id, at, data)


def event(event_id: int, message_id: str, state: str, at: str, detail: str) -> Entry:
    """A timeline event (receipts sent, notices applied, deliveries, answers are all events)."""
    data = canonical(
        {
            "kind": EVENT,
            "id": event_id,
            "message_id": message_id,
            "state": state,
            "at": at,
            "detail": detail,
        }
    )
    return Entry(EVENT, str(event_id), message_id, at, data)


def admin(
    audit_id: int, at: str, actor: str, role: str, action: str, target: str, reason: str,
    detail: str,
) -> Entry:  # fmt: skip
    """An administrator's action from the audit log: who, what, on what, and why."""
    data = canonical(
        {
            "kind": ADMIN,
            "id": audit_id,
            "at": at,
            "actor": actor,
            "role": role,
            "action": action,
            "target": target,
            "reason": reason,
            "detail": detail,
        }
    )
    return Entry(ADMIN, str(audit_id), None, at, data)


def rules(version: str, at: str, summary: str) -> Entry:
    """A routing rules version put in force (at start, by a reload): what it says changed."""
    data = canonical({"kind": RULES, "version": version, "at": at, "summary": summary})
    return Entry(RULES, version, None, at, data)


def prune(run: int, at: str, actor: str, reason: str, message_ids: Iterable[str]) -> Entry:
    """A retention run: whose bodies went (the SHA-256 of their sorted ids, one per line)."""
    ids = sorted(message_ids)
    data = canonical(
        {
            "kind": PRUNE,
            "run": run,
            "at": at,
            "actor": actor,
            "reason": reason,
            "count": len(ids),
            "messages_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        }
    )
    return Entry(PRUNE, str(run), None, at, data)


def emitted(
    kind: str, row: int, ref: str, message_id: str, recipient: str, state: str, at: str,
    sha256: str, size: int,
) -> Entry:  # fmt: skip
    """A signed receipt or execution notice the hub sent (``kind``: receipt or notice): its
    row, its own MessageId, what it is about, to whom, the state or stage it reports, and its
    bytes' SHA-256 and size (the bytes went to the recipient's inbox; the hub keeps none)."""
    data = canonical(
        {
            "kind": kind,
            "id": row,
            "ref": ref,
            "message_id": message_id,
            "recipient": recipient,
            "state": state,
            "at": at,
            "sha256": sha256,
            "size": size,
        }
    )
    return Entry(kind, str(row), message_id, at, data)


def signed_id(body: bytes) -> str:
    """The MessageId of an envelope the hub wrote in canonical form (a receipt): the text of
    its first ``hub:MessageId``."""
    return body.split(b"<hub:MessageId>", 1)[-1].split(b"<", 1)[0].decode()


@dataclass(frozen=True)
class Leaf:
    """A leaf as the store keeps it: its number, the row it stands for, its hash."""

    idx: int
    kind: str
    ref: str
    message_id: str | None
    at: str
    hash: bytes


@dataclass(frozen=True)
class Source:
    """A leaf with its entry recomputed from the store's rows now (None: the row is gone) and,
    for an envelope, its bytes (None once retention removed them: ``note`` says so)."""

    leaf: Leaf
    data: bytes | None
    body: bytes | None = None
    note: str = ""
    removed: bool = False  # the row is gone by a retention run the log records (not tampering)


def parse(data: bytes) -> dict[str, str | int]:
    """An entry's fields back (for bundles and the verifier); ValueError if not canonical."""
    value = json.loads(data)
    if not isinstance(value, dict) or canonical(value) != data:
        raise ValueError("not a canonical entry")
    return value
