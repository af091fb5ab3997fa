"""Hardened XML parsing: the only way bytes from outside become an lxml tree.

DOCTYPE is refused before lxml sees the bytes (so XXE and billion-laughs inputs fail fast and
nothing of an external file can ever reach an error message); the parser resolves no entities,
loads no DTD and never touches the network; size and depth are bounded.
"""

from __future__ import annotations

import itertools
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
# An absolute URI starts with a scheme (RFC 3986 section 3.1); the parser has already refused
# namespace names that are no URI at all.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Wide encodings libxml2 detects from the first bytes (XML 1.0 appendix F), with or without a BOM:
# the DOCTYPE scan must see such input as text, or "<!DOCTYPE" hides between the zero bytes.
_WIDE_ENCODINGS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


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
    for prefix, encoding in _WIDE_ENCODINGS:
        if data.startswith(prefix):
            try:
                probe = data.decode(encoding).encode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedXmlError(
                    f"not well-formed XML: bad {encoding.upper()} ({exc.reason})"
                ) from None
            break
    if _DOCTYPE.search(probe):
        raise ForbiddenXmlError("DOCTYPE and ENTITY declarations are not accepted")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in (exc.msg or ""):  # libxml2's own bound (256) without huge_tree
            raise TooDeepError(
                f"elements nest deeper than the limit of {limits.max_depth} levels"
            ) from None
        line = f"line {exc.lineno}: " if exc.lineno else ""
        reason = " ".join((exc.msg or "syntax error").split())  # libxml2 embeds newlines
        raise MalformedXmlError(f"not well-formed XML: {line}{reason}") from None
    if root is None:
        raise MalformedXmlError("not well-formed XML: empty document")
    doc = root.getroottree().docinfo
    if (
        getattr(doc, "doctype", "") or doc.internalDTD is not None
    ):  # defence in depth: the scan above
        raise ForbiddenXmlError("DOCTYPE declarations are not accepted")
    probe_depth = _PROBES.get(limits.max_depth)
    if probe_depth is None:
        probe_depth = _PROBES.setdefault(limits.max_depth, _depth_probe(limits.max_depth))
    if probe_depth(root):
        raise TooDeepError(f"elements nest deeper than the limit of {limits.max_depth} levels")
    return root


def relative_namespace(root: etree._Element) -> str | None:
    """Why a subtree cannot be canonicalized, if it declares a relative namespace URI.

    XML Canonicalization (and so every signature over the document) is undefined for relative
    namespace names (C14N 1.0 section 2 and the W3C's 1999 decision on them); libxml2 refuses
    them anywhere in a subtree it canonicalizes, so one ``xmlns:x="rel"`` fails C14N with
    no more than "C14N failed". The parser accepts such documents (they are well-formed, and
    refusing them before their header is read would leave the sender unanswered); the
    canonicalizer turns the failure into a SignatureError and says why with this.
    """
    inherited = [(prefix or "", uri) for prefix, uri in root.nsmap.items()]
    declared = (found for _, found in etree.iterwalk(root, events=("start-ns",)))
    for prefix, uri in itertools.chain(inherited, declared):
        if uri and not _SCHEME.match(uri):
            name = f"xmlns:{prefix}" if prefix else "xmlns"
            return (
                f"namespace declaration {name}={uri!r} is a relative URI; namespace names "
                "must be absolute URIs (relative ones cannot be canonicalized or signed)"
            )
    return None


def parse_xml_file(path: str, limits: ParseLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse a file with the same hardening as untrusted bytes."""
    with open(path, "rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    return parse_xml(data, limits)
