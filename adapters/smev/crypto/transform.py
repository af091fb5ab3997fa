"""The SMEV 3 transform ``urn://smev-gov-ru/xmldsig/transform``.

SMEV 3 digests are computed over the output of this transform (after exclusive c14n), so the
bytes must match SMEV's reference Java implementation (``SmevTransformSpi``) exactly. The rules,
from the methodological recommendations (MR):

1. drop the XML declaration, comments and processing instructions;
2. drop text nodes that consist of whitespace only;
3. write empty elements expanded (``<a></a>``);
4. drop namespace declarations that are not used;
5. declare each element's namespace where it is used (if no ancestor in the output declares it);
6. rename prefixes to ``ns1``, ``ns2``, ... in document order (the counter never resets, so a
   namespace re-declared on sibling subtrees gets a new number each time);
7. sort attributes by namespace URI then local name, unqualified attributes last;
8. write namespace declarations before attributes: the element's own namespace first, then the
   attributes' namespaces in the sorted order of the attributes.

Where the MR is silent we follow the reference implementation (see docs/smev-signatures.md):
text escapes ``& < >``, attribute values additionally ``"``; string order is Java's (UTF-16 code
units); whitespace means the characters Java's ``String.trim()`` removes.
"""

from __future__ import annotations

from lxml import etree

from adapters.smev.errors import TransformError
from adapters.smev.parsing import parse_xml
from envelopes.parsing import relative_namespace

SMEV_TRANSFORM_URI = "urn://smev-gov-ru/xmldsig/transform"

_NS_PREFIX = "ns"
# Java's String.trim() strips every char <= U+0020; in XML 1.0 content only these four occur.
_JAVA_TRIM = " \t\r\n"


def _split(tag: str) -> tuple[str, str]:
    """Clark notation ``{uri}local`` -> (uri, local); no namespace -> ("", local)."""
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(text: str) -> str:
    return _escape_text(text).replace('"', "&quot;")


def _java_order(value: str) -> bytes:
    """Sort key equal to Java String.compareTo (UTF-16 code units), as SMEV sorts."""
    return value.encode("utf-16-be", "surrogatepass")


def _is_whitespace_only(text: str) -> bool:
    return not text.strip(_JAVA_TRIM)


class _Writer:
    """One transform run: the prefix counter and the stack of prefixes declared so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.counter = 0
        self.scopes: list[list[tuple[str, str]]] = []

    def _find_prefix(self, uri: str) -> str | None:
        for scope in self.scopes:
            for known_uri, prefix in scope:
                if known_uri == uri:
                    return prefix
        return None

    def _prefix_for(self, uri: str, scope: list[tuple[str, str]]) -> str:
        prefix = self._find_prefix(uri)
        if prefix is None:
            self.counter += 1
            prefix = f"{_NS_PREFIX}{self.counter}"
            scope.append((uri, prefix))
        return prefix

    def start(self, element: etree._Element) -> str:
        scope: list[tuple[str, str]] = []
        self.scopes.append(scope)
        uri, local = _split(str(element.tag))
        # Unqualified elements get no prefix: the output never declares a default namespace,
        # so an unprefixed name is in no namespace (the Java reference would emit xmlns:nsN="").
        name = f"{self._prefix_for(uri, scope)}:{local}" if uri else local

        attributes: list[tuple[str, str, str]] = []
        for key, value in element.attrib.items():
            attr_uri, attr_local = _split(str(key))
            attributes.append((attr_uri, attr_local, str(value)))
        attributes.sort(
            key=lambda a: (
                (1, b"", _java_order(a[1]))
                if not a[0]
                else (0, _java_order(a[0]), _java_order(a[1]))
            )
        )
        rendered: list[str] = []
        for attr_uri, attr_local, value in attributes:
            qname = f"{self._prefix_for(attr_uri, scope)}:{attr_local}" if attr_uri else attr_local
            rendered.append(f' {qname}="{_escape_attr(value)}"')

        declarations = "".join(f' xmlns:{p}="{_escape_attr(u)}"' for u, p in scope)
        self.parts.append(f"<{name}{declarations}{''.join(rendered)}>")
        return name

    def end(self, name: str) -> None:
        self.parts.append(f"</{name}>")
        self.scopes.pop()

    def text(self, pending: list[str]) -> None:
        """Emit accumulated character data unless it is whitespace only (rule 2)."""
        text = "".join(pending)
        pending.clear()
        if text and not _is_whitespace_only(text):
            self.parts.append(_escape_text(text))


_Frame = tuple[etree._Element, list[etree._Element], str, list[str]]


def _is_element(node: etree._Element) -> bool:
    return isinstance(node.tag, str)


def smev_transform(element: etree._Element) -> bytes:
    """Apply the SMEV transform to ``element`` (its tail is not part of it); UTF-8 bytes.

    Text split by a comment or processing instruction is joined before the whitespace test, as
    it is when the transform runs on exclusive-c14n output (which has no comments).
    """
    if not _is_element(element):
        raise TransformError("the SMEV transform needs an element")
    writer = _Writer()
    # Iterative walk (no recursion limit): each frame is (element, children still to visit
    # in reverse order, output name, pending text).
    stack: list[_Frame] = []

    def open_element(node: etree._Element) -> None:
        name = writer.start(node)
        stack.append((node, list(reversed(list(node))), name, [node.text or ""]))

    open_element(element)
    while stack:
        node, children, name, pending = stack[-1]
        if not children:
            writer.text(pending)
            writer.end(name)
            stack.pop()
            if stack:
                stack[-1][3].append(node.tail or "")
            continue
        child = children.pop()
        if _is_element(child):
            writer.text(pending)
            open_element(child)
        elif isinstance(child, (etree._Comment, etree._ProcessingInstruction)):
            pending.append(child.tail or "")
        else:
            raise TransformError("entity references are not supported by the SMEV transform")
    return "".join(writer.parts).encode("utf-8")


def smev_transform_bytes(data: bytes) -> bytes:
    """Apply the SMEV transform to serialized XML (e.g. exclusive-c14n output)."""
    return smev_transform(parse_xml(data).getroot())


def exc_c14n(
    element: etree._Element,
    *,
    with_comments: bool = False,
    inclusive_prefixes: list[str] | None = None,
) -> bytes:
    """Exclusive XML canonicalization of an element subtree (W3C xml-exc-c14n).

    A subtree without a canonical form (a relative namespace URI, which libxml2 refuses with
    no more than "C14N failed") is a TransformError naming the declaration.
    """
    try:
        return etree.tostring(
            element,
            method="c14n",
            exclusive=True,
            with_comments=with_comments,
            inclusive_ns_prefixes=inclusive_prefixes,
        )
    except (etree.C14NError, ValueError, TypeError) as exc:
        why = relative_namespace(element) or str(exc)
        raise TransformError(f"exclusive c14n is impossible here: {why}") from None


def smev_digest_input(element: etree._Element) -> bytes:
    """The octets SMEV digests for a reference: exclusive c14n, then the SMEV transform."""
    return smev_transform_bytes(exc_c14n(element))
