"""What the fuzzers found in the inbound mail parser (issue 20), each kept fixed by its class.

A mail without a usable From, with control characters in its addresses, or with MIME parts
nested beyond reason raised from the parser; after five tries such a mail went to the rejects
folder unanswered. Now each is decided on its first reading: set aside at once, answered
with its cause wherever there is a usable address to answer.
"""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.email.inbound import (
    MAX_MIME_DEPTH,
    UnreadableMail,
    find_envelopes,
    is_automatic,
    mime_depth,
    parse_bounce,
    parse_mail,
    plain_envelope,
    read_mail,
    sender_address,
)
from envelopes.parsing import ParseLimits, parse_xml
from hub.testing import FakeAdapterContext

from .conftest import Dovecot, ImapHelper, SmtpServer
from .test_inbound import adapter_for, poll


def nested(depth: int, sender: bytes = b"citizen@example.org") -> bytes:
    """A mail whose multipart parts nest ``depth`` levels deep (1,000: about 70 KB)."""
    raw = b"From: " + sender + b"\r\nTo: hub@city.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    for level in range(depth):
        raw += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    raw += b"Content-Type: text/plain\r\n\r\nhi\r\n"
    for level in reversed(range(depth)):
        raw += f"--b{level}--\r\n".encode()
    return raw


def read_everything(raw: bytes) -> None:
    """Every reading the adapter does of an inbound mail."""
    message = parse_mail(raw)
    parse_bounce(message, raw, "city.example")
    find_envelopes(message, ParseLimits())
    is_automatic(message, set())
    _, xml = plain_envelope(
        message,
        raw,
        agency="agency.x",
        recipient="dept.land",
        answers=None,
        received=dt.datetime.now(dt.UTC),
        attach_original=True,
    )
    parse_xml(xml)  # whatever the mail held, the envelope made of it is well-formed XML


@pytest.mark.parametrize(
    "raw",
    [
        b"To: hub@city.example\r\nSubject: no sender\r\n\r\nhello",
        b"From:\r\nTo: hub@city.example\r\n\r\nhello",
        b"From: <>\r\nTo: hub@city.example\r\n\r\nhello",
        b"From: a\x01b@example.org\r\nTo: hub@city.example\r\n\r\nhello",
        b"From: Bob \x07 <bob@example.org>\r\nTo: a\x0b@city.example, hub@city.example\r\n\r\nhi",
        b"From: bob@example.org\r\nTo: \x7f@city.example\r\nSubject: \x02\x03\r\n\r\n\x04text",
    ],
    ids=["no-from", "empty-from", "null-from", "control-in-from", "control-in-names", "del"],
)
def test_mail_without_a_usable_address_is_read_without_raising(raw: bytes) -> None:
    read_everything(raw)
    address = sender_address(parse_mail(raw))
    assert address == "" or address == "bob@example.org"


def test_a_control_character_never_reaches_the_envelope() -> None:
    raw = b"From: Bob \x07 <bob@example.org>\r\nTo: a\x0b@city.example, hub@city.example\r\n\r\nhi"
    message = parse_mail(raw)
    _, xml = plain_envelope(
        message,
        raw,
        agency="agency.x",
        recipient="dept.land",
        answers=None,
        received=dt.datetime.now(dt.UTC),
        attach_original=False,
    )
    assert b"hub@city.example" in xml and b"\x0b" not in xml and b"\x07" not in xml


@pytest.mark.parametrize("depth", [MAX_MIME_DEPTH + 1, 1_000, 5_000])
def test_deeply_nested_multipart_is_unreadable_by_name(depth: int) -> None:
    raw = nested(depth)
    with pytest.raises(UnreadableMail, match=r"nest|parts"):
        parse_mail(raw)
    headers, why = read_mail(raw)
    assert why is not None and headers["From"] == "citizen@example.org"


def test_nesting_within_the_bound_is_read() -> None:
    raw = nested(MAX_MIME_DEPTH - 1)
    read_everything(raw)
    assert mime_depth(parse_mail(raw)) == MAX_MIME_DEPTH


async def test_hostile_mail_is_set_aside_on_its_first_reading_and_answered_where_possible(
    smtp: SmtpServer, dovecot: Dovecot, imap: ImapHelper
) -> None:
    await imap.append(b"To: hub@city.example\r\nSubject: anonymous\r\n\r\nhello")
    await imap.append(b"From: a\x01b@example.org\r\nTo: hub@city.example\r\n\r\nhello")
    await imap.append(nested(1_000))
    context = FakeAdapterContext()
    adapter = adapter_for(smtp, dovecot, imap, rejects_folder="Hub rejects")
    assert await poll(adapter, context) == 3  # all three decided on the first poll
    await imap.wait_count("Hub rejects", 3)
    assert await imap.count("INBOX") == 0 and context.submitted == []
    answers = {r.rcpt_tos[0]: r.message for r in smtp.recorder.received}
    assert list(answers) == ["citizen@example.org"]  # nobody else has a usable address
    assert "nest 1000 levels" in answers["citizen@example.org"].get_content() or (
        "multipart or message parts" in answers["citizen@example.org"].get_content()
    )
