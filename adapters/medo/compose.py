"""Writing MEDO packages: the files of a document, notification or acknowledgment package, and
the atomic hand-over to the MEDO client's folder.

A package is written into a hidden temporary folder (``.tmp-<uid>``) beside its final place,
every file and the folder synced, then renamed to ``<uid>`` in one step: the MEDO client sees a
whole package or none. A package folder that already exists is left as it is: its name comes
from what it is about, so it is the same package (a redelivery after a crash writes it again).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import signal
import zipfile
from collections.abc import Mapping
from pathlib import Path

from adapters.medo import envelope_ini
from adapters.medo.cms import CmsSigner, sign_detached
from adapters.medo.messages import message_xml, passport_xml
from adapters.medo.model import (
    CONTAINER_NAME,
    MESSAGE_NAME,
    PASSPORT_NAME,
    Acknowledgment,
    Message,
    Notification,
    PackageType,
    Party,
    Passport,
)

TEMP_PREFIX = ".tmp-"


def zip_files(files: Mapping[str, bytes], *, compress: bool = True) -> bytes:
    """A ZIP of ``files`` in the given order, names in UTF-8, fixed timestamps (reproducible)."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = method
            archive.writestr(info, data)
    return buffer.getvalue()


def document_files(
    message: Message,
    passport: Passport,
    files: Mapping[str, bytes],
    signer: CmsSigner,
    subject: str,
) -> dict[str, bytes]:
    """A 2.7.1 document package: envelope.ini, the message, the container with the passport,
    the files and a detached signature of each (``<name>.p7s``)."""
    container: dict[str, bytes] = {}
    for signed in [passport.document, *passport.attachments]:
        data = files[signed.name]
        container[signed.name] = data
        signed.signature = f"{signed.name}.p7s"
        container[signed.signature] = sign_detached(data, signer)
    container = {PASSPORT_NAME: passport_xml(passport), **container}
    message.container = CONTAINER_NAME
    return _package(message, subject, {CONTAINER_NAME: zip_files(container)}, signed=True)


def acknowledgment_files(
    uid: str, source: Party, destination: Party, ack: Acknowledgment
) -> dict[str, bytes]:
    message = Message(
        PackageType.ACKNOWLEDGMENT, uid, ack.time, source, [destination], acknowledgment=ack
    )
    subject = "Квитанция" + ("" if ack.accepted else ": отказ в приёме")
    return _package(message, subject, {})


def notification_files(
    uid: str, source: Party, destination: Party, notification: Notification
) -> dict[str, bytes]:
    message = Message(
        PackageType.NOTIFICATION,
        uid,
        notification.time,
        source,
        [destination],
        notification=notification,
    )
    return _package(message, f"Уведомление: {notification.type.value}", {})


def _package(
    message: Message, subject: str, extra: Mapping[str, bytes], *, signed: bool = False
) -> dict[str, bytes]:
    files = {MESSAGE_NAME: message_xml(message), **extra}
    envelope = envelope_ini.EnvelopeFile(
        subject=subject,
        signed=signed,
        addressees=[d.uid for d in message.destinations],
        files=list(files),
    )
    return {"envelope.ini": envelope_ini.render(envelope), **files}


# --------------------------------------------------------------------------------- hand-over
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_package(outgoing: Path, name: str, files: Mapping[str, bytes]) -> Path:
    """Put a package into ``outgoing`` as ``name`` atomically; returns its folder."""
    final = outgoing / name
    if final.is_dir():
        # names are derived from what a package is about (uuid5), so this is the same package,
        # written before a crash or a redelivery (its signatures may differ: GOST signing is
        # randomised); the MEDO client may be reading it: leave it
        return final
    temp = outgoing / f"{TEMP_PREFIX}{name}"
    if temp.exists():
        shutil.rmtree(temp)  # a crash left it half written; nobody else reads dot folders
    temp.mkdir(parents=True)
    for file_name, data in files.items():
        path = temp / file_name
        with path.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    _fsync_dir(temp)
    failpoint("written-before-rename")
    os.rename(temp, final)
    _fsync_dir(outgoing)
    return final


def remove_package(folder: Path) -> None:
    """Remove a handled package from the incoming folder: renamed to a hidden name first, so a
    crash half way leaves no half package under its real name."""
    doomed = folder.with_name(f"{TEMP_PREFIX}done-{folder.name}")
    with contextlib.suppress(FileNotFoundError):
        os.rename(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    _fsync_dir(folder.parent)


def failpoint(name: str) -> None:
    """``HUB_MEDO_FAILPOINT=<name>``: die here as kill -9 would (the crash tests' exact moments)."""
    if os.environ.get("HUB_MEDO_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
