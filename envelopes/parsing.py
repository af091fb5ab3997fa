"""Hardened XML parsing: the only way bytes from outside become an lxml tree.

DOCTYPE is refused before lxml sees the bytes (so XXE and billion-laughs inputs fail fast and
nothing of an external file can ever reach an error message); the parser resolves no entities,
loads no DTD and never touches the network; size and depth are bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from envelopes.errors import ForbiddenXmlError, MalformedXmlError, TooDeepError, TooLargeError


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on untrusted input; the defaults suit envelopes with inline attachments."""

    max_bytes: int = 32 * 1024 * 1024
    max_depth: int = 64


DEFAULT_LIMITS = ParseLimits()

_DOCTYPE = re.compile(rb"<!\s*DOCTYPE|<!\s*ENTITY", re.IGNORECASE)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _make_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


_PARSER = _make_parser()


def _depth_probe(max_depth: int) -> etree.XPath:
    return etree.XPath("boolean(/" + "*/" * max_depth + "*)")


_PROBES: dict[int, etree.XPath] = {}


def parse_xml(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse untrusted bytes into an element tree, or raise an XmlError naming the cause."""
    if len(data) > limits.max_bytes:
        raise TooLargeError(f"document is {len(data)} bytes; the limit is {limits.max_bytes} bytes")
    probe = data
    if data[:2] in _UTF16_BOMS:
        try:
            probe = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedXmlError(f"not well-formed XML: bad UTF-16 ({exc.reason})") from None
    if _DOCTYPE.search(probe):
        raise ForbiddenXmlError("DOCTYPE and ENTITY declarations are not accepted")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        line = f"line {exc.lineno}: " if exc.lineno else ""
        raise MalformedXmlError(f"not well-formed XML: {line}{exc.msg}") from None
    if root is None:
        raise MalformedXmlError("not well-formed XML: empty document")
    doc = root.getroottree().docinfo
    if doc.doctype or doc.internalDTD is not None:  # defence in depth: the scan above
        raise ForbiddenXmlError("DOCTYPE declarations are not accepted")
    probe_depth = _PROBES.get(limits.max_depth)
    if probe_depth is None:
        probe_depth = _PROBES.setdefault(limits.max_depth, _depth_probe(limits.max_depth))
    if probe_depth(root):
        raise TooDeepError(f"elements nest deeper than the limit of {limits.max_depth} levels")
    return root


def parse_xml_file(path: str, limits: ParseLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse a file with the same hardening as untrusted bytes."""
    with open(path, "rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    return parse_xml(data, limits)
