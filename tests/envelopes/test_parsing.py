"""Hardened parsing: DOCTYPE refused, no entities, no network, bounded size and depth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from envelopes.codec import parse_envelope, to_bytes
from envelopes.errors import (
    EnvelopeError,
    ForbiddenXmlError,
    MalformedXmlError,
    TooDeepError,
    TooLargeError,
    XmlError,
)
from envelopes.parsing import DEFAULT_LIMITS, ParseLimits, parse_xml, parse_xml_file
from tests.envelopes.helpers import make_envelope

XXE_FILE = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<r>&xxe;</r>'
)
XXE_PARAMETER = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n<r/>'
)
XXE_NETWORK = '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>'
XXE_IN_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE hub:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<hub:Envelope xmlns:hub="urn:interagency-hub:envelope:1.0" Version="1.0">'
    '<hub:Content Id="content"><hub:Header><hub:Sender>&xxe;</hub:Sender></hub:Header>'
    "</hub:Content></hub:Envelope>"
)


def billion_laughs(levels: int = 10) -> str:
    entities = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        entities.append(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">')
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [' + "".join(entities) + "]>\n"
        f"<lolz>&lol{levels - 1};</lolz>"
    )


def quadratic_blowup() -> str:
    big = "A" * 50_000
    return f'<!DOCTYPE r [<!ENTITY a "{big}">]><r>{"&a;" * 5_000}</r>'


def nested(depth: int) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def _reject(data: bytes, expected: type[EnvelopeError], **kwargs: object) -> EnvelopeError:
    with pytest.raises(expected) as caught:
        parse_xml(data, **kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, XmlError)
    assert "\n" not in str(error), "one problem, one line"
    assert "root:" not in str(error)
    return error


# ------------------------------------------------------------------------------- well-formedness
@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"", "empty"),
        (b"   ", "line 1"),
        (b"<a><b></a>", "line 1"),
        (b"<a>\n<b>\n</c></a>", "line 3"),
        (b"<a>&undefined;</a>", "undefined"),
        (b"<a>\x00</a>", "Char 0x0"),
        (b'<?xml version="1.0" encoding="no-such-encoding"?><a/>', "encoding"),
        (b"<a></a><b/>", "line 1"),
        (b"not xml at all", "line 1"),
    ],
)
def test_malformed_xml_is_rejected_with_its_cause(data: bytes, named: str) -> None:
    error = _reject(data, MalformedXmlError)
    assert error.code == "malformed"
    assert str(error).startswith("not well-formed XML")
    assert named in str(error)


def test_malformed_envelope_is_rejected_before_anything_else() -> None:
    data = to_bytes(make_envelope())
    with pytest.raises(MalformedXmlError, match="line"):
        parse_envelope(data[: len(data) // 2])


# ------------------------------------------------------------------------------------ DOCTYPE/XXE
@pytest.mark.parametrize(
    "document",
    [
        XXE_FILE,
        XXE_PARAMETER,
        XXE_NETWORK,
        XXE_IN_ENVELOPE,
        "<!doctype r><r/>",
        "<! DOCTYPE r><r/>",
    ],
    ids=["external-entity", "parameter-entity", "network-dtd", "in-envelope", "lower", "spaced"],
)
def test_doctype_and_external_entities_are_refused(document: str) -> None:
    started = time.perf_counter()
    error = _reject(document.encode(), ForbiddenXmlError)
    assert time.perf_counter() - started < 0.1
    assert error.code == "forbidden_xml"
    assert "DOCTYPE" in str(error)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_xxe_in_wide_encodings_is_refused(encoding: str) -> None:
    """ "<!DOCTYPE" hides between zero bytes unless the scan decodes the way libxml2 does."""
    declared = f'version="1.0" encoding="{encoding.upper()}"?>'
    document = XXE_FILE.replace('version="1.0"?>', declared)
    error = _reject(document.encode(encoding), ForbiddenXmlError)
    assert "DOCTYPE" in str(error)


def test_xxe_output_never_contains_file_contents() -> None:
    for document in (XXE_FILE, XXE_PARAMETER, XXE_IN_ENVELOPE):
        with pytest.raises(EnvelopeError) as caught:
            parse_envelope(document.encode())
        assert "root:" not in caught.value.reason
        assert "root:" not in repr(caught.value)


def test_no_entity_is_expanded_even_without_a_doctype() -> None:
    """A reference to an undeclared entity is an error, not a lookup."""
    error = _reject(b"<r>&xxe;</r>", MalformedXmlError)
    assert "xxe" in str(error)


def test_xinclude_is_not_processed() -> None:
    root = parse_xml(
        b'<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="/etc/passwd" parse="text"/></r>'
    )
    assert b"root:" not in to_bytes(root)


# ------------------------------------------------------------------------------ billion laughs
@pytest.mark.parametrize(
    "document", [billion_laughs(), quadratic_blowup()], ids=["billion-laughs", "quadratic"]
)
def test_entity_bombs_are_rejected_fast(document: str) -> None:
    started = time.perf_counter()
    error = _reject(document.encode(), ForbiddenXmlError)
    assert time.perf_counter() - started < 1.0
    assert "DOCTYPE" in str(error) or "ENTITY" in str(error)


def test_billion_laughs_in_utf16_without_bom_is_rejected_fast() -> None:
    document = billion_laughs().replace('version="1.0"?>', 'version="1.0" encoding="UTF-16LE"?>')
    started = time.perf_counter()
    _reject(document.encode("utf-16-le"), ForbiddenXmlError)
    assert time.perf_counter() - started < 1.0


def test_envelope_with_billion_laughs_is_rejected_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(ForbiddenXmlError):
        parse_envelope(billion_laughs(12).encode())
    assert time.perf_counter() - started < 1.0


# ------------------------------------------------------------------------------------ size/depth
def test_oversize_input_is_refused_before_parsing() -> None:
    limits = ParseLimits(max_bytes=1024)
    data = b"<r>" + b"x" * 2048 + b"</r>"
    error = _reject(data, TooLargeError, limits=limits)
    assert error.code == "too_large"
    assert "1024 bytes" in str(error)
    assert str(len(data)) in str(error)


def test_oversize_refusal_does_not_even_need_well_formed_input() -> None:
    with pytest.raises(TooLargeError):
        parse_xml(b"<" * 100, ParseLimits(max_bytes=10))


def test_oversize_file_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(b"<r>" + b"x" * 10_000 + b"</r>")
    with pytest.raises(TooLargeError, match="limit is 100 bytes"):
        parse_xml_file(str(path), ParseLimits(max_bytes=100))


def test_default_size_limit_suits_large_envelopes() -> None:
    assert DEFAULT_LIMITS.max_bytes >= 16 * 1024 * 1024


@pytest.mark.parametrize("depth", [DEFAULT_LIMITS.max_depth + 1, 200, 300, 5_000])
def test_too_deep_is_refused(depth: int) -> None:
    """Past libxml2's own bound (256) too, the reason is depth, not a syntax error."""
    error = _reject(nested(depth), TooDeepError)
    assert error.code == "too_deep"
    assert f"limit of {DEFAULT_LIMITS.max_depth} levels" in str(error)


def test_depth_at_the_limit_is_accepted() -> None:
    assert parse_xml(nested(DEFAULT_LIMITS.max_depth)).tag == "a"


def test_depth_limit_is_configurable() -> None:
    limits = ParseLimits(max_depth=5)
    assert parse_xml(nested(5), limits).tag == "a"
    error = _reject(nested(6), TooDeepError, limits=limits)
    assert "limit of 5 levels" in str(error)


def test_too_deep_payload_in_an_envelope_is_refused() -> None:
    deep = b"<x:p xmlns:x='urn:x'>" + nested(100) + b"</x:p>"
    data = to_bytes(make_envelope()).replace(
        b"<RegistrationNumber>", deep + b"<RegistrationNumber>"
    )
    with pytest.raises(TooDeepError):
        parse_envelope(data)


# ------------------------------------------------------------------------------------- accepted
def test_utf16_with_bom_is_accepted() -> None:
    document = '<?xml version="1.0" encoding="UTF-16"?><r>é</r>'
    assert parse_xml(document.encode("utf-16")).text == "é"


def test_cdata_and_comments_are_fine() -> None:
    root = parse_xml(b"<r><!-- note --><![CDATA[<b>&amp;</b>]]></r>")
    assert "<b>&amp;</b>" in "".join(root.itertext())
