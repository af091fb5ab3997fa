"""The archive, as people use it (docs/archive.md): sign a tree head, prove an entry or the
consistency of two heads, export a bundle, audit the store against the signed heads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from envelopes.pki import load_certificate, load_certificates, load_private_key
from hub.archive import entries
from hub.archive.bundle import BundleWriter
from hub.archive.heads import HeadError, SignedHead, now_at, verify_head
from hub.archive.merkle import (
    Frontier,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from hub.config import HubConfig
from hub.errors import HubError
from hub.ops.connection import opened_store
from hub.store import Store
from hub.store.bundle_spool import SqliteSpool

CHUNK = 2000
# entries whose row a later entry may legitimately replace (the last one must match)
REPLACEABLE = (entries.ENVELOPE, entries.RULES)


class ArchiveError(HubError):
    """An archive request that cannot be answered (no such entry, head or size)."""


async def sign_now(store: Store, config: HubConfig) -> SignedHead:
    """A head over the whole log as it is now, signed with the hub's key (the latest one
    again when nothing was appended since)."""
    key = load_private_key(config.path(config.pki.key))
    return await store.sign_head(key, now_at())


def head_json(head: SignedHead) -> dict[str, Any]:
    return head.as_json()


async def inclusion(
    store: Store, ident: str, size: int | None = None, config: HubConfig | None = None
) -> dict[str, Any]:
    """Proofs of an entry (by its number) or of every entry of a message (by its id) under a
    signed head (the latest, or the one of ``size``)."""
    if size is None and config is not None:
        await store.archive_integrate()  # its leaves may be pending still
    if ident.isdigit():
        leaves = await store.archive_leaves(int(ident), int(ident) + 1)
    else:
        leaves = await store.archive_leaves_of([ident])
    head = await store.head(size)
    uncovered = head is None or any(leaf.idx >= head.size for leaf in leaves)
    if size is None and config is not None and leaves and uncovered:
        head = await sign_now(store, config)  # a fresh head that covers them
    if head is None:
        raise ArchiveError(f"no signed tree head{f' of size {size}' if size else ''} yet")
    leaves = [leaf for leaf in leaves if leaf.idx < head.size]
    if not leaves:
        raise ArchiveError(f"{ident}: no entry under the signed tree head of {head.size}")
    sources = await store.archive_sources(leaves, bodies=False)
    proofs = []
    for source in sources:
        leaf, path = await store.archive_inclusion(source.leaf.idx, head.size)
        verify_inclusion(leaf.hash, leaf.idx, head.size, path, head.root)
        proofs.append(
            {
                "index": leaf.idx,
                "kind": leaf.kind,
                "entry": source.data.decode() if source.data is not None else None,
                "leaf": leaf.hash.hex(),
                "path": [p.hex() for p in path],
            }
        )
    return {"head": head.as_json(), "proofs": proofs}


async def consistency(store: Store, old: int, new: int) -> dict[str, Any]:
    """The proof that the signed head of ``old`` entries is a prefix of that of ``new``."""
    heads = {}
    for size in (old, new):
        found = await store.head(size)
        if found is None:
            raise ArchiveError(f"no signed tree head of size {size}")
        heads[size] = found
    if old > new:
        raise ArchiveError(f"the old head ({old}) is larger than the new one ({new})")
    proof = await store.archive_consistency(old, new) if old else []
    if old:
        verify_consistency(old, new, heads[old].root, heads[new].root, proof)
    return {
        "old": heads[old].as_json(),
        "new": heads[new].as_json(),
        "proof": [p.hex() for p in proof],
    }


# ---------------------------------------------------------------------------- export
@dataclass
class Exported:
    path: Path
    head: SignedHead
    entries: int
    messages: int


async def export(
    store: Store,
    config: HubConfig,
    out: Path,
    since: str | None = None,
    until: str | None = None,
    message_ids: list[str] | None = None,
) -> Exported:
    """A bundle of the entries in [since, until) or of the messages named, every entry proven
    under one signed head (a fresh one when the latest does not cover them)."""
    head = await sign_now(store, config)
    writer = BundleWriter(out, head.size, SqliteSpool())
    try:
        if message_ids:
            batches = [await store.archive_leaves_of(list(dict.fromkeys(message_ids)))]
        else:
            batches = _between(store, since, until)
        async for leaves in _aiter(batches):
            leaves = [leaf for leaf in leaves if leaf.idx < head.size]
            gaps: list[tuple[int, int]] = []
            last = writer.last
            for leaf in leaves:  # the proof's nodes for the ranges between the entries
                gaps.append((last + 1, leaf.idx))
                last = leaf.idx
            writer.nodes(await store.archive_cover(gaps, head.size))
            for source in await store.archive_sources(leaves):
                if source.data is None or leaf_hash(source.data) != source.leaf.hash:
                    raise ArchiveError(
                        f"entry {source.leaf.idx} ({source.leaf.kind} {source.leaf.ref}) no "
                        "longer matches its leaf: run `hub archive audit`"
                    )
                writer.add(source)
        writer.nodes(await store.archive_cover([writer.gap(head.size)], head.size))
        writer.finish(head, _chain(config))
    except BaseException:
        _discard(writer, out)
        raise
    return Exported(out, head, writer.count, writer.messages)


def _discard(writer: BundleWriter, out: Path) -> None:
    """A bundle that could not be finished is not left half-written."""
    writer.abandon()
    out.unlink(missing_ok=True)


async def _aiter(batches: Any) -> Any:
    if isinstance(batches, list):
        for batch in batches:
            yield batch
    else:
        async for batch in batches:
            yield batch


async def _between(store: Store, since: str | None, until: str | None) -> Any:
    span = await store.archive_span(since, until)
    if span is None:
        return
    low, high = since or "", until or "\uffff"
    for start in range(span[0], span[1] + 1, CHUNK):
        leaves = await store.archive_leaves(start, min(span[1] + 1, start + CHUNK))
        yield [leaf for leaf in leaves if low <= leaf.at < high]


def _chain(config: HubConfig) -> bytes:
    certs = load_certificates(config.path(config.pki.cert))
    for trust in getattr(config.pki, "trust", []):
        certs += load_certificates(config.path(Path(trust)))
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


# ---------------------------------------------------------------------------- audit
@dataclass
class AuditReport:
    size: int
    heads: int
    findings: list[str] = field(default_factory=list)  # tampering, each named
    notes: list[str] = field(default_factory=list)  # what is as it should be but worth saying
    replaced: list[tuple[int, tuple[str, str], str]] = field(default_factory=list, repr=False)

    @property
    def clean(self) -> bool:
        return not self.findings


async def audit(store: Store, config: HubConfig) -> AuditReport:
    """Recompute every leaf, pending ones too, from the rows it stands for and every signed
    root from the leaves; name what differs: a changed, deleted, inserted or reordered row, a
    replaced head, a row no leaf stands for."""
    cert = load_certificate(config.path(config.pki.cert))
    size = await store.archive_size()
    heads = await store.heads()
    report = AuditReport(size, len(heads))
    good_heads: dict[int, SignedHead] = {}
    for head in heads:
        try:
            verify_head(head, cert)
        except HeadError as exc:
            report.findings.append(f"{exc} (the head was replaced or altered)")
            continue
        if head.size > size:
            report.findings.append(f"tree head {head.size}: larger than the log ({size})")
            continue
        good_heads[head.size] = head
    frontier = Frontier()
    latest: dict[tuple[str, str], int] = {}
    logged = {table: _Bits() for table in set(_TABLES.values())}
    for start in range(0, size, CHUNK):
        leaves = await store.archive_leaves(start, min(size, start + CHUNK))
        numbers = [leaf.idx for leaf in leaves]
        expected = list(range(start, min(size, start + CHUNK)))
        if numbers != expected:
            missing = sorted(set(expected) - set(numbers))
            report.findings.append(f"log entries {_ranges(missing)}: their leaf rows are deleted")
            return report
        by_hash = {leaf.hash: leaf for leaf in leaves}
        for source in await store.archive_sources(leaves, bodies=True):
            leaf = source.leaf
            frontier.add(leaf.hash)
            if frontier.size in good_heads:
                head = good_heads[frontier.size]
                if frontier.root() != head.root:
                    report.findings.append(
                        f"tree head {head.size}: the log's leaves no longer lead to its signed "
                        f"root (a leaf before entry {head.size} was changed, deleted or reordered)"
                    )
            name = f"entry {leaf.idx} ({_describe(leaf)})"
            _check_source(source, name, leaf.idx, by_hash, latest, logged, report)
    pending = await store.archive_pending()
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start : start + CHUNK]
        by_hash = {leaf.hash: leaf for leaf in chunk}
        for offset, source in enumerate(await store.archive_sources(chunk, bodies=True)):
            name = f"pending entry {source.leaf.idx} ({_describe(source.leaf)})"
            _check_source(source, name, size + start + offset, by_hash, latest, logged, report)
    for idx, key, name in report.replaced:
        if latest.get(key, idx) > idx:  # a corrected resubmission, a rules version re-applied
            report.notes.append(f"{name}: superseded by entry {latest[key]}")
        else:
            report.findings.append(f"{name}: its row was changed after it was logged")
    await _unlogged_rows(store, size, logged, report)
    tail = size - max(good_heads, default=0)
    if tail:
        report.notes.append(f"entries {size - tail}..{size - 1} are not yet under a signed head")
    if pending:
        report.notes.append(f"{len(pending)} entries are pending (written, not yet numbered)")
    if size and good_heads:
        nodes_root = await store.archive_root(max(good_heads))
        if nodes_root != good_heads[max(good_heads)].root:
            report.findings.append("the stored subtree nodes disagree with the signed root")
    return report


# the table each kind's rows are numbered in: every row of it after the log's start must be
# some leaf's (or pending leaf's), or it was written behind the hub's back
_TABLES = {
    entries.EVENT: "events",
    entries.ADMIN: "audit_log",
    entries.RECEIPT: "archive_emitted",
    entries.NOTICE: "archive_emitted",
}


class _Bits:
    """Row ids seen, one bit each (10,000,000 timeline rows: 1.25 MB)."""

    def __init__(self) -> None:
        self.bits = bytearray()

    def add(self, n: int) -> None:
        if n < 0:
            return
        if n >> 3 >= len(self.bits):
            self.bits.extend(bytes((n >> 3) - len(self.bits) + 1 + len(self.bits) // 2))
        self.bits[n >> 3] |= 1 << (n & 7)

    def __contains__(self, n: int) -> bool:
        return 0 <= n >> 3 < len(self.bits) and bool(self.bits[n >> 3] & (1 << (n & 7)))


async def _unlogged_rows(
    store: Store, size: int, logged: dict[str, _Bits], report: AuditReport
) -> None:
    """Rows of the timeline, the audit log and the sent receipts that no leaf stands for:
    written behind the hub's back, or their pending leaf was deleted before it was numbered."""
    events_from, audit_from = await store.archive_start()
    missing: list[tuple[str, int]] = []
    for kind, after in ((entries.EVENT, events_from), (entries.ADMIN, audit_from),
                        (entries.RECEIPT, 0)):  # fmt: skip
        table = _TABLES[kind]
        while True:
            ids = await store.archive_rows(kind, after, 10_000)
            missing += [(table, row) for row in ids if row not in logged[table]]
            if len(ids) < 10_000:
                break
            after = ids[-1]
    if missing:  # rows a running hub wrote while the audit read: their entries are there now
        now = await store.archive_size()
        for start in range(size, now, CHUNK):
            _mark(await store.archive_leaves(start, min(now, start + CHUNK)), logged)
        _mark(await store.archive_pending(), logged)
    for table, row in missing:
        if row not in logged[table]:
            report.findings.append(
                f"{table} row {row}: inserted, not in the log (written behind the hub's back, "
                "or its pending leaf was deleted)"
            )


def _mark(leaves: list[entries.Leaf], logged: dict[str, _Bits]) -> None:
    for leaf in leaves:
        if leaf.kind in _TABLES and leaf.ref.isdigit():
            logged[_TABLES[leaf.kind]].add(int(leaf.ref))


def _check_source(
    source: entries.Source, name: str, order: int, by_hash: dict[bytes, entries.Leaf],
    latest: dict[tuple[str, str], int], logged: dict[str, _Bits], report: AuditReport,
) -> None:  # fmt: skip
    leaf = source.leaf
    if leaf.kind in _TABLES and leaf.ref.isdigit():
        logged[_TABLES[leaf.kind]].add(int(leaf.ref))
    if source.data is None:
        if source.removed:  # by a retention run on record: its leaf still proves it was there
            report.notes.append(f"{name}: {source.note}")
        else:
            report.findings.append(f"{name}: {source.note or 'its row is deleted'}")
        return
    recomputed = leaf_hash(source.data)
    if recomputed != leaf.hash:
        other = _moved_from(source, by_hash)
        if other is not None:
            report.findings.append(
                f"{name}: its row now holds what entry {other.idx} ({_describe(other)}) "
                "logged — rows reordered"
            )
        elif leaf.kind in REPLACEABLE:
            report.replaced.append((order, (leaf.kind, leaf.ref), name))
        else:
            report.findings.append(f"{name}: its row was changed after it was logged")
    if source.note:
        report.notes.append(f"{name}: {source.note}")
    if leaf.kind in REPLACEABLE:
        latest[(leaf.kind, leaf.ref)] = order


def _moved_from(source: entries.Source, by_hash: dict[bytes, entries.Leaf]) -> entries.Leaf | None:
    """The leaf whose logged entry this row now holds, but for its own id (rows whose contents
    were swapped or moved), if any."""
    if source.leaf.kind not in (entries.EVENT, entries.ADMIN) or source.data is None:
        return None
    fields = entries.parse(source.data)
    for other in by_hash.values():
        if other.kind == source.leaf.kind and other.idx != source.leaf.idx:
            moved = dict(fields, id=int(other.ref))
            if leaf_hash(entries.canonical(moved)) == other.hash:
                return other
    return None


def _describe(leaf: entries.Leaf) -> str:
    if leaf.kind == entries.ENVELOPE:
        return f"envelope of message {leaf.message_id}"
    if leaf.kind == entries.EVENT:
        return f"event {leaf.ref} of message {leaf.message_id}"
    if leaf.kind == entries.ADMIN:
        return f"administrator action {leaf.ref}"
    if leaf.kind in entries.EMITTED:
        return f"{leaf.kind} {leaf.ref} about message {leaf.message_id}"
    return f"{leaf.kind} {leaf.ref}"


def _ranges(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:10]) + (" …" if len(numbers) > 10 else "")


# ---------------------------------------------------------------------------- from the CLI
async def sign_command(config: HubConfig) -> SignedHead:
    async with opened_store(config) as store:
        return await sign_now(store, config)


async def heads_command(config: HubConfig) -> list[SignedHead]:
    async with opened_store(config) as store:
        return await store.heads()


async def proof_command(config: HubConfig, ident: str, size: int | None) -> dict[str, Any]:
    async with opened_store(config) as store:
        return await inclusion(store, ident, size, config)


async def consistency_command(config: HubConfig, old: int, new: int) -> dict[str, Any]:
    async with opened_store(config) as store:
        return await consistency(store, old, new)


async def export_command(
    config: HubConfig, out: Path, since: str | None, until: str | None, ids: list[str]
) -> Exported:
    async with opened_store(config) as store:
        return await export(store, config, out, since, until, ids or None)


async def audit_command(config: HubConfig) -> AuditReport:
    async with opened_store(config) as store:
        return await audit(store, config)


__all__ = ["ArchiveError", "ProofError", "audit", "consistency", "export", "inclusion"]
