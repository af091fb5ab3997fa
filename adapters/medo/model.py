"""A MEDO package as data: the passport (document card), notifications, acknowledgments.

Plain dataclasses with the facts the hub uses; ``messages.py`` turns them into XML and back,
``package.py`` reads whole packages.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

VERSION = "2.7.1"
CONTAINER_NAME = "container.edc.zip"
MESSAGE_NAME = "message.xml"
PASSPORT_NAME = "passport.xml"


class PackageType(enum.StrEnum):
    """What a package carries (the header's ``type``)."""

    DOCUMENT = "Транспортный контейнер"
    NOTIFICATION = "Уведомление"
    ACKNOWLEDGMENT = "Квитанция"


class NotificationType(enum.StrEnum):
    """The MEDO notification types (the reference summary's list)."""

    REGISTERED = "Зарегистрирован"
    REFUSED = "Отказано в регистрации"
    EXECUTOR_ASSIGNED = "Назначен исполнитель"
    REPORT_PREPARED = "Доклад подготовлен"
    REPORT_SENT = "Доклад направлен"
    PROGRESS = "Исполнение"
    PUBLISHED = "Опубликование"


@dataclass
class Signed:
    """A file of the document and its detached signature (a file name in the same place)."""

    name: str
    signature: str | None = None
    description: str = ""
    signature_type: str = "Утверждающая"


@dataclass
class Passport:
    """The document card as MEDO tells it (container passport 2.7.1, or a 2.x document)."""

    uid: str
    kind: str
    annotation: str
    number: str
    date: dt.date
    organization: str
    kind_code: str = ""
    classification: str = ""
    signatory: str = ""
    signatory_post: str = ""
    executor: str = ""
    executor_phone: str = ""
    addressees: list[str] = field(default_factory=list)
    document: Signed = field(default_factory=lambda: Signed(""))
    pages: int | None = None
    attachments: list[Signed] = field(default_factory=list)
    answers_number: str = ""  # 2.x links "В ответ на"/"На №"
    answers_date: dt.date | None = None


@dataclass
class Notification:
    """A MEDO notification about a document (its MEDO uid)."""

    type: NotificationType
    document_uid: str
    time: dt.datetime
    number: str = ""  # registered: the recipient's registration number and date
    date: dt.date | None = None
    reason: str = ""  # refused: the reason
    executor: str = ""  # executor assigned
    text: str = ""  # progress, report
    answer_uid: str = ""  # report sent: the answer's uid
    clause: str = ""


@dataclass
class Acknowledgment:
    """A receipt for a package (its header uid): accepted or not, and why."""

    uid: str
    accepted: bool
    time: dt.datetime
    comment: str = ""


@dataclass
class Party:
    """A body by its MEDO GUID and name."""

    uid: str
    organization: str = ""


@dataclass
class Message:
    """The message file of a package: who sends what to whom."""

    type: PackageType
    uid: str
    created: dt.datetime
    source: Party
    destinations: list[Party] = field(default_factory=list)
    version: str = VERSION
    container: str = ""  # a document: the ZIP's name (2.7.1)
    notification: Notification | None = None
    acknowledgment: Acknowledgment | None = None
    passport: Passport | None = None  # 2.x: the card is inline; 2.7.1: read from the ZIP
    files: list[str] = field(default_factory=list)  # 2.x: the document's files, in the folder


@dataclass
class Package:
    """A parsed package: its message, the document's files, and the folder byte for byte."""

    message: Message
    subject: str
    message_name: str
    folder: dict[str, bytes]  # every file of the package folder, as read
    documents: dict[str, bytes] = field(default_factory=dict)  # the document's files (+ .p7s)
    signers: dict[str, list[str]] = field(default_factory=dict)  # file → who signed (verified)

    @property
    def uid(self) -> str:
        return self.message.uid

    @property
    def passport(self) -> Passport | None:
        return self.message.passport
