"""SMEV's file storage for large attachments (FSAttachment over FTP): the adapter's side.

Out: attachments by reference larger than ``fs_threshold`` are streamed from the hub's blob
store to the FTP storage as ``/<uuid>/<file name>`` and named in the signed block
(RefAttachmentHeader: uuid, name, hash, type); smaller ones go inline (MTOM) as before. The
uuid derives from the hub message, the destination and the attachment, so a retry overwrites
the same file instead of leaving another behind, and carries the same header.

In: the files an agency's message names (SMEV's FSAttachment, with the sender's
RefAttachmentHeader) are streamed from the storage into the hub's blob store, checked against
the header's hash, and the envelope refers to them (``blob:sha256:…``).

Failures are :class:`FileStoreError`\\ s with a ``code``: ``smev-fs-unavailable`` (transient),
``smev-fs-missing`` and ``smev-fs-mismatch`` (permanent).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Protocol

from gostcrypto import gosthash

from adapters.smev.conversion import HubMessage
from adapters.smev.errors import FileMismatch, FileStoreError, FileStoreUnavailable
from adapters.smev.protocol import ftp
from adapters.smev.protocol import messages as sm
from adapters.smev.settings import SmevSettings
from envelopes.model import AttachmentRef, ContentReference
from hub.abc import AdapterContext, Outcome

_FILES = uuid.UUID("8d7e2b51-0c4f-4a8e-b6d1-5f3a9e2c7b10")  # uuid5 namespace of the folders
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Streebog:
    """GOST R 34.11-2012 (256) fed chunk by chunk (gostcrypto wants bytearrays)."""

    def __init__(self) -> None:
        self._hash = gosthash.new("streebog256")

    def update(self, data: bytes, /) -> None:
        self._hash.update(bytearray(data))

    def digest(self) -> bytes:
        return bytes(self._hash.digest())


def file_hasher(name: str) -> Hasher:
    """The hasher of RefAttachmentHeader/Hash (``fs_hash``)."""
    return _Streebog() if name == "streebog256" else hashlib.sha256()


def storage_name(file_name: str) -> str:
    """A file name that is safe in an FTP path (one component, ASCII)."""
    stem, dot, extension = file_name.rpartition(".")
    if not dot:
        stem, extension = file_name, ""
    stem = _UNSAFE.sub("_", stem).strip("._") or "file"
    extension = _UNSAFE.sub("", extension)[:16]
    return stem[:200] + ("." + extension if extension else "")


def outcome_of(exc: FileStoreError, what: str) -> Outcome:
    detail = f"{exc.code}: {what}: {exc}"
    return Outcome.transient(detail) if exc.transient else Outcome.permanent(detail)


async def _checked(
    chunks: AsyncIterator[bytes], reference: ContentReference, hasher: Hasher
) -> AsyncIterator[bytes]:
    """The blob's chunks, hashed as they pass; FileMismatch at the end unless they are the
    signed content (nothing is named in the message then)."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in chunks:
        digest.update(chunk)
        hasher.update(chunk)
        size += len(chunk)
        yield chunk
    if digest.digest() != reference.ref.sha256 or size != reference.ref.size:
        raise FileMismatch(f"{reference.uri}: the blob is not the signed content")


async def upload_references(
    references: list[ContentReference],
    context: AdapterContext,
    settings: SmevSettings,
    key: str,
) -> tuple[list[sm.RefAttachment], Outcome | None]:
    """Put each reference on the file storage; their headers, or the outcome that stops the
    delivery (the blob missing or not the signed content, the storage unreachable)."""
    endpoint = settings.file_storage
    assert endpoint is not None
    files = []
    for reference in references:
        folder = str(uuid.uuid5(_FILES, f"{key}:{reference.ref.id}"))
        name = storage_name(reference.ref.file_name)
        hasher = file_hasher(settings.fs_hash)
        try:
            chunks = _checked(context.read_blob(reference.digest_hex), reference, hasher)
            await ftp.upload(endpoint, folder, name, chunks)
        except NotImplementedError:
            return [], Outcome.permanent(f"{reference.uri}: this hub keeps no blobs")
        except FileStoreError as exc:
            return [], outcome_of(exc, reference.uri)
        except OSError as exc:  # the blob store
            return [], Outcome.transient(f"{reference.uri}: {exc!r}")
        files.append(
            sm.RefAttachment(
                folder, name, base64.b64encode(hasher.digest()).decode(), reference.ref.media_type
            )
        )
    return files, None


async def _expected(
    chunks: AsyncIterator[bytes], item: sm.FileAttachment, hasher: Hasher
) -> AsyncIterator[bytes]:
    """The file's chunks; FileMismatch at the end if the sender's hash says otherwise."""
    async for chunk in chunks:
        hasher.update(chunk)
        yield chunk
    if not item.hash:
        return
    try:
        wanted = base64.b64decode(item.hash, validate=True)
    except (binascii.Error, ValueError):
        wanted = b""
    if hasher.digest() != wanted:
        raise FileMismatch(
            f"{item.uuid}/{item.file_name}: the file's hash is not the {item.hash!r} the "
            "message gives"
        )


async def fetch_files(
    files: list[sm.FileAttachment],
    context: AdapterContext,
    settings: SmevSettings,
    owner: str,
) -> list[ContentReference]:
    """Each file from the storage into ``owner``'s blob; the references the envelope carries.
    FileStoreError (``code``, ``transient``) when one cannot be had."""
    endpoint = settings.file_storage
    assert endpoint is not None
    references = []
    for index, item in enumerate(files, start=1):
        login = dataclasses.replace(
            endpoint,
            user=item.user_name or endpoint.user,
            password=item.password or endpoint.password,
        )
        chunks = _expected(
            ftp.download(login, item.uuid, item.file_name), item, file_hasher(settings.fs_hash)
        )
        try:
            info = await context.keep_blob(chunks, owner)
        except NotImplementedError as exc:
            raise FileStoreError(f"{item.uuid}: this hub keeps no blobs") from exc
        except FileStoreError:
            raise
        except OSError as exc:
            raise FileStoreUnavailable(f"{item.uuid}: the blob store: {exc!r}") from exc
        ref = AttachmentRef(
            id=f"smev-file-{index}",
            file_name=(item.file_name or item.uuid)[:255],
            media_type=item.mime_type,
            size=info.size,
            sha256=bytes.fromhex(info.digest),
        )
        references.append(ContentReference.for_ref(ref))
    return references


async def to_file_storage(
    hub: HubMessage, context: AdapterContext, settings: SmevSettings, key: str
) -> Outcome | None:
    """The message's references above ``fs_threshold`` go to the file storage (``hub.files``
    names them), the rest stay for MTOM; None unless that stopped the delivery."""
    if settings.file_storage is None:
        return None
    large = [r for r in hub.references if r.ref.size > settings.fs_threshold]
    if not large:
        return None
    hub.files, refused = await upload_references(large, context, settings, key)
    if refused is None:
        hub.references = [r for r in hub.references if r not in large]
    return refused


async def fetch_incoming(
    files: list[sm.FileAttachment], context: AdapterContext, settings: SmevSettings, owner: str
) -> list[ContentReference] | None:
    """:func:`fetch_files`, when the message names files and a file storage is configured
    (None otherwise: the files are counted on the timeline, not fetched)."""
    if not files or settings.file_storage is None:
        return None
    return await fetch_files(files, context, settings, owner)
