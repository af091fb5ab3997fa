"""The MEDO XML both ways: 2.7.1 message and container passport, and the older 2.x "xdms".

Written to our own schemas (``xsd/medo``: no official XSD for 2.7.1 is public) and read after
validating against them, so a reader here trusts the structure and only converts. 2.x is read
without a schema (its dialects vary), element by element, with a clear error for what is
missing.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from lxml import etree

from adapters.medo.errors import PackageError
from adapters.medo.model import (
    VERSION,
    Acknowledgment,
    Message,
    Notification,
    NotificationType,
    PackageType,
    Party,
    Passport,
    Signed,
)

MESSAGE_NS = "urn:IEDMS:MESSAGE"
CONTAINER_NS = "urn:IEDMS:CONTAINER"
XDMS_NS = "http://www.infpres.com/IEDMS"
_M = "{" + MESSAGE_NS + "}"
_C = "{" + CONTAINER_NS + "}"
_X = "{" + XDMS_NS + "}"


# ------------------------------------------------------------------------------------ schemas
def schema_dir() -> Path:
    """``xsd/medo`` in a checkout, or ``hub/_data/xsd/medo`` in an installed wheel."""
    top = Path(__file__).resolve().parents[2]
    for candidate in (top / "xsd" / "medo", top / "hub" / "_data" / "xsd" / "medo"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the MEDO schemas (xsd/medo) are missing from this installation")


@lru_cache(maxsize=4)
def schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(schema_dir() / name), parser))


def validate(root: etree._Element, name: str, what: str) -> None:
    """PackageError with the schema's first complaints unless ``root`` is valid."""
    checker = schema(name)
    if not checker.validate(root):
        log = list(checker.error_log)  # type: ignore[call-overload]  # lxml-stubs omit __iter__
        errors = [f"line {e.line}: {e.message}" for e in log]
        problems = "; ".join(errors[:3])
        raise PackageError(f"{what} does not follow the 2.7.1 schema ({name}): {problems}")


# ------------------------------------------------------------------------------------ writing
def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    prefix = tag[: tag.index("}") + 1]
    for key, value in attrs.items():
        element.set(prefix + key, value)
    if text is not None:
        element.text = text
    return element


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def message_xml(message: Message) -> bytes:
    """The 2.7.1 message file (UTF-8)."""
    root = etree.Element(_M + "communication", nsmap={"c": MESSAGE_NS})
    root.set(_M + "version", VERSION)
    header = _sub(
        root,
        _M + "header",
        type=message.type.value,
        uid=message.uid,
        created=_stamp(message.created),
    )
    source = _sub(header, _M + "source", uid=message.source.uid)
    _sub(source, _M + "organization", message.source.organization or message.source.uid)
    if message.type == PackageType.DOCUMENT:
        _sub(_sub(root, _M + "container"), _M + "body", message.container)
    elif message.acknowledgment is not None:
        ack = message.acknowledgment
        element = _sub(
            root,
            _M + "acknowledgment",
            uid=ack.uid,
            time=_stamp(ack.time),
            accepted="true" if ack.accepted else "false",
        )
        if ack.comment:
            _sub(element, _M + "comment", ack.comment[:4000])
    elif message.notification is not None:
        note = message.notification
        element = _sub(
            root,
            _M + "notification",
            type=note.type.value,
            uid=note.document_uid,
            time=_stamp(note.time),
        )
        for name, value in (
            ("number", note.number),
            ("date", note.date.isoformat() if note.date else ""),
            ("reason", note.reason),
            ("executor", note.executor),
            ("text", note.text),
            ("answer", note.answer_uid),
            ("clause", note.clause),
        ):
            if value:
                _sub(element, _M + name, value)
    index = _sub(_sub(root, _M + "deliveryIndex"), _M + "destination")
    for party in message.destinations:
        _sub(index, _M + "destination", uid=party.uid, organization=party.organization or party.uid)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def passport_xml(passport: Passport) -> bytes:
    """``passport.xml`` of the container (UTF-8)."""
    root = etree.Element(_C + "container", nsmap={"ct": CONTAINER_NS})
    root.set(_C + "uid", passport.uid)
    root.set(_C + "version", VERSION)
    requisites = _sub(root, _C + "requisites")
    _sub(requisites, _C + "documentKind", passport.kind, id=passport.kind_code or "DK0000")
    if passport.classification:
        _sub(requisites, _C + "classification", passport.classification, id="DC0001")
    _sub(requisites, _C + "annotation", passport.annotation)
    author = _sub(_sub(root, _C + "authors"), _C + "author")
    _sub(_sub(author, _C + "organization"), _C + "title", passport.organization)
    registration = _sub(author, _C + "registration")
    _sub(registration, _C + "number", passport.number)
    _sub(registration, _C + "date", passport.date.isoformat())
    if passport.signatory or passport.document.signature:
        sign = _sub(author, _C + "sign")
        person = _sub(sign, _C + "person")
        if passport.signatory_post:
            _sub(person, _C + "post", passport.signatory_post)
        _sub(person, _C + "name", passport.signatory or "—")
        if passport.document.signature:
            _sub(
                sign,
                _C + "documentSignature",
                localName=passport.document.signature,
                type=passport.document.signature_type,
            )
    if passport.executor:
        executor = _sub(author, _C + "executor")
        _sub(executor, _C + "name", passport.executor)
        if passport.executor_phone:
            _sub(executor, _C + "phone", passport.executor_phone)
    if passport.addressees:
        addressees = _sub(root, _C + "addressees")
        for title in passport.addressees:
            _sub(_sub(_sub(addressees, _C + "addressee"), _C + "organization"), _C + "title", title)
    document = _sub(root, _C + "document", localName=passport.document.name)
    if passport.pages is not None:
        _sub(document, _C + "pagesQuantity", str(passport.pages))
    if passport.attachments:
        attachments = _sub(root, _C + "attachments")
        for order, attachment in enumerate(passport.attachments, start=1):
            element = _sub(attachments, _C + "attachment", localName=attachment.name)
            _sub(element, _C + "order", str(order))
            _sub(element, _C + "description", attachment.description or attachment.name)
            if attachment.signature:
                _sub(element, _C + "signature", localName=attachment.signature)
    if passport.answers_number and passport.answers_date:
        link = _sub(_sub(root, _C + "links"), _C + "link", type="В ответ на")
        _sub(link, _C + "number", passport.answers_number)
        _sub(link, _C + "date", passport.answers_date.isoformat())
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# ------------------------------------------------------------------------------------ reading
def _text(parent: etree._Element | None, path: str) -> str:
    if parent is None:
        return ""
    found = parent.find(path)
    return " ".join((found.text or "").split()) if found is not None else ""


def _moment(value: str, what: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise PackageError(f"{what}: {value[:40]!r} is not a date and time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _day(value: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise PackageError(f"{what}: {value[:40]!r} is not a date") from None


def read_message(root: etree._Element) -> Message:
    """A message file of either dialect (its root says which)."""
    if root.tag == _M + "communication":
        validate(root, "message-2.7.1.xsd", "the message file")
        return _read_271(root)
    if root.tag == _X + "communication":
        return read_xdms(root)
    name = etree.QName(root)
    raise PackageError(
        f"the message file's root is {name.localname!r} in {name.namespace or 'no namespace'!r}: "
        f"neither MEDO 2.7.1 ({MESSAGE_NS}) nor 2.x ({XDMS_NS})"
    )


def _read_271(root: etree._Element) -> Message:
    header = root.find(_M + "header")
    assert header is not None  # the schema requires it
    source = header.find(_M + "source")
    assert source is not None
    destinations = [
        Party(d.get(_M + "uid", ""), d.get(_M + "organization", ""))
        for d in root.iterfind(f"{_M}deliveryIndex/{_M}destination/{_M}destination")
    ]
    message = Message(
        type=PackageType(header.get(_M + "type", "")),
        uid=header.get(_M + "uid", "").lower(),
        created=_moment(header.get(_M + "created", ""), "header/created"),
        source=Party(source.get(_M + "uid", "").lower(), _text(source, _M + "organization")),
        destinations=destinations,
        version=root.get(_M + "version", VERSION),
    )
    if message.type == PackageType.DOCUMENT:
        message.container = _text(root, f"{_M}container/{_M}body")
        if not message.container:
            raise PackageError("a document message names no container (container/body)")
    elif message.type == PackageType.ACKNOWLEDGMENT:
        ack = root.find(_M + "acknowledgment")
        if ack is None:
            raise PackageError("an acknowledgment message has no acknowledgment element")
        message.acknowledgment = Acknowledgment(
            uid=ack.get(_M + "uid", "").lower(),
            accepted=ack.get(_M + "accepted", "") in ("true", "1"),
            time=_moment(ack.get(_M + "time", ""), "acknowledgment/time"),
            comment=_text(ack, _M + "comment"),
        )
    else:
        note = root.find(_M + "notification")
        if note is None:
            raise PackageError("a notification message has no notification element")
        message.notification = _notification(
            note.get(_M + "type", ""),
            note.get(_M + "uid", ""),
            note.get(_M + "time", ""),
            lambda name: _text(note, _M + name),
        )
    return message


def _notification(kind: str, uid: str, time: str, text: object) -> Notification:
    assert callable(text)
    try:
        notification_type = NotificationType(kind.strip())
    except ValueError:
        raise PackageError(f"unknown notification type {kind[:60]!r}") from None
    if not uid.strip():
        raise PackageError("the notification names no document (uid)")
    date = text("date")
    return Notification(
        type=notification_type,
        document_uid=uid.strip().lower(),
        time=_moment(time, "notification/time"),
        number=text("number"),
        date=_day(date, "notification/date") if date else None,
        reason=text("reason"),
        executor=text("executor"),
        text=text("text"),
        answer_uid=text("answer").lower(),
        clause=text("clause"),
    )


def read_passport(root: etree._Element) -> Passport:
    """``passport.xml`` of a 2.7.1 container, validated first."""
    validate(root, "container-2.7.1.xsd", "passport.xml")
    author = root.find(f"{_C}authors/{_C}author")
    sign = author.find(_C + "sign") if author is not None else None
    signature = sign.find(_C + "documentSignature") if sign is not None else None
    document = root.find(_C + "document")
    assert document is not None  # required by the schema
    pages = _text(document, _C + "pagesQuantity")
    kind = root.find(f"{_C}requisites/{_C}documentKind")
    return Passport(
        uid=root.get(_C + "uid", "").lower(),
        kind=_text(root, f"{_C}requisites/{_C}documentKind"),
        kind_code=kind.get(_C + "id", "") if kind is not None else "",
        classification=_text(root, f"{_C}requisites/{_C}classification"),
        annotation=_text(root, f"{_C}requisites/{_C}annotation"),
        number=_text(author, f"{_C}registration/{_C}number"),
        date=_day(_text(author, f"{_C}registration/{_C}date"), "registration/date"),
        organization=_text(author, f"{_C}organization/{_C}title"),
        signatory=_text(sign, f"{_C}person/{_C}name"),
        signatory_post=_text(sign, f"{_C}person/{_C}post"),
        executor=_text(author, f"{_C}executor/{_C}name"),
        executor_phone=_text(author, f"{_C}executor/{_C}phone"),
        addressees=[
            _text(a, f"{_C}organization/{_C}title")
            for a in root.iterfind(f"{_C}addressees/{_C}addressee")
        ],
        document=Signed(
            document.get(_C + "localName", ""),
            signature.get(_C + "localName") if signature is not None else None,
            signature_type=signature.get(_C + "type", "") if signature is not None else "",
        ),
        pages=int(pages) if pages else None,
        attachments=[
            Signed(
                a.get(_C + "localName", ""),
                (s.get(_C + "localName") if (s := a.find(_C + "signature")) is not None else None),
                description=_text(a, _C + "description"),
            )
            for a in root.iterfind(f"{_C}attachments/{_C}attachment")
        ],
        answers_number=_text(root, f"{_C}links/{_C}link/{_C}number"),
        answers_date=(
            _day(d, "links/link/date")
            if (d := _text(root, f"{_C}links/{_C}link/{_C}date"))
            else None
        ),
    )


def read_xdms(root: etree._Element) -> Message:
    """A 2.x ("xdms") message: the card inline, the files beside it in the folder."""

    def attr(element: etree._Element | None, name: str) -> str:
        return (element.get(_X + name) or element.get(name) or "") if element is not None else ""

    header = root.find(_X + "header")
    if header is None:
        raise PackageError("the 2.x message has no header")
    source = header.find(_X + "source")
    kind = attr(header, "type")
    types = {"Документ": PackageType.DOCUMENT, **{t.value: t for t in PackageType}}
    if kind not in types:
        raise PackageError(
            f"the 2.x header type {kind[:60]!r} is not a document, notification or acknowledgment"
        )
    uid = attr(header, "uid").lower()
    if not uid:
        raise PackageError("the 2.x header has no uid")
    message = Message(
        type=types[kind],
        uid=uid,
        created=_moment(attr(header, "created") or "1970-01-01T00:00:00+00:00", "header/created"),
        source=Party(attr(source, "uid").lower(), _text(source, _X + "organization")),
        version=attr(root, "version") or "2.x",
    )
    if not message.source.uid:
        raise PackageError("the 2.x header names no source uid")
    if message.type == PackageType.DOCUMENT:
        document = root.find(_X + "document")
        if document is None:
            raise PackageError("the 2.x document message has no document element")
        files = [attr(f, "localName") for f in root.iterfind(f"{_X}files/{_X}file")]
        files = [name for name in files if name]
        if not files:
            raise PackageError("the 2.x document lists no files (files/file/@localName)")
        number = _text(document, f"{_X}num/{_X}number")
        date = _text(document, f"{_X}num/{_X}date")
        if not number or not date:
            raise PackageError("the 2.x document has no registration number and date (num)")
        answers = next(
            (
                link
                for link in document.iterfind(f"{_X}links/{_X}link")
                if attr(link, "type") in ("В ответ на", "На №")
            ),
            None,
        )
        pages = _text(document, _X + "pages")
        message.files = files
        message.passport = Passport(
            uid=(attr(document, "uid") or uid).lower(),
            kind=_text(document, _X + "kind") or "Письмо",
            annotation=_text(document, _X + "annotation") or "(без заголовка)",
            number=number,
            date=_day(date, "document/num/date"),
            organization=message.source.organization,
            classification=_text(document, _X + "classification"),
            signatory=_text(document, f"{_X}signatories/{_X}signatory/{_X}person"),
            signatory_post=_text(document, f"{_X}signatories/{_X}signatory/{_X}post"),
            executor=_text(document, f"{_X}executor/{_X}person"),
            executor_phone=_text(document, f"{_X}executor/{_X}phone"),
            addressees=[
                _text(a, _X + "organization")
                for a in document.iterfind(f"{_X}addressees/{_X}addressee")
            ],
            document=Signed(files[0]),
            pages=int(pages) if pages.isdecimal() and len(pages) < 6 else None,
            attachments=[Signed(name) for name in files[1:]],
            answers_number=_text(answers, f"{_X}reference/{_X}num/{_X}number"),
            answers_date=(
                _day(d, "link date")
                if (d := _text(answers, f"{_X}reference/{_X}num/{_X}date"))
                else None
            ),
        )
    elif message.type == PackageType.ACKNOWLEDGMENT:
        ack = root.find(_X + "acknowledgment")
        if ack is None:
            raise PackageError("the 2.x acknowledgment message has no acknowledgment element")
        message.acknowledgment = Acknowledgment(
            uid=attr(ack, "uid").lower(),
            accepted=attr(ack, "accepted") not in ("false", "0"),
            time=_moment(attr(ack, "time") or message.created.isoformat(), "acknowledgment/time"),
            comment=_text(ack, _X + "comment"),
        )
    else:
        note = root.find(_X + "notification")
        if note is None:
            raise PackageError("the 2.x notification message has no notification element")
        message.notification = _notification(
            attr(note, "type"),
            attr(note, "uid"),
            attr(note, "time") or message.created.isoformat(),
            lambda name: _text(note, _X + name),
        )
    return message
