"""Attachment files around an envelope, for ``hub envelope new``, ``hub send`` and
``hub inbox``: large files go by reference (their SHA-256 read in chunks, never whole in
memory), the files an envelope refers to are found and checked before they are uploaded, and
a received envelope's attachments are written next to it, each checked against its signed
digest before it takes its name."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envelopes.codec import attachment_refs, claimed_header, content_of, read_content
from envelopes.errors import EnvelopeError
from envelopes.model import Attachment, AttachmentRef, ContentReference
from envelopes.parsing import parse_xml
from hub.blobs.files import hash_file

CHUNK = 1024 * 1024


def file_digest(path: Path, chunk: int = CHUNK) -> tuple[bytes, int]:
    """A file's SHA-256 (bytes, as the manifest holds it) and size, read in chunks."""
    info = hash_file(path, chunk)
    return bytes.fromhex(info.digest), info.size


def attach(paths: list[Path], threshold: int) -> tuple[list[Attachment], list[ContentReference]]:
    """The attachments of ``hub envelope new --attach``: files up to ``threshold`` bytes go
    inline, larger ones by reference (the manifest signs their digest and size)."""
    inline: list[Attachment] = []
    references: list[ContentReference] = []
    for n, path in enumerate(paths, start=1):
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.stat().st_size <= threshold:
            inline.append(Attachment.from_bytes(f"att{n}", path.name, media_type,
                                                path.read_bytes()))  # fmt: skip
            continue
        sha256, size = file_digest(path)
        ref = AttachmentRef(
            id=f"att{n}", file_name=path.name, media_type=media_type, size=size, sha256=sha256
        )
        references.append(ContentReference.for_ref(ref))
    return inline, references


@dataclass(frozen=True)
class Referenced:
    """What an envelope to be sent refers to: its claimed sender, and a file for each blob."""

    sender: str
    files: dict[str, Path]  # SHA-256 hex -> a local file with that content


def referenced_files(envelope: Path, body: bytes, given: list[Path]) -> Referenced:
    """The files of an envelope's references: among ``given`` (by content), else by the
    manifest's FileName next to the envelope; each checked against the signed digest. Raises
    ValueError naming every attachment without its file."""
    root = parse_xml(body)
    refs = attachment_refs(content_of(root))
    _, references = read_content(root, refs)
    sender = claimed_header(root).get("Sender", "")
    by_digest = {file_digest(p)[0].hex(): p for p in given}
    files: dict[str, Path] = {}
    missing = []
    for reference in references:
        digest = reference.digest_hex
        path = by_digest.get(digest)
        if path is None:
            beside = envelope.parent / Path(reference.ref.file_name).name
            if beside.is_file() and file_digest(beside)[0].hex() == digest:
                path = beside
        if path is None:
            missing.append(
                f"{envelope}: attachment {reference.ref.id} ({reference.ref.file_name}, "
                f"sha256:{digest}) is by reference: give its file with --attach"
            )
        else:
            files[digest] = path
    if missing:
        raise ValueError("\n".join(missing))
    return Referenced(sender, files)


def safe_name(name: str, fallback: str) -> str:
    """A manifest FileName as a file name in one folder (no folders, no dot files)."""
    base = Path(name.replace("\\", "/")).name.strip()
    return base if base and not base.startswith(".") else fallback


def write_attachments(
    body: bytes, folder: Path, fetch: Callable[[ContentReference, Path], None]
) -> list[Path]:
    """Write a received envelope's attachments into ``folder`` (made if needed): inline ones
    decoded, references through ``fetch`` (which writes the blob into the path it is given);
    each checked against its signed digest and size, then renamed into place. Nothing for an
    envelope without attachments."""
    try:
        root = parse_xml(body)
        inline, references = read_content(root, attachment_refs(content_of(root)))
    except EnvelopeError:
        return []  # a receipt or an envelope that does not read: nothing to write
    if not inline and not references:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for attachment in inline:
        target = folder / safe_name(attachment.ref.file_name, attachment.ref.id)
        part = target.with_name(target.name + ".part")
        part.write_bytes(attachment.content)  # checked against its digest when read
        os.replace(part, target)
        written.append(target)
    for reference in references:
        target = folder / safe_name(reference.ref.file_name, reference.ref.id)
        part = target.with_name(target.name + ".part")
        fetch(reference, part)
        sha256, size = file_digest(part)
        if sha256 != reference.ref.sha256 or size != reference.ref.size:
            part.unlink()
            raise ValueError(
                f"{reference.uri}: the content received is not what the envelope signed "
                f"(SHA-256 {sha256.hex()}, {size} bytes)"
            )
        os.replace(part, target)
        written.append(target)
    return written
