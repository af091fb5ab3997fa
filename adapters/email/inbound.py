"""Reading mail that arrives in the hub's mailbox: envelopes, bounces, plain mail, the rest.

Pure functions over bytes, so the IMAP side (``imap.py``) and the decisions (``adapter.py``)
stay small and every kind of mail can be tested without a server.
"""

from __future__ import annotations

import datetime as dt
import email
import email.parser
import email.policy
import hashlib
import html
import re
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from lxml import etree

from adapters.email.compose import addresses, hub_ids, safe_filename
from envelopes.codec import build_envelope, q, to_bytes
from envelopes.errors import EnvelopeError
from envelopes.ids import is_message_id
from envelopes.model import Attachment, Header, Kind
from envelopes.parsing import ParseLimits, parse_xml

PLAIN_NS = "urn:interagency-hub:payload:plain-mail:1.0"
PLAIN_TYPE = "{" + PLAIN_NS + "}PlainMail"
_P = "{" + PLAIN_NS + "}"
# uuid5 namespace of the envelopes the adapter composes from plain mail
_PLAIN_IDS = uuid.UUID("8c5e0f7a-2b1d-4e6f-9a3c-5d7e9f1b2c4d")
_XML_TYPES = {"application/xml", "text/xml"}
_NOT_XML_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG = re.compile(r"<[^>]*>")
_MEDIA_TYPE = re.compile(r"[a-z0-9][\w.+-]{0,126}/[a-z0-9][\w.+-]{0,126}")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,500}>")
_AUTOMATIC_SENDERS = ("mailer-daemon", "postmaster", "noreply", "no-reply")
MAX_TEXT = 1_000_000
MAX_LINE = 2000


MAX_MIME_DEPTH = 32  # multipart inside multipart...: real mail nests 3 or 4 levels
MAX_MIME_CONTAINERS = 200  # multipart or message/* parts in one mail
_CONTAINER_HEADER = re.compile(rb"(?im)^content-type:[ \t]*(?:\r?\n[ \t]+)?(multipart|message)/")


class UnreadableMail(ValueError):
    """The mail's structure is beyond what the hub reads (too deep, too many parts)."""


def parse_mail(raw: bytes) -> EmailMessage:
    """The whole mail; UnreadableMail if its MIME structure is out of bounds.

    Python's email parser and ``walk()`` recurse once per nesting level: 1,000 nested
    multiparts (70 KB) would raise RecursionError anywhere the mail is read. The containers
    are counted in the raw bytes before parsing (a bound on the depth the parser can reach),
    then the depth is measured exactly, without recursion.
    """
    containers = len(_CONTAINER_HEADER.findall(raw))
    if containers > MAX_MIME_CONTAINERS:
        raise UnreadableMail(
            f"the mail declares {containers} multipart or message parts; "
            f"the hub reads at most {MAX_MIME_CONTAINERS}"
        )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    depth = mime_depth(message)
    if depth > MAX_MIME_DEPTH:
        raise UnreadableMail(
            f"the mail's MIME parts nest {depth} levels deep; the hub reads at most "
            f"{MAX_MIME_DEPTH}"
        )
    return message


def parse_headers(raw: bytes) -> EmailMessage:
    """Only the mail's top-level headers (enough to answer a mail whose body is unreadable)."""
    message = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def read_mail(raw: bytes) -> tuple[EmailMessage, str | None]:
    """(mail, None), or (its headers only, why the rest cannot be read)."""
    try:
        return parse_mail(raw), None
    except UnreadableMail as exc:
        return parse_headers(raw), str(exc)


def mime_depth(message: Message) -> int:
    """How deep parts nest (1: a single part), counted without recursion."""
    deepest = 0
    stack: list[tuple[Message, int]] = [(message, 1)]
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return deepest


def header(message: Message, name: str) -> str:
    """A header as one line of text ('' when absent or unreadable)."""
    try:
        value = message.get(name)
    except Exception:  # a malformed header the policy cannot even represent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def sender_address(message: EmailMessage) -> str:
    """The From address in lower case; '' when there is none the hub could use or answer."""
    found = addresses(message, "From")
    return found[0][1].lower() if found else ""


def _xml_text(value: str, limit: int) -> str:
    return _NOT_XML_CHARS.sub("", value)[:limit]


# -------------------------------------------------------------------------------- envelopes
@dataclass
class FoundEnvelopes:
    """The envelopes found in a mail's XML attachments, and why other XML parts are not any."""

    envelopes: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _is_xml_part(part: Message) -> bool:
    name = (part.get_filename() or "").lower()
    return part.get_content_type() in _XML_TYPES or name.endswith(".xml")


def find_envelopes(message: EmailMessage, limits: ParseLimits) -> FoundEnvelopes:
    found = FoundEnvelopes()
    for part in message.walk():
        if part.is_multipart() or not _is_xml_part(part):
            continue
        name = part.get_filename() or part.get_content_type()
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        if not isinstance(data, bytes) or not data.strip():
            found.problems.append(f"the XML attachment {name!r} is empty or cannot be decoded")
            continue
        try:
            root = parse_xml(data, limits)
        except EnvelopeError as exc:
            found.problems.append(f"the XML attachment {name!r} cannot be read: {exc}")
            continue
        if root.tag != q("Envelope"):
            found.problems.append(
                f"the XML attachment {name!r} is not a hub envelope: its root element is "
                f"{etree.QName(root).localname!r} in namespace "
                f"{etree.QName(root).namespace or 'none'!r}"
            )
            continue
        found.envelopes.append(data)
    return found


def envelope_facts(body: bytes) -> tuple[str, str, str | None]:
    """(MessageId, Sender, CorrelationId) read leniently from an envelope not yet verified."""
    try:
        root = parse_xml(body)
    except EnvelopeError:
        return "", "", None
    head = f"{q('Content')}/{q('Header')}/"
    message_id = (root.findtext(head + q("MessageId")) or "").strip()
    sender = (root.findtext(head + q("Sender")) or "").strip()
    correlation = (root.findtext(head + q("CorrelationId")) or "").strip() or None
    return (message_id if is_message_id(message_id) else ""), sender, correlation


def answered_id(message: EmailMessage, domain: str) -> str | None:
    """The hub message this mail answers by our own Message-IDs: In-Reply-To first, then
    References (newest first)."""
    direct = hub_ids(header(message, "In-Reply-To"), domain)
    if direct:
        return direct[0]
    chain = hub_ids(header(message, "References"), domain)
    return chain[-1] if chain else None


def referenced_ids(message: EmailMessage) -> list[str]:
    """The Message-IDs a mail answers, most direct first (In-Reply-To, then References
    newest first), for a lookup of the ones that are not ours by construction."""
    found = _MESSAGE_ID.findall(header(message, "In-Reply-To"))
    found += reversed(_MESSAGE_ID.findall(header(message, "References")))
    return list(dict.fromkeys(found))[:20]


# ---------------------------------------------------------------------------------- bounces
@dataclass
class Bounce:
    """A delivery status notification about mail the hub sent."""

    hub_ids: list[str]
    failed: bool
    action: str
    status: str
    recipient: str
    diagnostic: str
    reporter: str
    original_id: str = ""

    @property
    def reason(self) -> str:
        parts = [f"bounced by {self.reporter or 'the mail system'}"]
        if self.recipient:
            parts.append(f"for {self.recipient}")
        if self.status:
            parts.append(f"status {self.status}")
        text = " ".join(parts)
        return f"{text}: {self.diagnostic}" if self.diagnostic else text


def is_delivery_report(message: EmailMessage) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "") or "").lower() == "delivery-status"
    )


def _status_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part (per message, then per recipient)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    parser = BytesHeaderParser(policy=email.policy.compat32)
    return [parser.parsebytes(b.strip().encode() + b"\n") for b in re.split(r"\r?\n\r?\n", text)]


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    if value is None:
        return ""
    text = " ".join(str(value).split())
    kind, sep, rest = text.partition(";")  # "rfc822; user@example", "smtp; 550 5.1.1 ..."
    return rest.strip() if sep and " " not in kind.strip() else text


def _original_headers(message: EmailMessage) -> Message | None:
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
        if kind in ("text/rfc822-headers", "message/rfc822-headers"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                return BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
    return None


def parse_bounce(message: EmailMessage, raw: bytes, domain: str) -> Bounce | None:
    """A bounce: a delivery-status report, or a plain one from a mailer daemon naming our mail.

    ``hub_ids`` holds the hub MessageIds found through our own Message-IDs (or the original's
    X-Hub-Message-Id); ``original_id`` the bounced mail's Message-ID for a lookup when that
    finds nothing. None if the mail is no bounce at all.
    """
    ids: list[str] = []
    original_id = ""
    original = _original_headers(message)
    if original is not None:
        original_id = " ".join(str(original.get("Message-ID", "") or "").split())
        ids = hub_ids(original_id, domain)
        x_id = str(original.get("X-Hub-Message-Id", "") or "").strip().lower()
        if not ids and is_message_id(x_id):
            ids = [x_id]
    if is_delivery_report(message):
        action = status = recipient = diagnostic = reporter = ""
        for part in message.walk():
            if part.get_content_type() != "message/delivery-status":
                continue
            for block in _status_blocks(part):
                reporter = reporter or _field(block, "Reporting-MTA")
                if block.get("Action") is None:
                    continue
                this_action = _field(block, "Action").lower()
                if action == "failed" and this_action != "failed":
                    continue  # report the failure, not a later 'delayed' entry
                action = this_action
                status = _field(block, "Status")
                recipient = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
                diagnostic = _field(block, "Diagnostic-Code")
        if not ids and not original_id:
            ids = _ids_in_text(raw, domain)
        return Bounce(
            ids,
            action in ("failed", ""),
            action or "failed",
            status,
            recipient,
            diagnostic,
            reporter,
            original_id,
        )
    # a non-standard bounce: from a mailer daemon, naming our Message-ID somewhere in its text
    sender = sender_address(message)
    if sender.partition("@")[0] in ("mailer-daemon", "postmaster"):
        ids = ids or _ids_in_text(raw, domain)
        if ids:
            subject = header(message, "Subject")[:300]
            return Bounce(ids, True, "failed", "", "", subject, sender, original_id)
    return None


def _ids_in_text(raw: bytes, domain: str) -> list[str]:
    text = raw[:1_000_000].decode("utf-8", "replace")
    return list(dict.fromkeys(hub_ids(text, domain)))


def is_automatic(message: EmailMessage, own_addresses: set[str]) -> bool:
    """Mail that must never get an automatic answer (loops, lists, daemons, ourselves)."""
    auto = header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if header(message, "Precedence").lower() in ("bulk", "junk", "list"):
        return True
    if header(message, "List-Id") or header(message, "X-Autoreply"):
        return True
    if header(message, "Return-Path") == "<>" or is_delivery_report(message):
        return True
    sender = sender_address(message)
    if not sender or sender in own_addresses:
        return True
    return sender.partition("@")[0] in _AUTOMATIC_SENDERS


# ------------------------------------------------------------------------------ plain mail
def plain_text(message: EmailMessage) -> str:
    """The mail's text: its text/plain body, else its HTML body reduced to text."""
    try:
        body = message.get_body(preferencelist=("plain", "html"))
        if body is None:
            return ""
        content = body.get_content()
    except Exception:
        return ""
    if not isinstance(content, str):
        return ""
    if body.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style).*?</\1>", "", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)
        content = html.unescape(_TAG.sub("", content))
    return content.replace("\r\n", "\n").strip()


def mail_files(message: EmailMessage) -> list[tuple[str, str, bytes]]:
    """(file name, media type, content) of the mail's attachments."""
    files: list[tuple[str, str, bytes]] = []
    for n, part in enumerate(message.iter_attachments(), start=1):
        try:
            data = part.get_payload(decode=True)
        except Exception:
            continue
        if not isinstance(data, bytes):
            # an attached mail (message/rfc822): keep it as the bytes it was sent as
            inner = part.get_payload()
            if not (isinstance(inner, list) and inner and isinstance(inner[0], Message)):
                continue
            try:
                data = inner[0].as_bytes()
            except (UnicodeError, LookupError, ValueError):  # undecodable headers inside
                data = inner[0].as_string().encode("utf-8", "replace")
        name = safe_filename(_xml_text(part.get_filename() or "", 1000), f"attachment-{n}")
        media_type = part.get_content_type()
        if not _MEDIA_TYPE.fullmatch(media_type):  # the part said something unusable
            media_type = "application/octet-stream"
        files.append((name, media_type, data))
    return files


def mail_date(message: EmailMessage, fallback: dt.datetime) -> dt.datetime:
    try:
        date = parsedate_to_datetime(header(message, "Date"))
    except (TypeError, ValueError, IndexError):
        return fallback
    return date if date.tzinfo is not None else fallback


def plain_envelope(
    message: EmailMessage,
    raw: bytes,
    *,
    agency: str,
    recipient: str,
    answers: str | None,
    received: dt.datetime,
    attach_original: bool,
) -> tuple[str, bytes]:
    """An unsigned envelope for a plain mail: (MessageId, XML), the same for the same mail.

    Everything in it comes from the mail's bytes (the date from its Date header, else the
    server's INTERNALDATE), so a mail processed twice (a restart) yields the same content and
    the pipeline records the second submission as a duplicate.
    """
    message_id = uuid.uuid5(_PLAIN_IDS, hashlib.sha256(raw).hexdigest())
    created = mail_date(message, received)
    payload = etree.Element(_P + "PlainMail", nsmap={"p": PLAIN_NS})
    etree.SubElement(payload, _P + "From").text = sender_address(message)
    display = next((d for d, _ in addresses(message, "From")), "")
    if display.strip():
        etree.SubElement(payload, _P + "FromName").text = _xml_text(display.strip(), MAX_LINE)
    to = [a for _, a in addresses(message, "To")]
    for address in to[:100]:
        etree.SubElement(payload, _P + "To").text = address[:320]
    subject = header(message, "Subject")
    if subject:
        etree.SubElement(payload, _P + "Subject").text = _xml_text(subject, MAX_LINE)
    etree.SubElement(payload, _P + "Date").text = created.isoformat()
    mail_id = header(message, "Message-ID")
    if mail_id:
        etree.SubElement(payload, _P + "MailMessageId").text = _xml_text(mail_id, MAX_LINE)
    if answers:
        etree.SubElement(payload, _P + "InReplyTo").text = answers
    etree.SubElement(payload, _P + "Text").text = _xml_text(plain_text(message), MAX_TEXT)
    attachments = [
        Attachment.from_bytes(f"mail-{n}", name, media_type, data)
        for n, (name, media_type, data) in enumerate(mail_files(message), start=1)
    ]
    if attach_original:
        attachments.append(
            Attachment.from_bytes("mail-original", "original.eml", "message/rfc822", raw)
        )
    envelope_header = Header(
        message_id=message_id,
        sender=agency,
        recipient=recipient,
        message_type=PLAIN_TYPE,
        kind=Kind.RESPONSE if answers else Kind.NOTICE,
        created=created,
        correlation_id=uuid.UUID(answers) if answers else None,
    )
    root = build_envelope(envelope_header, payload, attachments)
    return str(message_id), to_bytes(root)
