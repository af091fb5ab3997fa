"""Reading a MEDO package: a folder (or its files as bytes) to a ``Package``, or a PackageError.

``parse_package(files)`` is the one entry point for untrusted input (and the one to fuzz): it
takes the folder's files as bytes, never touches the disk, and either returns a parsed package
or raises PackageError with a reason an operator can act on. ``read_folder`` reads a folder
into that form with limits; ``verify_package`` checks the detached signatures.

Limits guard against what a hostile or broken peer can send: an envelope file of megabytes, a
ZIP bomb (declared or actual sizes over the limit, a ratio beyond reason), names that escape
the folder (``../``, absolute, drive letters), too many files, symlinks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from adapters.medo import envelope_ini
from adapters.medo.cms import verify_detached
from adapters.medo.errors import PackageError, SignatureError
from adapters.medo.messages import read_message, read_passport
from adapters.medo.model import PASSPORT_NAME, Message, Package, PackageType
from adapters.smev.crypto.certificates import GostTrustStore
from envelopes.errors import EnvelopeError
from envelopes.parsing import ParseLimits, parse_xml


@dataclass(frozen=True)
class Limits:
    """Bounds on one package."""

    max_files: int = 200
    max_file_bytes: int = 64 * 1024 * 1024
    max_package_bytes: int = 256 * 1024 * 1024
    max_zip_entries: int = 500
    max_zip_ratio: int = 200  # uncompressed / compressed, per entry (text compresses ~10x)
    max_xml_bytes: int = 8 * 1024 * 1024


DEFAULT_LIMITS = Limits()


def safe_name(name: str) -> str:
    """A file name that stays in its folder; PackageError otherwise."""
    if not name or len(name) > 255 or "\x00" in name:
        raise PackageError(f"file name {name[:80]!r} is empty, too long or holds NUL")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise PackageError(f"file name {name[:80]!r} is a path, not a file name")
    parts = PurePosixPath(name).parts
    if len(parts) != 1 or parts[0] in (".", ".."):
        raise PackageError(f"file name {name[:80]!r} escapes the package folder or is a path")
    return name


def read_folder(folder: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """The package folder's files as bytes (plain files only, within the limits)."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise PackageError(f"the folder cannot be read: {exc.strerror}") from None
    if len(entries) > limits.max_files:
        raise PackageError(f"the folder holds {len(entries)} entries (at most {limits.max_files})")
    for entry in entries:
        if entry.is_symlink() or not entry.is_file():
            raise PackageError(f"{entry.name!r} is not a plain file (a folder or a link)")
        size = entry.stat().st_size
        if size > limits.max_file_bytes:
            raise PackageError(
                f"{entry.name!r} is {size} bytes (at most {limits.max_file_bytes} per file)"
            )
        total += size
        if total > limits.max_package_bytes:
            raise PackageError(f"the package is over {limits.max_package_bytes} bytes")
        with entry.open("rb") as handle:
            files[entry.name] = handle.read(limits.max_file_bytes + 1)
    return files


def unzip(data: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """A container's files, read defensively (bombs, escaping names, broken archives)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # zipfile raises IndexError, NotImplementedError… on damaged input
        raise PackageError(f"the container is not a readable ZIP: {exc!r}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_zip_entries:
            raise PackageError(
                f"the container holds {len(infos)} entries (at most {limits.max_zip_entries})"
            )
        files: dict[str, bytes] = {}
        total = 0
        for info in infos:
            name = _zip_name(info)
            if info.is_dir():
                raise PackageError(f"the container holds a folder {name!r}; files only")
            safe_name(name)
            if info.flag_bits & 0x1:
                raise PackageError(f"{name!r} in the container is encrypted")
            if info.file_size > limits.max_file_bytes:
                raise PackageError(
                    f"{name!r} in the container declares {info.file_size} bytes "
                    f"(at most {limits.max_file_bytes})"
                )
            if info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio:
                raise PackageError(
                    f"{name!r} in the container expands {info.file_size // info.compress_size}"
                    f" times (at most {limits.max_zip_ratio}): a ZIP bomb is refused"
                )
            if name in files:
                raise PackageError(f"the container holds {name!r} twice")
            try:
                with archive.open(info) as handle:
                    content = handle.read(limits.max_file_bytes + 1)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
                raise PackageError(f"{name!r} in the container cannot be read: {exc}") from None
            except Exception as exc:  # zlib.error and friends from a damaged stream
                raise PackageError(f"{name!r} in the container is damaged: {exc}") from None
            if len(content) > limits.max_file_bytes or len(content) != info.file_size:
                raise PackageError(f"{name!r} in the container is not the size it declares")
            total += len(content)
            if total > limits.max_package_bytes:
                raise PackageError(
                    f"the container unpacks to over {limits.max_package_bytes} bytes"
                )
            files[name] = content
    return files


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The entry's name; without the UTF-8 flag, MEDO clients write Cyrillic in cp866."""
    name = info.filename
    if not info.flag_bits & 0x800 and not name.isascii():
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("cp866")
    return name


def _xml(data: bytes, what: str, limits: Limits) -> object:
    try:
        return parse_xml(data, ParseLimits(max_bytes=limits.max_xml_bytes))
    except EnvelopeError as exc:
        raise PackageError(f"{what} is not readable XML: {exc}") from None


def parse_package(files: Mapping[str, bytes], limits: Limits = DEFAULT_LIMITS) -> Package:
    """A package from its folder's files; PackageError says why it cannot be accepted.

    Structure only: ``verify_package`` checks the signatures afterwards.
    """
    for name in files:
        safe_name(name)
    envelope_name = next((n for n in envelope_ini.ENVELOPE_NAMES if n in files), None)
    if envelope_name is None:
        raise PackageError("no envelope.ini (or envelope.ltr): not a MEDO package")
    envelope = envelope_ini.parse(files[envelope_name])
    for listed in envelope.files:
        safe_name(listed)
        if listed not in files:
            raise PackageError(f"envelope.ini lists {listed!r}, which is not in the package")
    message = None
    message_name = ""
    problems: list[str] = []
    for name in envelope.files:
        if not name.lower().endswith(".xml"):
            continue
        root = _xml(files[name], name, limits)
        try:
            message = read_message(root)  # type: ignore[arg-type]
        except PackageError as exc:
            problems.append(f"{name}: {exc}")
            continue
        message_name = name
        break
    if message is None:
        raise PackageError(
            "; ".join(problems) or "the package has no message file (an .xml the envelope lists)"
        )
    package = Package(message, envelope.subject, message_name, dict(files))
    if message.type != PackageType.DOCUMENT:
        return package
    try:
        package.documents = _documents(message, files, limits)
    except PackageError as exc:
        exc.message = message  # the sender is known: it gets a refusal
        raise
    return package


def _documents(message: Message, files: Mapping[str, bytes], limits: Limits) -> dict[str, bytes]:
    """The document's files (and their signatures) of a document package, checked."""
    if message.passport is None:  # 2.7.1: the card and the files are in the container
        if message.container not in files:
            raise PackageError(f"the container {message.container!r} is missing")
        documents = unzip(files[message.container], limits)
        if PASSPORT_NAME not in documents:
            raise PackageError(f"the container has no {PASSPORT_NAME}")
        root = _xml(documents[PASSPORT_NAME], PASSPORT_NAME, limits)
        message.passport = read_passport(root)  # type: ignore[arg-type]
    else:  # 2.x: the files lie in the folder, each signature next to it as <name>.p7s
        documents = {}
        for name in message.files:
            safe_name(name)
            if name not in files:
                raise PackageError(f"the message names the file {name!r}, which is missing")
            documents[name] = files[name]
            if f"{name}.p7s" in files:
                documents[f"{name}.p7s"] = files[f"{name}.p7s"]
        passport = message.passport
        passport.document.signature = _p7s(documents, passport.document.name)
        for attachment in passport.attachments:
            attachment.signature = _p7s(documents, attachment.name)
    passport = message.passport
    for signed in [passport.document, *passport.attachments]:
        if signed.name not in documents:
            raise PackageError(f"the passport names {signed.name!r}, which is not in the container")
        if signed.signature is not None and signed.signature not in documents:
            raise PackageError(f"the signature {signed.signature!r} of {signed.name!r} is missing")
    if passport.document.signature is None:
        raise SignatureError(f"the document {passport.document.name!r} has no signature (.p7s)")
    return documents


def _p7s(documents: Mapping[str, bytes], name: str) -> str | None:
    return f"{name}.p7s" if f"{name}.p7s" in documents else None


def verify_package(
    package: Package, trust: GostTrustStore, at: dt.datetime | None = None
) -> dict[str, list[str]]:
    """Verify every ``.p7s`` of a document package (those the passport names and any other
    ``<file>.p7s``); file → signers. SignatureError names the first that fails."""
    passport = package.passport
    if passport is None:
        return {}
    pairs = {(s.name, s.signature) for s in [passport.document, *passport.attachments]}
    named = {signature for _, signature in pairs}
    for name in package.documents:  # every .p7s, also those the passport does not name
        if name.lower().endswith(".p7s") and name not in named:
            base = name[: -len(".p7s")]
            if base not in package.documents:
                raise SignatureError(
                    f"{name}: a signature of {base!r}, which is not in the package"
                )
            pairs.add((base, name))
    signers: dict[str, list[str]] = {}
    for file_name, signature in sorted(pairs, key=lambda pair: (pair[0], pair[1] or "")):
        if signature is None:
            continue
        try:
            found = verify_detached(
                package.documents[file_name], package.documents[signature], trust, at
            )
        except SignatureError as exc:
            raise SignatureError(f"{signature}: {exc}") from None
        signers.setdefault(file_name, []).extend(s.signer for s in found)
    package.signers = signers
    return signers
