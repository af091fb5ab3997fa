"""The MEDO adapter: documents out as 2.7.1 packages, packages in from the MEDO client's folder.

Outbound (``deliver``): a document for a body with a ``medo_uid`` becomes a signed 2.7.1
package in ``outgoing``; an execution notice about a document that came by MEDO becomes a MEDO
notification. Each package waits in ``state/pending`` for its acknowledgment; one not
acknowledged within ``ack_timeout_hours`` is marked failed and its sender told.

Inbound (the watch loop): each settled folder in ``incoming`` is read, checked and acted on —
a document is wrapped into a hub envelope and submitted, a notification becomes an execution
stage, an acknowledgment settles a pending package — then acknowledged, and only then removed.
A package that cannot be accepted moves to ``quarantine`` with a reason file, and its sender
gets a negative acknowledgment. docs/medo-adapter.md tells the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.medo import compose
from adapters.medo.cms import CmsSigner
from adapters.medo.conversion import (
    NOTIFICATIONS,
    REFUSAL_TEXT,
    STAGES,
    derived_id,
    passport_of,
    read_notice,
    stage_detail,
    wrap,
)
from adapters.medo.errors import MedoConfigError, PackageError
from adapters.medo.model import (
    Acknowledgment,
    Message,
    Notification,
    NotificationType,
    Package,
    PackageType,
    Party,
)
from adapters.medo.package import Limits, parse_package, read_folder, verify_package
from adapters.medo.settings import MedoSettings, load_settings
from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.errors import SmevError
from envelopes.codec import parse_envelope
from envelopes.errors import EnvelopeError
from hub.abc import (
    Adapter,
    AdapterContext,
    InboundMessage,
    OutboundMessage,
    Outcome,
    State,
)

log = logging.getLogger("hub.medo")
SOURCE = "medo"
REASON_SUFFIX = ".reason.txt"
MAX_ATTEMPTS = 5  # a package whose handling keeps raising is quarantined after so many looks


class HubUnavailable(Exception):
    """The hub did not take what a package carries: leave the package for the next look."""


class MedoAdapter(Adapter):
    name = "medo"
    inline = False

    def __init__(self, settings: MedoSettings) -> None:
        self.settings = settings
        s = settings
        self.incoming = s.path(s.incoming)
        self.outgoing = s.path(s.outgoing)
        self.quarantine = s.path(s.quarantine)
        self.state = s.path(s.state)
        self.pending = self.state / "pending"
        self.limits = Limits(max_package_bytes=s.max_package_bytes)
        self.us = Party(s.uid, s.organization)
        self._context: AdapterContext | None = None
        self._signer: CmsSigner | None = None
        self._trust: GostTrustStore | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock_file: Any = None
        self._seen: dict[str, tuple[float, float]] = {}  # folder → (signature, first seen)
        self._failures: dict[str, int] = {}  # folder → attempts that raised
        self._ok = True

    # ------------------------------------------------------------------------ lifecycle
    async def start(self, context: AdapterContext) -> None:
        self.prepare(context)
        self._task = asyncio.create_task(self._watch_loop(), name=f"medo-watch-{self.name}")

    def prepare(self, context: AdapterContext) -> None:
        """Everything ``start`` does but watching (tests drive ``poll_once`` themselves)."""
        self._context = context
        for folder in (self.incoming, self.outgoing, self.quarantine, self.pending):
            folder.mkdir(parents=True, exist_ok=True)
        self._trust = self._load_trust()
        self._signer = self._load_signer()

    def _load_trust(self) -> GostTrustStore:
        s = self.settings
        try:
            return GostTrustStore.from_files([s.path(p) for p in s.trust])
        except (OSError, SmevError) as exc:
            raise MedoConfigError(f"adapters.{self.name}.trust: {exc}") from None

    def _load_signer(self) -> CmsSigner | None:
        from adapters.smev.crypto.signers import ExternalCommandSigner, GostSigner

        s = self.settings
        try:
            if s.key:
                return GostSigner.from_files(s.path(s.key), s.path(s.cert))
            if s.sign_command:
                cert = s.path(s.cert).read_bytes()
                from adapters.smev.crypto.certificates import load_certificate

                return ExternalCommandSigner(
                    s.sign_command,
                    load_certificate(cert).der,
                    output_format=s.sign_command_format,
                )
        except (OSError, SmevError) as exc:
            raise MedoConfigError(f"adapters.{self.name}: the signing key: {exc}") from None
        return None

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    async def ping(self) -> bool:
        return self._ok and self.outgoing.is_dir() and self.incoming.is_dir()

    @property
    def context(self) -> AdapterContext:
        if self._context is None:
            raise RuntimeError("medo adapter is not started")
        return self._context

    def _uid_of(self, participant: str) -> str | None:
        return self.context.participant_attribute("medo_uid").get(participant, "").lower() or None

    def _participant_of(self, uid: str) -> str | None:
        for participant, value in self.context.participant_attribute("medo_uid").items():
            if value.lower() == uid.lower():
                return participant
        return None

    # ------------------------------------------------------------------------- outbound
    async def deliver(self, message: OutboundMessage) -> Outcome:
        if self._context is None:
            return Outcome.transient("medo adapter is not started")
        address = message.destination.address
        uid = self._uid_of(message.recipient)
        if uid is None and _is_guid(address):
            uid = address.lower()
        if uid is None:
            return Outcome.permanent(
                f"medo: {message.recipient} has no medo_uid in participants.yaml (and the route's "
                f"address {address!r} is no MEDO GUID)"
            )
        try:
            envelope = parse_envelope(message.body)
        except EnvelopeError as exc:
            return Outcome.permanent(f"medo: the envelope cannot be read: {exc}")
        destination = Party(uid, message.recipient)
        notice = read_notice(envelope.payload)
        try:
            if notice is not None:
                return await self._send_notification(message, notice, destination)
            return await self._send_document(message, envelope, destination)
        except PackageError as exc:
            return Outcome.permanent(f"medo: {exc}")
        except SmevError as exc:  # the signer (an external command, a key) failed: ours to fix
            self._ok = False
            return Outcome.transient(f"medo: signing failed: {exc}")
        except OSError as exc:
            self._ok = False
            return Outcome.transient(f"medo: {self.outgoing}: {exc}")

    async def _send_document(
        self, message: OutboundMessage, envelope: Any, destination: Party
    ) -> Outcome:
        card = envelope.card
        if card is None:
            raise PackageError(
                "a document for MEDO needs a document card (envelope 1.1 DocumentCard): the "
                "passport is built from it"
            )
        if self._signer is None:
            raise PackageError("no signing key configured (key and cert, or sign_command)")
        files: dict[str, bytes] = {}
        for attachment in envelope.attachments:
            name = _unique(_safe_file_name(attachment.ref.file_name), files)
            files[name] = attachment.content
        for reference, content in await self._referenced(envelope.references):
            files[_unique(_safe_file_name(reference.ref.file_name), files)] = content
        if not files:  # the payload itself is the document
            from envelopes.codec import to_bytes

            files["document.xml"] = to_bytes(envelope.payload)
        names = list(files)
        uid = str(derived_id("out", message.message_id))
        passport = passport_of(card, uid, self.settings.organization, names[0], names[1:])
        outgoing = Message(PackageType.DOCUMENT, uid, compose.now(), self.us, [destination])
        signer = self._signer
        package = await asyncio.to_thread(
            compose.document_files, outgoing, passport, files, signer, card.title
        )
        await self.context.remember(
            f"number:{card.number}|{card.date.isoformat()}",
            message.message_id,
            json.dumps({"dir": "number", "sender": message.sender}),
        )
        await self._hand_over(uid, package, message.message_id, "document", destination.uid)
        return Outcome.delivered(f"MEDO package {uid} for {destination.uid}", reference=uid)

    async def _referenced(self, references: list[Any]) -> list[tuple[Any, bytes]]:
        """The content of attachments by reference (the hub's blobs), for the container: a
        package is built and signed in memory, so what it may hold is bounded by
        ``max_package_bytes`` (each file by the limit of incoming ones): above it, refused."""
        total = sum(r.ref.size for r in references)
        largest = max((r.ref.size for r in references), default=0)
        if total > self.settings.max_package_bytes or largest > self.limits.max_file_bytes:
            raise PackageError(
                f"the attachments by reference are {total} bytes (the largest {largest}); a "
                f"MEDO package may carry {self.settings.max_package_bytes} "
                f"(max_package_bytes), {self.limits.max_file_bytes} per file"
            )
        found = []
        for reference in references:
            try:
                content = b"".join([c async for c in self.context.read_blob(reference.digest_hex)])
            except NotImplementedError:
                raise PackageError(f"{reference.uri}: this hub keeps no blobs") from None
            if hashlib.sha256(content).digest() != reference.ref.sha256:
                raise PackageError(f"{reference.uri}: the blob is not the signed content")
            found.append((reference, content))
        return found

    async def _send_notification(
        self, message: OutboundMessage, notice: dict[str, str], destination: Party
    ) -> Outcome:
        kind = NOTIFICATIONS.get(notice["event"])
        if kind is None:
            return Outcome.delivered(
                f"MEDO has no notification for {notice['event']}: not sent to {destination.uid}"
            )
        original = await self._medo_uid_of(notice["document"])
        if original is None:
            raise PackageError(
                f"the notice is about {notice['document']}, which did not come by MEDO: "
                "there is no MEDO document to notify about"
            )
        answer = ""
        if notice.get("answer"):
            answer = await self._medo_uid_of(notice["answer"], direction="out") or ""
        text = notice.get("text", "")
        notification = Notification(
            type=kind,
            document_uid=original,
            time=_moment(notice.get("at", "")),
            number=notice.get("number", ""),
            date=dt.date.fromisoformat(notice["date"]) if notice.get("date") else None,
            reason=REFUSAL_TEXT.get(notice.get("reason", ""), "") + (f": {text}" if text else "")
            if kind == NotificationType.REFUSED
            else "",
            executor=notice.get("executor", ""),
            text=text if kind != NotificationType.REFUSED else "",
            answer_uid=answer,
            clause=notice.get("assignment", ""),
        )
        uid = str(derived_id("notification", message.message_id))
        files = compose.notification_files(uid, self.us, destination, notification)
        await self._hand_over(uid, files, message.message_id, "notification", destination.uid)
        return Outcome.delivered(f"MEDO notification «{kind.value}» {uid}", reference=uid)

    async def _medo_uid_of(self, message_id: str, direction: str = "in") -> str | None:
        """The MEDO uid of a hub message that came in (or went out) by MEDO."""
        for reference, data in await self.context.recall_by_message(message_id):
            if data.startswith(f'{{"dir": "{direction}"'):
                return reference
        return None

    async def _hand_over(
        self, uid: str, files: Mapping[str, bytes], message_id: str, kind: str, to: str
    ) -> None:
        """Remember the package, note it as pending, then write it (a crash in between
        leaves a pending entry whose package a redelivery writes)."""
        data = json.dumps({"dir": "out", "kind": kind, "to": to})
        await self.context.remember(uid, message_id, data)
        pending = {"uid": uid, "message": message_id, "kind": kind, "sent": time.time()}
        await asyncio.to_thread(_write_json, self.pending / f"{uid}.json", pending)
        await asyncio.to_thread(compose.write_package, self.outgoing, uid, files)
        self._ok = True

    async def refused(
        self,
        message_id: str,
        state: str,
        reasons: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> None:
        """The hub refused a document that came by MEDO: tell its sender with a notification
        «Отказано в регистрации» carrying the hub's reasons."""
        uid, source = headers.get("medo-uid", ""), headers.get("medo-source", "")
        if not uid or not source:
            return
        text = "; ".join(text for _, text in reasons) or state
        notification = Notification(
            NotificationType.REFUSED, uid, compose.now(), reason=f"Иная причина: {text}"[:4000]
        )
        reply = str(derived_id("refused", uid))
        files = compose.notification_files(reply, self.us, Party(source), notification)
        await asyncio.to_thread(compose.write_package, self.outgoing, reply, files)
        await self.context.record(
            message_id, State.NOTE, f"medo: «Отказано в регистрации» sent to {source}"
        )

    # -------------------------------------------------------------------------- inbound
    def _take_watch(self) -> bool:
        """Whether this process watches the folder (one watcher per folder, by a file lock)."""
        if self._lock_file is not None:
            return True
        handle = (self.state / "watch.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        return True

    async def _watch_loop(self) -> None:
        while True:
            try:
                if self._take_watch():
                    await self.poll_once()
                    await self.check_timeouts()
                self._ok = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._ok:
                    log.warning("medo %s: watching %s failed: %s", self.name, self.incoming, exc)
                self._ok = False
            await asyncio.sleep(self.settings.poll_interval)

    def _settled(self, folder: Path) -> bool:
        """A folder is taken once it has not changed for ``settle_seconds`` (the MEDO client
        may still be writing it)."""
        try:
            stats = [folder.stat(), *(p.stat() for p in folder.iterdir())]
        except OSError:
            return False
        signature = float(sum(s.st_mtime_ns + s.st_size for s in stats) + len(stats))
        now = time.monotonic()
        seen = self._seen.get(folder.name)
        if seen is None or seen[0] != signature:
            self._seen[folder.name] = (signature, now)
            return self.settings.settle_seconds == 0
        return now - seen[1] >= self.settings.settle_seconds

    async def poll_once(self) -> int:
        """Look at the incoming folder once; returns how many packages were handled."""
        handled = 0
        for folder in _oldest_first(self.incoming):
            if folder.name.startswith(compose.TEMP_PREFIX + "done-"):
                await asyncio.to_thread(compose.remove_package, folder)  # a crash mid-removal
                continue
            if folder.name.startswith(".") or not folder.is_dir() or not self._settled(folder):
                continue
            try:
                await self.handle(folder)
            except HubUnavailable:
                raise  # not the package's fault: end this look, try again later
            except Exception as exc:  # a bug or a surprise: retry a few times, then set aside
                failures = self._failures.get(folder.name, 0) + 1
                self._failures[folder.name] = failures
                if failures < MAX_ATTEMPTS:
                    log.warning(
                        "medo %s: %s: %r (attempt %d)", self.name, folder.name, exc, failures
                    )
                    continue
                log.exception("medo %s: %s keeps failing; quarantined", self.name, folder.name)
                reason = f"could not be processed after {failures} attempts: {exc!r}"
                await self._quarantine(folder, reason, None)
            self._failures.pop(folder.name, None)
            self._seen.pop(folder.name, None)
            handled += 1
        return handled

    async def handle(self, folder: Path) -> str:
        """Accept or quarantine one package folder; returns what became of it."""
        try:
            files = await asyncio.to_thread(read_folder, folder, self.limits)
            package = await asyncio.to_thread(parse_package, files, self.limits)
        except PackageError as exc:
            known = exc.message if isinstance(exc.message, Message) else None
            return await self._quarantine(folder, str(exc), known)
        try:
            verdict = await self._accept(package)
        except PackageError as exc:
            return await self._quarantine(folder, str(exc), package.message)
        if package.message.type != PackageType.ACKNOWLEDGMENT:
            await self._acknowledge(package.message, True, "")
        compose.failpoint("accepted-before-remove")
        await asyncio.to_thread(compose.remove_package, folder)
        log.info("medo %s: %s: %s", self.name, folder.name, verdict)
        return verdict

    async def _accept(self, package: Package) -> str:
        message = package.message
        ours = [d.uid for d in message.destinations]
        if ours and self.settings.uid not in ours:
            raise PackageError(f"the package is addressed to {', '.join(ours)}, not to us")
        if message.type == PackageType.ACKNOWLEDGMENT:
            return await self._acknowledged(package)
        sender = self._participant_of(message.source.uid)
        if sender is None:
            raise PackageError(
                f"the sender's MEDO GUID {message.source.uid} belongs to no participant "
                "(medo_uid in participants.yaml)"
            )
        if message.type == PackageType.NOTIFICATION:
            return await self._notified(package, sender)
        assert self._trust is not None
        trust = self._trust
        await asyncio.to_thread(verify_package, package, trust)
        return await self._submit_document(package, sender)

    async def _submit_document(self, package: Package, sender: str) -> str:
        passport = package.passport
        assert passport is not None
        answers = None
        recipient = self.settings.inbound_recipient
        if passport.answers_number:  # an answer to one of ours goes to the department that asked
            day = passport.answers_date.isoformat() if passport.answers_date else ""
            known = await self.context.recall(f"number:{passport.answers_number}|{day}")
            if known is not None:
                answers = known[0]
                recipient = json.loads(known[1] or "{}").get("sender") or recipient
        message_id, unsigned = wrap(package, sender=sender, recipient=recipient, answers=answers)
        signed = self.context.sign_envelope(unsigned)
        headers = {
            "message-id": message_id,
            "sender": sender,
            "medo-uid": package.uid,
            "medo-source": package.message.source.uid,
        }
        try:
            await self.context.submit(InboundMessage(signed, SOURCE, headers))
        except Exception as exc:
            raise HubUnavailable(f"the hub did not take {package.uid}: {exc!r}") from exc
        data = json.dumps({"dir": "in", "from": package.message.source.uid})
        await self.context.remember(package.uid, message_id, data)
        return f"document {package.uid} from {sender} submitted as {message_id}"

    async def _notified(self, package: Package, sender: str) -> str:
        notification = package.message.notification
        assert notification is not None
        known = await self.context.recall(notification.document_uid)
        if known is None:
            raise PackageError(
                f"the notification is about document {notification.document_uid}, which the "
                "hub did not send"
            )
        message_id = known[0]
        fields = {
            "number": notification.number,
            "date": notification.date.isoformat() if notification.date else "",
            "reason": notification.reason,
            "executor": notification.executor,
            "text": notification.text,
        }
        detail = f"{sender}: " + stage_detail(notification.type, fields)
        stage = STAGES[notification.type]
        if stage is None:
            await self.context.record(message_id, State.NOTE, f"medo: {detail}")
        else:
            await self.context.record_stage(message_id, stage, detail)
        if notification.answer_uid:
            answer = await self.context.recall(notification.answer_uid)
            if answer is not None:
                await self.context.record(message_id, State.NOTE, f"medo: answer {answer[0]}")
        return f"notification «{notification.type.value}» about {message_id}"

    async def _acknowledged(self, package: Package) -> str:
        ack = package.message.acknowledgment
        assert ack is not None
        known = await self.context.recall(ack.uid)
        if known is None:
            raise PackageError(f"the acknowledgment is for {ack.uid}, which the hub did not send")
        message_id = known[0]
        if ack.accepted:
            await self.context.record(
                message_id,
                State.ACKNOWLEDGED,
                f"medo: {package.message.source.uid} acknowledged package {ack.uid}",
            )
        else:
            reason = ack.comment or "no reason given"
            await self.context.notify_sender(
                message_id,
                State.FAILED,
                [
                    (
                        "medo_not_accepted",
                        f"MEDO: {package.message.source.uid} did not accept "
                        f"package {ack.uid}: {reason}",
                    )
                ],
            )
        with contextlib.suppress(FileNotFoundError):
            (self.pending / f"{ack.uid}.json").unlink()
        return f"acknowledgment of {ack.uid} ({'accepted' if ack.accepted else 'refused'})"

    async def _acknowledge(self, message: Message, accepted: bool, comment: str) -> None:
        source = message.source
        ack = Acknowledgment(message.uid, accepted, compose.now(), comment[:4000])
        uid = str(derived_id("ack", source.uid, message.uid))
        files = compose.acknowledgment_files(uid, self.us, source, ack)
        await asyncio.to_thread(compose.write_package, self.outgoing, uid, files)

    async def _quarantine(self, folder: Path, reason: str, message: Message | None) -> str:
        """Set a package aside with a reason file; tell its sender where we know who it is."""
        summary = f"quarantined: {reason}"
        log.warning("medo %s: %s %s", self.name, folder.name, summary)
        text = (
            f"Пакет МЭДО не принят / MEDO package not accepted\n"
            f"Пакет / package: {folder.name}\n"
            f"Время / time: {compose.now().isoformat()}\n"
            f"Причина / reason: {reason}\n"
        )
        refuse = message is not None and message.type != PackageType.ACKNOWLEDGMENT
        if message is not None and refuse:
            text += f"Квитанция об отказе / refusal sent to: {message.source.uid}\n"
        await asyncio.to_thread(_quarantine_folder, folder, self.quarantine, text)
        if message is not None and refuse:
            await self._acknowledge(message, False, reason)
        return summary

    async def check_timeouts(self) -> int:
        """Mark failed the packages not acknowledged within ``ack_timeout_hours``."""
        limit = self.settings.ack_timeout_hours * 3600
        count = 0
        for entry in sorted(self.pending.glob("*.json")):
            try:
                pending = json.loads(entry.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if time.time() - float(pending.get("sent", 0)) < limit:
                continue
            hours = self.settings.ack_timeout_hours
            await self.context.notify_sender(
                str(pending["message"]),
                State.FAILED,
                [
                    (
                        "medo_unacknowledged",
                        f"MEDO: package {pending['uid']} was not acknowledged "
                        f"within {hours:g} h (no «Квитанция»)",
                    )
                ],
            )
            entry.unlink(missing_ok=True)
            count += 1
        return count


def _quarantine_folder(folder: Path, quarantine: Path, text: str) -> None:
    """Reason file first (atomically), then the package folder, renamed as it is."""
    name = folder.name
    n = 1
    while (quarantine / name).exists():
        n += 1
        name = f"{folder.name}.{n}"
    temp = quarantine / f".{name}{REASON_SUFFIX}"
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, quarantine / f"{name}{REASON_SUFFIX}")
    os.rename(folder, quarantine / name)
    compose._fsync_dir(quarantine)


def _oldest_first(folder: Path) -> list[Path]:
    """The folder's entries in the order they were written (a registration before the report
    that follows it), by name where that is equal."""
    entries = []
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            entries.append((entry.stat().st_mtime_ns, entry.name, entry))
    return [entry for _, _, entry in sorted(entries)]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}")
    with temp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def _is_guid(value: str) -> bool:
    from adapters.medo.settings import GUID

    return bool(GUID.match(value))


def _safe_file_name(name: str) -> str:
    cleaned = "".join(c for c in name.replace("\\", "_").replace("/", "_") if c.isprintable())
    cleaned = cleaned.strip(". ") or "file"
    return cleaned[:200]


def _unique(name: str, taken: Mapping[str, bytes]) -> str:
    if name not in taken and not name.endswith(".p7s") and name != "passport.xml":
        return name
    stem, dot, suffix = name.rpartition(".")
    n = 2
    while True:
        candidate = f"{stem or suffix}-{n}{dot}{suffix if stem else ''}"
        if candidate not in taken:
            return candidate
        n += 1


def _moment(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return compose.now()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def create(settings: Mapping[str, Any]) -> MedoAdapter:
    return MedoAdapter(load_settings(dict(settings)))
