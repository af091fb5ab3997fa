"""The envelope as data: a validated header, the payload element and the attachments."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from lxml import etree
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from envelopes.ids import MESSAGE_TYPE_PATTERN as MESSAGE_TYPE_PATTERN
from envelopes.ids import PARTICIPANT_PATTERN as PARTICIPANT_PATTERN

ParticipantId = Annotated[str, StringConstraints(pattern=PARTICIPANT_PATTERN, max_length=128)]
MessageType = Annotated[str, StringConstraints(pattern=MESSAGE_TYPE_PATTERN, max_length=512)]


class Kind(StrEnum):
    """What an envelope is to its conversation."""

    REQUEST = "request"
    RESPONSE = "response"
    NOTICE = "notice"
    RECEIPT = "receipt"
    ERROR = "error"


class Urgency(StrEnum):
    """How fast a document must be executed (its default term: 30, 10 or 3 calendar days)."""

    NORMAL = "normal"
    OPERATIVE = "operative"  # «оперативно»
    URGENT = "urgent"  # «срочно»


class DocumentKind(StrEnum):
    """What a document is, as a registration journal files it."""

    LETTER = "letter"  # письмо
    ORDER = "order"  # приказ
    RESOLUTION = "resolution"  # постановление
    DIRECTIVE = "directive"  # распоряжение
    APPLICATION = "application"  # заявление
    REQUEST = "request"  # запрос
    APPEAL = "appeal"  # обращение
    COMPLAINT = "complaint"  # жалоба
    REPORT = "report"  # доклад, отчёт
    ACT = "act"  # акт
    CONTRACT = "contract"  # договор
    PROTOCOL = "protocol"  # протокол
    MEMO = "memo"  # служебная записка
    OTHER = "other"


Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
DocumentNumber = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")
]


class Person(BaseModel):
    """Someone by name, with a post where it matters (a signatory)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ShortText
    post: ShortText | None = None


class Contact(BaseModel):
    """Whom to call about a document (its executor at the sender)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ShortText
    phone: ShortText | None = None


class DocumentCard(BaseModel):
    """The document's card (envelope 1.1): the registration facts records management keeps,
    signed with the document. Field names are the keys of ``hub envelope new --card``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DocumentKind
    title: Text
    number: DocumentNumber  # the sender's registration number («исх. №»)
    date: dt.date  # and its date
    answers_number: DocumentNumber | None = None  # the document this answers («на №»)
    answers_date: dt.date | None = None
    signatory: Person | None = None
    addressees: list[ShortText] = Field(default_factory=list, max_length=100)
    urgency: Urgency = Urgency.NORMAL
    restriction: ShortText | None = None  # an access restriction, e.g. «ДСП»
    pages: int | None = Field(default=None, ge=1)
    control_term: dt.date | None = None  # the execution term the sender asks for
    contact: Contact | None = None

    @model_validator(mode="after")
    def _answers_whole(self) -> DocumentCard:
        if (self.answers_number is None) != (self.answers_date is None):
            raise ValueError("answers_number and answers_date go together")
        return self


class Header(BaseModel):
    """Who sends what to whom; the part of the envelope every step reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: UUID
    sender: ParticipantId
    recipient: ParticipantId
    message_type: MessageType
    kind: Kind
    created: AwareDatetime
    correlation_id: UUID | None = None
    conversation_id: UUID | None = None
    expires_at: AwareDatetime | None = None
    priority: int | None = Field(default=None, ge=0, le=9)
    test: bool = False


class AttachmentRef(BaseModel):
    """An attachment's manifest entry: what the sender's signature covers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")]
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    media_type: str
    size: int = Field(ge=0)
    sha256: bytes = Field(min_length=32, max_length=32)

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(self.sha256).decode("ascii")


@dataclass(frozen=True)
class Attachment:
    """An attachment with its content."""

    ref: AttachmentRef
    content: bytes

    @classmethod
    def from_bytes(
        cls, attachment_id: str, file_name: str, media_type: str, content: bytes
    ) -> Attachment:
        ref = AttachmentRef(
            id=attachment_id,
            file_name=file_name,
            media_type=media_type,
            size=len(content),
            sha256=hashlib.sha256(content).digest(),
        )
        return cls(ref=ref, content=content)


BLOB_URI_PREFIX = "blob:sha256:"  # a content reference: the blob store's key, lower-case hex


def blob_uri(sha256: bytes) -> str:
    """The content reference of content with this SHA-256 digest."""
    return BLOB_URI_PREFIX + sha256.hex()


@dataclass(frozen=True)
class ContentReference:
    """An attachment carried by reference (a claim check): its signed manifest entry and the
    blob that holds the content, named by its SHA-256 (``blob:sha256:<hex>``)."""

    ref: AttachmentRef
    uri: str

    @property
    def digest_hex(self) -> str:
        """The blob's key: the lower-case hex SHA-256 of the content."""
        return self.uri.removeprefix(BLOB_URI_PREFIX)

    @classmethod
    def for_ref(cls, ref: AttachmentRef) -> ContentReference:
        """The reference to the content a manifest entry signs."""
        return cls(ref=ref, uri=blob_uri(ref.sha256))


@dataclass
class Envelope:
    """A parsed envelope: header and payload come from ``root`` (the whole document)."""

    header: Header
    payload: etree._Element
    attachments: list[Attachment] = field(default_factory=list)
    root: etree._Element | None = None
    card: DocumentCard | None = None
    references: list[ContentReference] = field(default_factory=list)  # content by reference

    @property
    def message_id(self) -> str:
        return str(self.header.message_id)
