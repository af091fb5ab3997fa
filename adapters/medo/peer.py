"""A MEDO peer for tests and the demo: a federal body at the other end of the MEDO client.

It takes the hub's packages from one folder (the hub's ``outgoing``) and writes its own into
another (the hub's ``incoming``): acknowledgments, notifications and answers, signed with its
own GOST key. Every step is a method, so a test decides when each happens; ``run`` strings
them into the schedule ``hub medo-peer`` follows. It can also write the older 2.x dialect
(windows-1251 message, files beside it) and damaged packages, to exercise the hub's checks.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from adapters.medo import compose, envelope_ini
from adapters.medo.cms import CmsSigner, sign_detached
from adapters.medo.errors import PackageError
from adapters.medo.messages import XDMS_NS
from adapters.medo.model import (
    Acknowledgment,
    Message,
    Notification,
    NotificationType,
    Package,
    PackageType,
    Party,
    Passport,
    Signed,
)
from adapters.medo.package import parse_package, read_folder, verify_package
from adapters.smev.crypto.certificates import GostTrustStore

_X = "{" + XDMS_NS + "}"


@dataclass
class Peer:
    """One federal body. ``inbox``: where the hub's packages arrive; ``outbox``: where ours go."""

    inbox: Path
    outbox: Path
    uid: str
    organization: str
    signer: CmsSigner
    trust: GostTrustStore | None = None
    dialect: str = "2.7.1"
    received: list[Package] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (folder, reason)
    counter: int = 0

    @property
    def party(self) -> Party:
        return Party(self.uid, self.organization)

    # ------------------------------------------------------------------------ receiving
    def take(self, *, acknowledge: bool = True) -> list[Package]:
        """Every whole package in the inbox, checked, acknowledged and removed from it."""
        taken: list[Package] = []
        for folder in sorted(self.inbox.iterdir()) if self.inbox.is_dir() else []:
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            try:
                package = parse_package(read_folder(folder))
                if package.message.type == PackageType.DOCUMENT and self.trust is not None:
                    verify_package(package, self.trust)
            except PackageError as exc:
                self.refused.append((folder.name, str(exc)))
                compose.remove_package(folder)
                continue
            compose.remove_package(folder)
            self.received.append(package)
            taken.append(package)
            if acknowledge and package.message.type != PackageType.ACKNOWLEDGMENT:
                self.acknowledge(package)
        return taken

    def acknowledge(self, package: Package, accepted: bool = True, comment: str = "") -> str:
        ack = Acknowledgment(package.uid, accepted, compose.now(), comment)
        uid = self._uid()
        to = Party(package.message.source.uid, package.message.source.organization)
        self._write(uid, compose.acknowledgment_files(uid, self.party, to, ack))
        return uid

    # -------------------------------------------------------------------------- sending
    def notify(self, document: Package, kind: NotificationType, **details: str) -> str:
        """A notification about one of the hub's documents (number, date, reason, executor,
        text, answer_uid)."""
        day = details.pop("date", "")
        note = Notification(
            kind,
            document.uid,
            compose.now(),
            date=dt.date.fromisoformat(day) if day else None,
            **details,
        )
        uid = self._uid()
        to = Party(document.message.source.uid, document.message.source.organization)
        self._write(uid, compose.notification_files(uid, self.party, to, note))
        return uid

    def send_document(
        self,
        to: str,
        files: Mapping[str, bytes],
        *,
        title: str,
        number: str,
        kind: str = "Письмо",
        answers: Passport | None = None,
        signatory: str = "Петров Пётр Петрович",
        dialect: str | None = None,
    ) -> str:
        """A signed document for the hub (``to``: its MEDO GUID); the first file is the main
        one. ``answers``: the passport of the hub's document this one answers."""
        uid = self._uid()
        names = list(files)
        passport = Passport(
            uid=uid,
            kind=kind,
            annotation=title,
            number=number,
            date=compose.now().date(),
            organization=self.organization,
            signatory=signatory,
            signatory_post="Заместитель министра",
            executor="Сидорова Анна",
            executor_phone="+7 495 000-00-00",
            addressees=["Администрация города"],
            document=Signed(names[0]),
            pages=1,
            attachments=[Signed(n, description=n) for n in names[1:]],
            answers_number=answers.number if answers else "",
            answers_date=answers.date if answers else None,
        )
        destination = Party(to, "Администрация города")
        if (dialect or self.dialect) == "2.7.1":
            message = Message(PackageType.DOCUMENT, uid, compose.now(), self.party, [destination])
            package = compose.document_files(message, passport, files, self.signer, title)
        else:
            package = self.xdms_document(uid, destination, passport, files)
        self._write(uid, package)
        return uid

    def answer(self, document: Package, files: Mapping[str, bytes], title: str) -> str:
        """An answer to one of the hub's documents, then «Доклад направлен» naming it."""
        assert document.passport is not None
        answer = self.send_document(
            document.message.source.uid,
            files,
            title=title,
            number=f"ОТВ-{self.counter}",
            answers=document.passport,
        )
        self.notify(document, NotificationType.REPORT_SENT, answer_uid=answer)
        return answer

    def xdms_document(
        self, uid: str, destination: Party, passport: Passport, files: Mapping[str, bytes]
    ) -> dict[str, bytes]:
        """A 2.x ("xdms") document package: the message in windows-1251, files beside it."""
        root = etree.Element(_X + "communication", nsmap={"xdms": XDMS_NS})
        root.set(_X + "version", "2.6")
        header = etree.SubElement(root, _X + "header")
        header.set(_X + "type", "Документ")
        header.set(_X + "uid", uid)
        header.set(_X + "created", compose.now().isoformat())
        source = etree.SubElement(header, _X + "source")
        source.set(_X + "uid", self.uid)
        etree.SubElement(source, _X + "organization").text = self.organization
        document = etree.SubElement(root, _X + "document")
        document.set(_X + "uid", uid)
        etree.SubElement(document, _X + "kind").text = passport.kind
        num = etree.SubElement(document, _X + "num")
        etree.SubElement(num, _X + "number").text = passport.number
        etree.SubElement(num, _X + "date").text = passport.date.isoformat()
        etree.SubElement(document, _X + "annotation").text = passport.annotation
        signatory = etree.SubElement(
            etree.SubElement(document, _X + "signatories"), _X + "signatory"
        )
        etree.SubElement(signatory, _X + "person").text = passport.signatory
        etree.SubElement(signatory, _X + "post").text = passport.signatory_post
        addressee = etree.SubElement(
            etree.SubElement(document, _X + "addressees"), _X + "addressee"
        )
        etree.SubElement(addressee, _X + "organization").text = destination.organization
        etree.SubElement(document, _X + "pages").text = str(passport.pages or 1)
        if passport.answers_number and passport.answers_date:
            link = etree.SubElement(etree.SubElement(document, _X + "links"), _X + "link")
            link.set(_X + "type", "В ответ на")
            num = etree.SubElement(etree.SubElement(link, _X + "reference"), _X + "num")
            etree.SubElement(num, _X + "number").text = passport.answers_number
            etree.SubElement(num, _X + "date").text = passport.answers_date.isoformat()
        listing = etree.SubElement(root, _X + "files")
        package: dict[str, bytes] = {}
        for n, name in enumerate(files):
            entry = etree.SubElement(listing, _X + "file")
            entry.set(_X + "localName", name)
            entry.set(_X + "localId", str(n))
            package[name] = files[name]
            package[f"{name}.p7s"] = sign_detached(files[name], self.signer)
        message = etree.tostring(root, xml_declaration=True, encoding="windows-1251")
        assert isinstance(message, bytes)
        listed = {"document.xml": message, **package}
        envelope = envelope_ini.EnvelopeFile(
            subject=passport.annotation,
            signed=True,
            addressees=[destination.uid],
            files=list(listed),
        )
        return {"envelope.ini": envelope_ini.render(envelope), **listed}

    # ---------------------------------------------------------------------------- steps
    def step(self, answer_text: bytes = b"%PDF-1.4\n% answer\n") -> list[str]:
        """The schedule ``hub medo-peer`` follows, one round: take what came (acknowledging it),
        then for each document: registered, executor assigned, answered (report sent)."""
        done: list[str] = []
        for package in self.take():
            done.append(f"received {package.message.type.value} {package.uid}")
            if package.message.type != PackageType.DOCUMENT:
                continue
            self.counter += 1
            self.notify(
                package,
                NotificationType.REGISTERED,
                number=f"ВХ-{self.counter}",
                date=compose.now().date().isoformat(),
            )
            self.notify(package, NotificationType.EXECUTOR_ASSIGNED, executor="Сидорова Анна")
            self.answer(package, {"Ответ.pdf": answer_text}, "Ответ на обращение администрации")
            done.append(f"registered, assigned and answered {package.uid}")
        return done

    def _uid(self) -> str:
        self.counter += 1
        return str(uuid.uuid4())

    def _write(self, uid: str, files: Mapping[str, bytes]) -> None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        compose.write_package(self.outbox, uid, files)
