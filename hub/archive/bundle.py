"""Export bundles and their offline check (docs/archive.md, "Bundles").

A bundle is a ZIP in the ASiC-E layout (``mimetype`` first and stored, ``META-INF/manifest.xml``)
holding the entries, the envelopes' bytes, the timelines, one signed tree head, a batch
inclusion proof of every entry under it and the hub's certificates. ``verify_bundle`` needs
nothing but the bundle and the hub's certificate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from cryptography import x509

from hub.archive import entries
from hub.archive.entries import Source
from hub.archive.heads import HeadError, SignedHead, verify_head
from hub.archive.jsonstream import read_object
from hub.archive.merkle import EMPTY_ROOT, ProofError, leaf_hash, root_from_stream
from hub.archive.spool import Spool, SpoolFactory
from hub.archive.zipstream import Member, ZipError, ZipReader, ZipWriter

FORMAT = "hub-archive-bundle/1"
MIMETYPE = "application/vnd.etsi.asic-e+zip"
HEAD = "archive/head.json"
ENTRIES = "archive/entries.jsonl"
PROOF = "archive/proof.json"
MANIFEST = "archive/manifest.json"
CERTS = "META-INF/hub-certificates.pem"
ODF_MANIFEST = "META-INF/manifest.xml"


class BundleError(ValueError):
    """A bundle that does not verify: the message names the first entry or file at fault."""


def _safe(message_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in message_id)


class BundleWriter:
    """Streams a bundle out in bounded memory: entries as they come (to a temporary file: a
    ZIP takes one member at a time, and envelopes come between), the proof's nodes as each gap
    between entries closes, then the timelines, proof, head and manifests from the spool."""

    def __init__(self, path: Path, size: int, spool: Spool) -> None:
        self.size = size  # of the head every entry is proven under
        self.zip = ZipWriter(path)
        self.zip.add("mimetype", MIMETYPE.encode(), compress=False)
        self.spool = spool
        self.count = 0
        self.pruned: list[str] = []
        self.messages = 0
        self.last = -1  # the last entry's number: the next gap starts after it
        # the entries go last: a ZIP takes one member at a time, and envelopes come between
        self._entries: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish)
        self._digest = hashlib.sha256()

    def gap(self, upto: int) -> tuple[int, int]:
        """The range between the last entry added and entry ``upto`` (the head's size at the
        end): its nodes go in the proof (``nodes``)."""
        return self.last + 1, upto

    def nodes(self, found: Iterable[tuple[int, int, bytes]]) -> None:
        for start, end, value in found:
            self.spool.node(start, end, value)

    def add(self, source: Source) -> None:
        """The next entry, in log order (after the gap before it is closed)."""
        assert source.data is not None
        leaf = source.leaf
        if leaf.idx <= self.last:
            raise ValueError(f"entry {leaf.idx} is not after entry {self.last}")
        self.last = leaf.idx
        line = json.dumps(
            {"index": leaf.idx, "leaf": leaf.hash.hex(), "data": source.data.decode()},
            ensure_ascii=False, separators=(",", ":"),
        ).encode() + b"\n"  # fmt: skip
        self._entries.write(line)
        self._digest.update(line)
        self.count += 1
        if leaf.kind == entries.ENVELOPE and leaf.message_id:
            self.messages += self.spool.message(leaf.message_id)
            if source.body is not None:
                self._put(f"messages/{_safe(leaf.message_id)}/envelope.xml", source.body,
                          "application/xml")  # fmt: skip
            elif leaf.message_id not in self.pruned:
                self.pruned.append(leaf.message_id)
        elif leaf.kind == entries.EVENT and leaf.message_id:
            self.spool.event(leaf.message_id, leaf.idx, source.data.decode())

    def abandon(self) -> None:
        self._entries.close()
        self.zip.abandon()
        self.spool.close()

    def _put(self, name: str, data: bytes, media_type: str) -> None:
        self.zip.add(name, data)
        self.spool.file(name, hashlib.sha256(data).hexdigest(), media_type)

    def finish(self, head: SignedHead, cert_chain: bytes) -> None:
        """The rest, once every entry is in and the last gap's nodes too."""
        self._entries.seek(0)
        self.zip.add_stream(ENTRIES, self._entries)
        self._entries.close()
        self.spool.file(ENTRIES, self._digest.hexdigest(), "application/jsonl")
        for message_id, events in self.spool.timelines():
            parsed = [entries.parse(e.encode()) for e in events]
            self._put(f"messages/{_safe(message_id)}/timeline.json", _json(parsed),
                      "application/json")  # fmt: skip
        if head.size == 0:
            self.spool.node(0, 0, EMPTY_ROOT)
        self._stream(PROOF, "application/json", self._proof_parts(head.size))
        self._put(HEAD, _json(head.as_json()), "application/json")
        self._put(CERTS, cert_chain, "application/pem-certificate-chain")
        self._stream(MANIFEST, "", self._manifest_parts(head))
        self._stream(ODF_MANIFEST, "", self._odf_parts())
        self.zip.close()
        self.spool.close()

    def _stream(self, name: str, media_type: str, parts: Iterable[str]) -> None:
        """A member written piece by piece (listed with its digest when it has a type)."""
        digest = hashlib.sha256()
        with tempfile.TemporaryFile() as member:
            for part in parts:
                data = part.encode()
                member.write(data)
                digest.update(data)
            member.seek(0)
            self.zip.add_stream(name, member)
        if media_type:
            self.spool.file(name, digest.hexdigest(), media_type)

    def _proof_parts(self, size: int) -> Iterator[str]:
        yield f'{{\n "size": {size},\n "nodes": ['
        for n, (start, end, value) in enumerate(self.spool.nodes()):
            yield f'{"," if n else ""}\n  [{start}, {end}, "{value.hex()}"]'
        yield "\n ]\n}"

    def _manifest_parts(self, head: SignedHead) -> Iterator[str]:
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield f'{{\n "format": "{FORMAT}",\n "created": "{created}",\n "head": {head.size},\n'
        yield f' "entries": {self.count},\n "messages": ['
        for n, message_id in enumerate(self.spool.messages()):
            yield ("," if n else "") + "\n  " + json.dumps(message_id, ensure_ascii=False)
        yield f'\n ],\n "pruned": {json.dumps(sorted(self.pruned), ensure_ascii=False)},'
        yield '\n "files": {'
        for n, (name, digest, _) in enumerate(self.spool.files()):
            yield ("," if n else "") + f'\n  {json.dumps(name, ensure_ascii=False)}: "{digest}"'
        yield "\n }\n}\n"

    def _odf_parts(self) -> Iterator[str]:
        yield (
            '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest xmlns:manifest='
            '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">\n'
            f'  <manifest:file-entry manifest:full-path="/" manifest:media-type="{MIMETYPE}"/>\n'
        )
        types = ((n, t) for n, _, t in self.spool.files())
        for name, media_type in itertools.chain(types, [(MANIFEST, "application/json")]):
            yield (
                f"  <manifest:file-entry manifest:full-path={quoteattr(name)} "
                f"manifest:media-type={quoteattr(media_type)}/>\n"
            )
        yield "</manifest:manifest>\n"


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()


@dataclass
class Verified:
    """What a bundle that verified holds."""

    head: SignedHead
    entries: int
    messages: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def verify_bundle(path: Path, hub_cert: x509.Certificate, spool: SpoolFactory) -> Verified:
    """Everything in the bundle checked against the hub's certificate alone; BundleError names
    the first entry or file that fails, and why. Reads the bundle as a stream: what it must keep
    until the end waits on disk (a ``Spool`` from ``spool``), so memory does not grow with the
    bundle."""
    try:
        reader = ZipReader(path)
    except (OSError, ZipError) as exc:
        raise BundleError(f"{path}: not a bundle ({exc})") from None
    kept = spool()
    try:
        return _verify(reader, kept, hub_cert)
    except ZipError as exc:
        raise BundleError(str(exc)) from None
    finally:
        kept.close()
        reader.close()


def _verify(reader: ZipReader, spool: Spool, hub_cert: x509.Certificate) -> Verified:
    first = None
    for member in reader.members():
        first = first or member
        if not spool.member(member):
            raise BundleError(f"{member.name}: in the bundle twice")
    if first is None or first.name != "mimetype" or reader.read(first) != MIMETYPE.encode():
        raise BundleError("mimetype: missing, not first, or not " + MIMETYPE)
    manifest_member = _member(spool, MANIFEST)
    try:
        manifest = read_object(
            reader.chunks(manifest_member),
            {"files": spool.listed, "pruned": spool.prune, "messages": lambda _, __: None},
        )
    except ValueError:
        raise BundleError(f"{MANIFEST}: not JSON, or not the manifest's shape") from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{MANIFEST}: not a {FORMAT} bundle")
    for name, digest in spool.listed_files():
        found = spool.find(name)
        if found is None:
            raise BundleError(f"{name}: listed in the manifest but missing")
        if _digest(reader, found) != digest:
            raise BundleError(f"{name}: its bytes differ from the manifest's digest")
    extra = spool.unlisted(("mimetype", MANIFEST, ODF_MANIFEST))
    if extra is not None:
        raise BundleError(f"{extra}: not listed in the manifest")
    try:
        head = SignedHead.from_json(_read_json(reader, spool, HEAD))
        verify_head(head, hub_cert)
    except HeadError as exc:
        raise BundleError(f"{HEAD}: {exc}") from None
    proof = _read_json(reader, spool, PROOF)
    if proof.get("size") != head.size:
        raise BundleError(f"{PROOF}: for a tree of {proof.get('size')}, not {head.size}")
    return _check_entries(reader, spool, head, proof)


def _check_entries(
    reader: ZipReader, spool: Spool, head: SignedHead, proof: dict[str, Any]
) -> Verified:
    """Every entry line checked as it streams past, the root computed as it goes; the
    timelines compared from the spool at the end."""
    envelopes: set[str] = set()
    counted = 0

    def leaves() -> Iterator[tuple[int, bytes]]:
        nonlocal counted
        last = -1
        for index, data, leaf in _entry_lines(reader, spool):
            what = f"entry {index}"
            try:
                entry = entries.parse(data)
            except ValueError:
                raise BundleError(f"{what}: not a canonical entry") from None
            what = f"entry {index} ({entry.get('kind')} {_subject(entry)})"
            if leaf_hash(data) != leaf:
                raise BundleError(f"{what}: its content does not match its leaf hash")
            if index <= last or not 0 <= index < head.size:
                raise BundleError(
                    f"{what}: a duplicate, out of log order, or outside the tree of {head.size}"
                )
            last = index
            counted += 1
            message_id = str(entry.get("message_id", ""))
            if entry.get("kind") == entries.ENVELOPE:
                envelopes.add(message_id)
                _check_envelope(reader, spool, what, entry)
            elif entry.get("kind") == entries.EVENT:
                spool.event(message_id, index, data.decode())
            yield index, leaf

    nodes = {(int(a), int(b)): bytes.fromhex(h) for a, b, h in proof.get("nodes", [])}
    try:
        root = root_from_stream(leaves(), head.size, nodes)
    except (ProofError, KeyError) as exc:
        raise BundleError(f"{PROOF}: {exc}") from None
    if root != head.root:
        raise BundleError(
            f"{ENTRIES}: the entries and the proof do not lead to the root of the signed "
            f"tree head of {head.size} entries"
        )
    for message_id, events in spool.timelines():
        name = f"messages/{_safe(message_id)}/timeline.json"
        found = spool.find(name)
        if found is not None and json.loads(reader.read(found)) != [json.loads(e) for e in events]:
            raise BundleError(f"{name}: differs from the message's logged events")
    return Verified(head, counted, sorted(envelopes), spool.pruned())


def _subject(entry: dict[str, Any]) -> str:
    if entry.get("kind") == entries.ENVELOPE:
        return f"of message {entry.get('message_id')}"
    if entry.get("kind") == entries.EVENT:
        return f"{entry.get('id')} of message {entry.get('message_id')}"
    return f"{entry.get('id', entry.get('run'))}"


def _check_envelope(reader: ZipReader, spool: Spool, what: str, entry: dict[str, Any]) -> None:
    name = f"messages/{_safe(str(entry['message_id']))}/envelope.xml"
    found = spool.find(name)
    if found is None:
        if spool.is_pruned(str(entry["message_id"])):
            return  # its bytes went by retention: the entry still proves their digest
        raise BundleError(f"{what}: {name} is missing")
    body = reader.read(found)
    if hashlib.sha256(body).hexdigest() != entry["sha256"] or len(body) != entry["size"]:
        raise BundleError(f"{what}: {name} is not the envelope that was logged")


def _member(spool: Spool, name: str) -> Member:
    found = spool.find(name)
    if found is None:
        raise BundleError(f"{name}: missing")
    return found


def _entry_lines(reader: ZipReader, spool: Spool) -> Iterator[tuple[int, bytes, bytes]]:
    for number, line in enumerate(reader.lines(_member(spool, ENTRIES)), start=1):
        try:
            item = json.loads(line)
            yield int(item["index"]), item["data"].encode(), bytes.fromhex(item["leaf"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BundleError(f"{ENTRIES} line {number}: not an entry") from None


def _read_json(reader: ZipReader, spool: Spool, name: str) -> dict[str, Any]:
    try:
        value = json.loads(reader.read(_member(spool, name)))
    except ValueError:
        raise BundleError(f"{name}: not JSON") from None
    if not isinstance(value, dict):
        raise BundleError(f"{name}: not a JSON object")
    return value


def _digest(reader: ZipReader, member: Member) -> str:
    digest = hashlib.sha256()
    for chunk in reader.chunks(member):
        digest.update(chunk)
    return digest.hexdigest()
