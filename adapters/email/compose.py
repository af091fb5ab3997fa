"""Mail the hub writes: a document for an agency, and the explanation for a refused mail.

Every document mail carries a Message-ID derived from the hub MessageId only
(``<hub-MESSAGEID@domain>``), so a retry sends the same Message-ID and a reply's In-Reply-To or
References header leads back to the hub message without any lookup table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses

from lxml import etree

from adapters.email.settings import EmailSettings
from envelopes.codec import (
    ENVELOPE_NS,
    attachment_refs,
    content_of,
    payload_of,
    read_content,
)
from envelopes.ids import MESSAGE_ID_PATTERN
from envelopes.model import Attachment, ContentReference
from envelopes.parsing import ParseLimits, parse_xml
from hub.abc import OutboundMessage

_OUR_ID = re.compile(  # MESSAGE_ID_PATTERN without its anchors
    rf"<hub-({MESSAGE_ID_PATTERN.strip('^$')})@([^<>\s]+)>", re.IGNORECASE
)
_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
_BAD_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f"<>:|?*\\/]')
_TITLE_ELEMENTS = ("Subject", "Title", "Name", "Text")
_KIND_LABELS = {
    "request": "Request",
    "response": "Response",
    "notice": "Notice",
    "error": "Error notice",
    "receipt": "Receipt",
}


class ComposeError(Exception):
    """The envelope cannot be turned into a mail (a permanent problem)."""


# ------------------------------------------------------------------------------ Message-IDs
def mail_message_id(message_id: str, domain: str) -> str:
    """The Message-ID of the mail that carries hub message ``message_id``."""
    return f"<hub-{message_id}@{domain}>"


def hub_ids(value: str | None, domain: str) -> list[str]:
    """Hub MessageIds named by our Message-IDs in a header value (In-Reply-To, References)."""
    if not value:
        return []
    return [
        m.group(1).lower()
        for m in _OUR_ID.finditer(str(value))
        if m.group(2).lower() == domain.lower()
    ]


# ------------------------------------------------------------------------------- documents
def safe_filename(name: str, fallback: str) -> str:
    """A file name without folders or characters mail clients and file systems choke on."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _BAD_NAME_CHARS.sub("_", name).strip(" .")
    return name[:200] or fallback


def _unique(name: str, taken: set[str]) -> str:
    if name.lower() not in taken:
        taken.add(name.lower())
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    n = 2
    while True:
        candidate = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
        if candidate.lower() not in taken:
            taken.add(candidate.lower())
            return candidate
        n += 1


def _split_type(media_type: str) -> tuple[str, str]:
    if not _MEDIA_TYPE.match(media_type):
        return "application", "octet-stream"
    maintype, subtype = media_type.lower().split("/", 1)
    if maintype in ("multipart", "message"):  # bytes cannot be set as these; ship them opaque
        return "application", "octet-stream"
    return maintype, subtype


def _title(payload: etree._Element) -> str | None:
    """A short human title from the payload (a Subject or Title element), if it has one."""
    for wanted in _TITLE_ELEMENTS:
        for element in payload.iter():
            if not isinstance(element.tag, str) or etree.QName(element).localname != wanted:
                continue
            text = " ".join((element.text or "").split())
            if text:
                return text[:200]
    return None


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _local(message_type: str) -> str:
    return message_type.rsplit("}", 1)[-1] or message_type


def check_attachments_size(
    attachments: list[Attachment], references: list[ContentReference], settings: EmailSettings
) -> None:
    """Refuse (ComposeError) a mail whose attachments are over ``max_attachments_bytes``."""
    refs = [a.ref for a in attachments] + [r.ref for r in references]
    sizes = [ref.size for ref in refs]
    if sum(sizes) > settings.max_attachments_bytes:
        biggest = max(refs, key=lambda ref: ref.size)
        raise ComposeError(
            f"the attachments are {sum(sizes)} bytes in all ({biggest.file_name!r}: "
            f"{biggest.size}); a mail may carry at most {settings.max_attachments_bytes} "
            "(max_attachments_bytes): send it another way"
        )


def references_of(body: bytes) -> list[ContentReference]:
    """The attachments by reference of a countersigned envelope (none if it cannot be read:
    composing says why)."""
    try:
        root = parse_xml(body, ParseLimits(max_bytes=len(body) + 1, max_depth=256))
        return read_content(root, attachment_refs(content_of(root)))[1]
    except Exception:
        return []


def document_mail(
    message: OutboundMessage,
    settings: EmailSettings,
    hub_id: str,
    *,
    plain_replies: bool = False,
    in_reply_to: str | None = None,
    now: dt.datetime | None = None,
    fetched: dict[str, bytes] | None = None,
) -> EmailMessage:
    """The mail for one countersigned envelope: a short text, the envelope, its attachments
    (``fetched``: the content of those by reference, by attachment id, from the hub's blobs).

    ``in_reply_to`` is the Message-ID of the mail this document answers (the agency's request
    that came by mail), so that the agency's mail client shows the answer in its thread.
    """
    body = message.body
    try:
        root = parse_xml(body, ParseLimits(max_bytes=len(body) + 1, max_depth=256))
        content = content_of(root)
        payload = payload_of(content)
        attachments, references = read_content(root, attachment_refs(content))
    except Exception as exc:  # the hub countersigned it, so this is a bug or a corrupted copy
        raise ComposeError(f"the countersigned envelope cannot be read: {exc}") from None
    check_attachments_size(attachments, references, settings)
    for reference in references:
        data = (fetched or {}).get(reference.ref.id)
        if data is None or hashlib.sha256(data).digest() != reference.ref.sha256:
            raise ComposeError(f"{reference.uri}: the attachment's content is not at hand")
        attachments.append(Attachment(ref=reference.ref, content=data))
    address = message.destination.address
    _, recipient = getaddresses([address])[0] if address else ("", "")
    if not recipient or "@" not in recipient:
        raise ComposeError(f"{address!r} is not a mail address")
    title = _title(payload)
    kind = _KIND_LABELS.get(message.kind, message.kind.capitalize() or "Document")
    type_name = _local(message.message_type)
    subject = f"{kind} {type_name} from {message.sender}"
    if title:
        subject += f": {title}"
    subject += f" [{message.message_id}]"

    mail = EmailMessage()
    mail["From"] = formataddr((settings.from_name, settings.from_address))
    mail["To"] = recipient
    mail["Reply-To"] = settings.reply_address
    mail["Subject"] = subject
    mail["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    mail["Message-ID"] = mail_message_id(message.message_id, settings.domain)
    in_reply_to = message_id_of(in_reply_to or "")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail["X-Hub-Message-Id"] = message.message_id
    if message.correlation_id:
        mail["X-Hub-Correlation-Id"] = message.correlation_id
    mail["X-Hub-Sender"] = message.sender
    mail["X-Hub-Recipient"] = message.recipient
    mail["X-Hub-Message-Type"] = message.message_type
    mail["X-Hub-Kind"] = message.kind
    mail["X-Hub-Id"] = hub_id

    envelope_name = f"{message.message_id}.xml"
    taken = {envelope_name.lower()}
    files: list[tuple[str, Attachment]] = []
    for attachment in attachments:
        name = safe_filename(attachment.ref.file_name, attachment.ref.id)
        files.append((_unique(name, taken), attachment))

    lines = [
        f"This mail carries a document sent through the interagency exchange hub {hub_id}.",
        "",
        f"  From:         {message.sender}",
        f"  To:           {message.recipient}",
        f"  Document:     {kind.lower()}, {type_name} ({message.message_type})",
    ]
    if title:
        lines.append(f"  Title:        {title}")
    lines.append(f"  Hub message:  {message.message_id}")
    if message.correlation_id:
        lines.append(f"  Answers:      {message.correlation_id}")
    lines += [
        "",
        f"The signed document is attached as {envelope_name}: an XML envelope signed by",
        f"{message.sender} and countersigned by {hub_id}.",
    ]
    if files:
        lines.append("Its attachments, as listed in the signed envelope:")
        lines += [f"  - {name} ({_size(a.ref.size)}, {a.ref.media_type})" for name, a in files]
    lines += [
        "",
        "How to answer: reply to this mail (the hub matches your reply by its In-Reply-To",
        "header) and attach your signed envelope, with CorrelationId",
        f"{message.message_id} in its header.",
    ]
    if plain_replies:
        lines += [
            "A reply in plain text (with files attached) is accepted from this address too;",
            "the hub passes it on as an unsigned document.",
        ]
    lines += ["", "Please do not change the subject's [id] part."]
    mail.set_content("\n".join(lines) + "\n")
    mail.add_attachment(body, maintype="application", subtype="xml", filename=envelope_name)
    for name, attachment in files:
        maintype, subtype = _split_type(attachment.ref.media_type)
        mail.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=name)
    return mail


# ---------------------------------------------------------------------------- explanations
def explanation_mail(
    original: EmailMessage,
    raw: bytes,
    to: str,
    reasons: Sequence[str],
    settings: EmailSettings,
    hub_id: str,
    *,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The answer to a mail the hub refused: what was wrong and what the hub accepts."""
    subject = " ".join(_header_text(original, "Subject").split())[:200]
    received = " ".join(_header_text(original, "Date").split())
    mail = EmailMessage()
    mail["From"] = formataddr((settings.from_name, settings.from_address))
    mail["To"] = to
    mail["Subject"] = f"Not accepted: {subject}" if subject else "Not accepted: your mail"
    mail["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    digest = hashlib.sha256(raw).hexdigest()[:32]
    mail["Message-ID"] = f"<hub-reply-{digest}@{settings.domain}>"
    original_id = message_id_of(_header_text(original, "Message-ID"))
    if original_id:
        mail["In-Reply-To"] = original_id
        mail["References"] = original_id
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Hub-Id"] = hub_id
    what = f'"{subject}"' if subject else "without a subject"
    lines = [
        f"Your mail {what}" + (f" of {received}" if received else ""),
        f"to {settings.reply_address} was not accepted by the interagency exchange hub {hub_id}:",
        "",
        *[f"  - {reason}" for reason in reasons],
        "",
        "This address accepts documents of the hub only: a mail with the signed envelope",
        "attached as an XML file (root element Envelope in the namespace",
        f"{ENVELOPE_NS}), signed with a certificate the hub trusts.",
        "To answer a document of the hub, reply to its mail and attach your signed envelope",
        "with the CorrelationId named in that mail.",
        "",
        "Your mail was kept for the hub's operators; it will not be processed further.",
        "This is an automatic answer.",
    ]
    mail.set_content("\n".join(lines) + "\n")
    return mail


# An address the hub may write into XML and answer: local@domain, printable, no spaces.
_USABLE_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f]{1,200}@[^@\s\x00-\x1f\x7f]{1,119}")


def usable_address(address: str) -> bool:
    """Is ``address`` one the hub may answer and write into a document (no control chars)?"""
    return _USABLE_ADDRESS.fullmatch(address) is not None


def addresses(message: EmailMessage, name: str) -> list[tuple[str, str]]:
    """(display name, address) of a header, only usable addresses; [] if absent or unreadable."""
    try:
        values = [str(v) for v in message.get_all(name, []) or []]
        pairs = getaddresses(values)
    except Exception:  # a header the policy cannot represent: as if absent
        return []
    return [(display, address) for display, address in pairs if usable_address(address)]


_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f@]{1,250}@[^<>\s\x00-\x1f\x7f@]{1,250}>")


def _header_text(message: EmailMessage, name: str) -> str:
    """A header as text, '' if absent or if Python's header parser fails on it (it raises
    IndexError on some garbled Message-IDs: found by the fuzzers)."""
    try:
        return str(message.get(name, "") or "")
    except Exception:
        return ""


def message_id_of(value: str) -> str:
    """The first well-formed ``<local@domain>`` in a Message-ID header, or '' (found by the
    fuzzers: a garbled one made the answer's In-Reply-To raise when it was set)."""
    found = _MESSAGE_ID.search(value)
    return found.group(0) if found else ""


def reply_address(original: EmailMessage) -> str | None:
    """Where an automatic answer goes (Reply-To, else From); None if there is no address."""
    for header in ("Reply-To", "From"):
        for _, address in addresses(original, header):
            return address
    return None


def refusal_mail(
    to: str,
    in_reply_to: str | None,
    message_id: str,
    state: str,
    reasons: Sequence[tuple[str, str]],
    settings: EmailSettings,
    hub_id: str,
    *,
    receipt: bytes | None = None,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The answer to a document the hub took from a mail and then refused (rejected or expired):
    why, threaded under the agency's mail, with the hub's signed receipt when there is one."""
    mail = EmailMessage()
    mail["From"] = formataddr((settings.from_name, settings.from_address))
    mail["To"] = to
    mail["Subject"] = f"Not accepted: document {message_id}"
    mail["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    # one answer per refusal, whatever the retries: the same Message-ID each time
    mail["Message-ID"] = f"<hub-refused-{message_id}@{settings.domain}>"
    in_reply_to = message_id_of(in_reply_to or "")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail["Auto-Submitted"] = "auto-replied"
    mail["X-Hub-Id"] = hub_id
    # not X-Hub-Message-Id: a bounce of this answer must not mark the refused document failed
    mail["X-Hub-Refused-Id"] = message_id
    verdict = "expired before it could be delivered" if state == "expired" else "was refused"
    lines = [
        f"The document {message_id} that your mail carried {verdict} by the interagency",
        f"exchange hub {hub_id}:",
        "",
        *[f"  - {code}: {text}" for code, text in reasons],
        "",
        "It will not be delivered. Correct it and send it again (a corrected document may keep",
        "its MessageId).",
    ]
    if receipt is not None:
        lines += ["", "The hub's signed receipt is attached (receipt.xml)."]
    lines += ["", "This is an automatic answer."]
    mail.set_content("\n".join(lines) + "\n")
    if receipt is not None:
        mail.add_attachment(receipt, maintype="application", subtype="xml", filename="receipt.xml")
    return mail
