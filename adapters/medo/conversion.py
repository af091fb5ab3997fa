"""Between the hub's vocabulary and MEDO's: a package as a hub envelope, a document card as a
passport, execution notices as MEDO notifications and back.

Everything a wrapped envelope holds comes from the package's bytes (ids by uuid5, times from the
package), so a package read twice after a crash becomes the same envelope and the hub records
the second submission as a duplicate.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from lxml import etree

from adapters.medo.compose import zip_files
from adapters.medo.model import NotificationType, Package, Passport, Signed
from envelopes.codec import build_envelope, to_bytes
from envelopes.model import Attachment, Contact, DocumentCard, DocumentKind, Header, Kind, Person
from hub.abc import Stage

PAYLOAD_NS = "urn:interagency-hub:payload:medo:1.0"
PAYLOAD_TYPE = "{" + PAYLOAD_NS + "}MedoDocument"
NOTICE_NS = "urn:interagency-hub:execution:1.0"  # hub execution notices (xsd/hub)
_P = "{" + PAYLOAD_NS + "}"
_N = "{" + NOTICE_NS + "}"
ORIGINAL_NAME = "medo-package.zip"
_IDS = uuid.UUID("5b0d6a3e-7c1f-4e52-9d8a-2f6e1c3b4a71")  # uuid5 namespace of MEDO-made ids

KINDS: dict[DocumentKind, str] = {
    DocumentKind.LETTER: "Письмо",
    DocumentKind.ORDER: "Приказ",
    DocumentKind.RESOLUTION: "Постановление",
    DocumentKind.DIRECTIVE: "Распоряжение",
    DocumentKind.APPLICATION: "Заявление",
    DocumentKind.REQUEST: "Запрос",
    DocumentKind.APPEAL: "Обращение",
    DocumentKind.COMPLAINT: "Жалоба",
    DocumentKind.REPORT: "Доклад",
    DocumentKind.ACT: "Акт",
    DocumentKind.CONTRACT: "Договор",
    DocumentKind.PROTOCOL: "Протокол",
    DocumentKind.MEMO: "Служебная записка",
    DocumentKind.OTHER: "Документ",
}
_KIND_BY_NAME = {name.lower(): kind for kind, name in KINDS.items()}

# MEDO notifications → execution stages on the document's timeline
STAGES: dict[NotificationType, Stage | None] = {
    NotificationType.REGISTERED: Stage.REGISTERED,
    NotificationType.REFUSED: Stage.REGISTRATION_REFUSED,
    NotificationType.EXECUTOR_ASSIGNED: Stage.EXECUTOR_ASSIGNED,
    NotificationType.PROGRESS: Stage.IN_PROGRESS,
    NotificationType.REPORT_PREPARED: Stage.REPORT_PREPARED,
    NotificationType.REPORT_SENT: Stage.EXECUTED,
    NotificationType.PUBLISHED: None,  # a note on the timeline; no execution stage
}
# execution notices of our departments → MEDO notifications (the rest have none)
NOTIFICATIONS: dict[str, NotificationType] = {
    "Registered": NotificationType.REGISTERED,
    "RegistrationRefused": NotificationType.REFUSED,
    "ExecutorAssigned": NotificationType.EXECUTOR_ASSIGNED,
    "InProgress": NotificationType.PROGRESS,
    "ReportPrepared": NotificationType.REPORT_PREPARED,
    "Executed": NotificationType.REPORT_SENT,
}
REFUSAL_TEXT = {
    "not_to_be_registered": "Не подлежит регистрации",
    "wrong_addressee": "Ошибка адресации",
    "no_signature": "Отсутствует подпись",
    "illegible": "Нечитаемый документ",
    "incomplete": "Документ неполный",
    "duplicate": "Повторное поступление",
    "other": "Иная причина",
}


def derived_id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, "\x1f".join(parts))


def _clip(text: str, limit: int, fallback: str = "—") -> str:
    text = " ".join(text.split())[:limit].strip()
    return text or fallback


def _number(text: str) -> str:
    return _clip(re.sub(r"\s+", " ", text), 64, "б/н")


def card_of(passport: Passport) -> DocumentCard:
    """The hub's document card for a passport."""
    answers = passport.answers_number and passport.answers_date
    return DocumentCard(
        kind=_KIND_BY_NAME.get(passport.kind.lower(), DocumentKind.OTHER),
        title=_clip(passport.annotation, 2000),
        number=_number(passport.number),
        date=passport.date,
        answers_number=_number(passport.answers_number) if answers else None,
        answers_date=passport.answers_date if answers else None,
        signatory=Person(
            name=_clip(passport.signatory, 200),
            post=_clip(passport.signatory_post, 200, "") or None,
        )
        if passport.signatory
        else None,
        addressees=[_clip(a, 200) for a in passport.addressees if a.strip()][:100],
        restriction=_clip(passport.classification, 200, "") or None,
        pages=passport.pages if passport.pages and passport.pages > 0 else None,
        contact=Contact(
            name=_clip(passport.executor, 200),
            phone=_clip(passport.executor_phone, 200, "") or None,
        )
        if passport.executor
        else None,
    )


def passport_of(
    card: DocumentCard, uid: str, organization: str, document: str, attachments: list[str]
) -> Passport:
    """A passport for a document card; ``document`` and ``attachments`` are file names."""
    return Passport(
        uid=uid,
        kind=KINDS[card.kind],
        annotation=card.title,
        number=card.number,
        date=card.date,
        organization=organization,
        classification=card.restriction or "",
        signatory=card.signatory.name if card.signatory else "",
        signatory_post=(card.signatory.post or "") if card.signatory else "",
        executor=card.contact.name if card.contact else "",
        executor_phone=(card.contact.phone or "") if card.contact else "",
        addressees=list(card.addressees),
        document=Signed(document),
        pages=card.pages,
        attachments=[Signed(name) for name in attachments],
        answers_number=card.answers_number or "",
        answers_date=card.answers_date,
    )


def wrap(
    package: Package,
    *,
    sender: str,
    recipient: str,
    answers: str | None,
) -> tuple[str, bytes]:
    """An unsigned hub envelope for a document package: (MessageId, XML).

    The document's files become attachments; the whole package folder travels as
    ``medo-package.zip`` (stored, not compressed: every file byte for byte).
    """
    message = package.message
    passport = package.passport
    assert passport is not None
    message_id = derived_id("in", message.source.uid, message.uid)
    payload = etree.Element(_P + "MedoDocument", nsmap={"m": PAYLOAD_NS})
    etree.SubElement(payload, _P + "Version").text = message.version
    etree.SubElement(payload, _P + "PackageUid").text = message.uid
    etree.SubElement(payload, _P + "Created").text = message.created.isoformat()
    source = etree.SubElement(payload, _P + "Source", Uid=message.source.uid)
    source.text = _clip(message.source.organization or passport.organization, 1000)
    if package.subject.strip():
        etree.SubElement(payload, _P + "Subject").text = _clip(package.subject, 1000)
    etree.SubElement(payload, _P + "DocumentKind").text = _clip(passport.kind, 200)
    etree.SubElement(payload, _P + "Annotation").text = _clip(passport.annotation, 4000)
    files = etree.SubElement(payload, _P + "Files")
    attachments: list[Attachment] = []
    for n, signed in enumerate([passport.document, *passport.attachments], start=1):
        role = "main" if n == 1 else "attachment"
        entry = etree.SubElement(files, _P + "File", Name=signed.name, Role=role)
        for signer in package.signers.get(signed.name, []):
            etree.SubElement(entry, _P + "SignedBy").text = _clip(signer, 1000)
        attachments.append(
            Attachment.from_bytes(
                f"medo-{n}", signed.name, _media_type(signed.name), package.documents[signed.name]
            )
        )
    original = zip_files(dict(sorted(package.folder.items())), compress=False)
    attachments.append(
        Attachment.from_bytes("medo-package", ORIGINAL_NAME, "application/zip", original)
    )
    header = Header(
        message_id=message_id,
        sender=sender,
        recipient=recipient,
        message_type=PAYLOAD_TYPE,
        kind=Kind.RESPONSE if answers else Kind.REQUEST,
        created=message.created,
        correlation_id=uuid.UUID(answers) if answers else None,
    )
    root = build_envelope(header, payload, attachments, card_of(passport))
    return str(message_id), to_bytes(root)


_MEDIA = {
    ".pdf": "application/pdf",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".rtf": "application/rtf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".p7s": "application/pkcs7-signature",
}


def _media_type(name: str) -> str:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return _MEDIA.get(suffix, "application/octet-stream")


def stage_detail(notification_type: NotificationType, fields: dict[str, str]) -> str:
    """How a MEDO notification reads on a timeline (Russian first)."""
    parts = [notification_type.value]
    if fields.get("number"):
        parts.append(f"№ {fields['number']}")
    if fields.get("date"):
        day = dt.date.fromisoformat(fields["date"])
        parts.append(f"от {day:%d.%m.%Y}")
    for key in ("reason", "executor", "text"):
        if fields.get(key):
            parts.append(fields[key])
    return ": ".join([parts[0], " ".join(parts[1:])]) if len(parts) > 1 else parts[0]


def read_notice(payload: etree._Element) -> dict[str, str] | None:
    """The facts of a hub ExecutionNotice payload (None if the payload is something else):
    document, event (element name) and the event's attributes and texts, lower-cased keys."""
    if payload.tag != _N + "ExecutionNotice":
        return None
    event = [e for e in payload if isinstance(e.tag, str)][-1]
    facts = {
        "document": (payload.findtext(_N + "Document") or "").strip(),
        "at": (payload.findtext(_N + "At") or "").strip(),
        "event": etree.QName(event).localname,
    }
    for key, value in event.attrib.items():
        facts[str(key).lower()] = str(value)
    for child in event:
        if isinstance(child.tag, str):
            facts[etree.QName(child).localname.lower()] = " ".join((child.text or "").split())
    return facts
