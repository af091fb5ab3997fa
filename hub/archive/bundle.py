"""Export bundles and their offline check (docs/archive.md, "Bundles").

A bundle is a ZIP in the ASiC-E layout (``mimetype`` first and stored, ``META-INF/manifest.xml``)
holding the entries, the envelopes' bytes, the timelines, one signed tree head, a batch
inclusion proof of every entry under it and the hub's certificates. ``verify_bundle`` needs
nothing but the bundle and the hub's certificate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from cryptography import x509

from hub.archive import entries
from hub.archive.entries import Source
from hub.archive.heads import HeadError, SignedHead, verify_head
from hub.archive.merkle import ProofError, leaf_hash, root_from_range_proof

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
    """Streams a bundle out: entries as they come, then the proof, head and manifests."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        info = zipfile.ZipInfo("mimetype", date_time=(1980, 1, 1, 0, 0, 0))
        self.zip.writestr(info, MIMETYPE, compress_type=zipfile.ZIP_STORED)
        self.files: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.count = 0
        self.pruned: list[str] = []
        self.messages: set[str] = set()
        self.timelines: dict[str, list[dict[str, Any]]] = {}
        # the entries go last: a ZIP takes one member at a time, and envelopes come between
        self._entries: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish)
        self._digest = hashlib.sha256()

    def add(self, source: Source) -> None:
        assert source.data is not None
        leaf = source.leaf
        line = json.dumps(
            {"index": leaf.idx, "leaf": leaf.hash.hex(), "data": source.data.decode()},
            ensure_ascii=False, separators=(",", ":"),
        ).encode() + b"\n"  # fmt: skip
        self._entries.write(line)
        self._digest.update(line)
        self.count += 1
        if leaf.kind == entries.ENVELOPE and leaf.message_id:
            self.messages.add(leaf.message_id)
            if source.body is not None:
                self._put(f"messages/{_safe(leaf.message_id)}/envelope.xml", source.body,
                          "application/xml")  # fmt: skip
            elif leaf.message_id not in self.pruned:
                self.pruned.append(leaf.message_id)
        elif leaf.kind == entries.EVENT and leaf.message_id:
            self.timelines.setdefault(leaf.message_id, []).append(entries.parse(source.data))

    def abandon(self) -> None:
        self._entries.close()
        self.zip.close()

    def _put(self, name: str, data: bytes, media_type: str) -> None:
        self.zip.writestr(name, data)
        self.files[name] = hashlib.sha256(data).hexdigest()
        self.types[name] = media_type

    def finish(
        self, head: SignedHead, nodes: Iterable[tuple[int, int, bytes]], cert_chain: bytes
    ) -> None:
        self._entries.seek(0)
        with self.zip.open(ENTRIES, "w", force_zip64=True) as member:
            shutil.copyfileobj(self._entries, member, 1 << 20)
        self._entries.close()
        self.files[ENTRIES] = self._digest.hexdigest()
        self.types[ENTRIES] = "application/jsonl"
        for message_id, events in self.timelines.items():
            self._put(f"messages/{_safe(message_id)}/timeline.json", _json(events),
                      "application/json")  # fmt: skip
        proof = {"size": head.size, "nodes": [[a, b, h.hex()] for a, b, h in nodes]}
        self._put(PROOF, _json(proof), "application/json")
        self._put(HEAD, _json(head.as_json()), "application/json")
        self._put(CERTS, cert_chain, "application/pem-certificate-chain")
        manifest = {
            "format": FORMAT,
            "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "head": head.size,
            "entries": self.count,
            "messages": sorted(self.messages),
            "pruned": sorted(self.pruned),
            "files": dict(sorted(self.files.items())),
        }
        self.zip.writestr(MANIFEST, _json(manifest))
        self.types[MANIFEST] = "application/json"
        rows = "".join(
            f"  <manifest:file-entry manifest:full-path={quoteattr(n)} "
            f"manifest:media-type={quoteattr(t)}/>\n"
            for n, t in sorted(self.types.items())
        )
        self.zip.writestr(
            ODF_MANIFEST,
            '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest xmlns:manifest='
            '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">\n'
            f'  <manifest:file-entry manifest:full-path="/" manifest:media-type="{MIMETYPE}"/>\n'
            f"{rows}</manifest:manifest>\n",
        )
        self.zip.close()


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode()


@dataclass
class Verified:
    """What a bundle that verified holds."""

    head: SignedHead
    entries: int
    messages: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def verify_bundle(path: Path, hub_cert: x509.Certificate) -> Verified:
    """Everything in the bundle checked against the hub's certificate alone; BundleError names
    the first entry or file that fails, and why."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: not a bundle ({exc})") from None
    with archive:
        listing = archive.namelist()
        names = set(listing)
        if not listing or listing[0] != "mimetype" or archive.read("mimetype") != MIMETYPE.encode():
            raise BundleError("mimetype: missing, not first, or not " + MIMETYPE)
        manifest = _read_json(archive, MANIFEST)
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{MANIFEST}: not a {FORMAT} bundle")
        files: dict[str, str] = manifest.get("files", {})
        for name, digest in files.items():
            if name not in names:
                raise BundleError(f"{name}: listed in the manifest but missing")
            if _file_digest(archive, name) != digest:
                raise BundleError(f"{name}: its bytes differ from the manifest's digest")
        extra = names - set(files) - {"mimetype", MANIFEST, ODF_MANIFEST}
        if extra:
            raise BundleError(f"{sorted(extra)[0]}: not listed in the manifest")
        try:
            head = SignedHead.from_json(_read_json(archive, HEAD))
            verify_head(head, hub_cert)
        except HeadError as exc:
            raise BundleError(f"{HEAD}: {exc}") from None
        proof = _read_json(archive, PROOF)
        if proof.get("size") != head.size:
            raise BundleError(f"{PROOF}: for a tree of {proof.get('size')}, not {head.size}")
        leaves: dict[int, bytes] = {}
        timelines: dict[str, list[dict[str, Any]]] = {}
        envelopes: set[str] = set()
        for index, data, leaf in _entry_lines(archive):
            what = f"entry {index}"
            try:
                entry = entries.parse(data)
            except ValueError:
                raise BundleError(f"{what}: not a canonical entry") from None
            what = f"entry {index} ({entry.get('kind')} {_subject(entry)})"
            if leaf_hash(data) != leaf:
                raise BundleError(f"{what}: its content does not match its leaf hash")
            if index in leaves or not 0 <= index < head.size:
                raise BundleError(f"{what}: a duplicate or outside the tree of {head.size}")
            leaves[index] = leaf
            message_id = str(entry.get("message_id", ""))
            if entry.get("kind") == entries.ENVELOPE:
                envelopes.add(message_id)
                _check_envelope(archive, names, what, entry, manifest.get("pruned", []))
            elif entry.get("kind") == entries.EVENT:
                timelines.setdefault(message_id, []).append(entry)
        nodes = {(int(a), int(b)): bytes.fromhex(h) for a, b, h in proof.get("nodes", [])}
        try:
            root = root_from_range_proof(leaves, head.size, nodes)
        except (ProofError, KeyError) as exc:
            raise BundleError(f"{PROOF}: {exc}") from None
        if root != head.root:
            raise BundleError(
                f"{ENTRIES}: the entries and the proof do not lead to the root of the signed "
                f"tree head of {head.size} entries"
            )
        for message_id, events in timelines.items():
            name = f"messages/{_safe(message_id)}/timeline.json"
            if name in names and json.loads(archive.read(name)) != events:
                raise BundleError(f"{name}: differs from the message's logged events")
        return Verified(head, len(leaves), sorted(envelopes), list(manifest.get("pruned", [])))


def _subject(entry: dict[str, Any]) -> str:
    if entry.get("kind") == entries.ENVELOPE:
        return f"of message {entry.get('message_id')}"
    if entry.get("kind") == entries.EVENT:
        return f"{entry.get('id')} of message {entry.get('message_id')}"
    return f"{entry.get('id', entry.get('run'))}"


def _check_envelope(
    archive: zipfile.ZipFile, names: set[str], what: str, entry: dict[str, Any],
    pruned: list[str],
) -> None:  # fmt: skip
    name = f"messages/{_safe(str(entry['message_id']))}/envelope.xml"
    if name not in names:
        if entry["message_id"] in pruned:
            return  # its bytes went by retention: the entry still proves their digest
        raise BundleError(f"{what}: {name} is missing")
    body = archive.read(name)
    if hashlib.sha256(body).hexdigest() != entry["sha256"] or len(body) != entry["size"]:
        raise BundleError(f"{what}: {name} is not the envelope that was logged")


def _entry_lines(archive: zipfile.ZipFile) -> Iterator[tuple[int, bytes, bytes]]:
    try:
        stream = archive.open(ENTRIES)
    except KeyError:
        raise BundleError(f"{ENTRIES}: missing") from None
    with stream:
        for number, line in enumerate(stream, start=1):
            try:
                item = json.loads(line)
                yield int(item["index"]), item["data"].encode(), bytes.fromhex(item["leaf"])
            except (ValueError, KeyError, TypeError, AttributeError):
                raise BundleError(f"{ENTRIES} line {number}: not an entry") from None


def _read_json(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    try:
        value = json.loads(archive.read(name))
    except KeyError:
        raise BundleError(f"{name}: missing") from None
    except ValueError:
        raise BundleError(f"{name}: not JSON") from None
    if not isinstance(value, (dict, list)):
        raise BundleError(f"{name}: not a JSON object")
    return value  # type: ignore[return-value]


def _file_digest(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
