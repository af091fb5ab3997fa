"""Structure-aware mutations of real examples: what hostile senders actually try.

Each mutation takes the input and a ``random.Random`` and returns new bytes; ``mutate`` applies
a few in a row. They work on bytes (flips, truncation, invalid UTF-8), on the XML text
(DOCTYPE and entities, XInclude, XSLT, comments, namespaces) and on the tree (duplicated,
reordered, removed, deeply nested elements, signature wrapping, huge attributes). The same
functions drive the hypothesis tests (a ``Random`` drawn by hypothesis, so failures shrink to
a seed) and ``bench/fuzz.py`` (a plain ``Random``).
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable

from lxml import etree

Mutation = Callable[[bytes, random.Random], bytes]

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


# ------------------------------------------------------------------------------- bytes
def flip_bytes(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if buffer:
            buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def splice_bytes(data: bytes, rng: random.Random) -> bytes:
    """Insert bytes that break encodings: invalid UTF-8, NUL, control characters, a BOM."""
    junk = rng.choice(
        [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x01\x02", b"\xef\xbb\xbf", b"\r", b"]]>"]
    )
    at = rng.randrange(len(data) + 1)
    return data[:at] + junk + data[at:]


def duplicate_chunk(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 200))
    return data[:end] + data[start:end] + data[end:]


# --------------------------------------------------------------------------------- text
_DOCTYPES = [
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    b'<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">',
    b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p">%p;]>',
    b"<!doctype x>",
    b"<!DOCTYPE\nx []>",
]


def doctype(data: bytes, rng: random.Random) -> bytes:
    """XXE, billion laughs, external DTDs: before the root, after the declaration."""
    at = data.find(b"?>") + 2 if data.startswith(b"<?xml") else 0
    prolog = rng.choice(_DOCTYPES)
    body = data[at:]
    if rng.random() < 0.5:  # use the entity too
        body = re.sub(rb">([^<]{1,40})<", rb">&e;&b;\1<", body, count=1)
    return data[:at] + prolog + body


def xinclude_or_xslt(data: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(3)
    if choice == 0:
        element = (
            b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
            b'parse="text"/>'
        )
        return _insert_after_some_start_tag(data, element, rng)
    if choice == 1:
        at = data.find(b"?>") + 2 if data.startswith(b"<?xml") else 0
        return (
            data[:at]
            + b'<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:9/x"?>'
            + data[at:]
        )
    transform = (
        b'<ds:Transform xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
        b'Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet '
        b'xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"/></ds:Transform>'
    )
    return data.replace(b"<ds:Transforms>", b"<ds:Transforms>" + transform, 1)


def comments(data: bytes, rng: random.Random) -> bytes:
    """Comments and processing instructions inside text: outside what C14N digests."""
    spots = [m.end() for m in re.finditer(rb">[^<]", data)]
    if not spots:
        return data
    at = rng.choice(spots)
    return (
        data[:at]
        + rng.choice([b"<!---->", b"<!-- x -->", b"<?pi x?>", b"<![CDATA[]]>"])
        + data[at:]
    )


def namespace_games(data: bytes, rng: random.Random) -> bytes:
    """Relative, rebound, duplicated and redefined namespace declarations."""
    declaration = rng.choice(
        [
            b' xmlns:x="rel"',
            b' xmlns:x="/abs/path"',
            b' xmlns:x="#frag"',
            b' xmlns:x="http://a%20b"',
            b' xmlns=""',
            b' xmlns="urn:other"',
            b' xmlns:hub="urn:evil"',
            b' xmlns:ds="urn:evil"',
            b' xmlns:x="urn:\xd0\xb6"',
            b' xmlns:xml="http://www.w3.org/XML/1998/namespace"',
            b' xmlns:x="urn:a" xmlns:x="urn:b"',
        ]
    )
    spots = [m.end() for m in re.finditer(rb"<[A-Za-z][\w:.-]*", data)]
    if not spots:
        return data
    at = rng.choice(spots)
    return data[:at] + declaration + data[at:]


def huge_attributes(data: bytes, rng: random.Random) -> bytes:
    count = rng.choice([1, 40, 500, 2_000])
    if count == 1:
        attributes = b' a="' + b"x" * rng.choice([10_000, 1_000_000]) + b'"'
    else:
        attributes = b"".join(b' a%d="x"' % i for i in range(count))
    spots = [m.end() for m in re.finditer(rb"<[A-Za-z][\w:.-]*", data)]
    if not spots:
        return data
    at = rng.choice(spots)
    return data[:at] + attributes + data[at:]


def encoding_games(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    choice = rng.randrange(4)
    if choice == 0:
        return text.encode("utf-16")
    if choice == 1:
        return data.replace(b"encoding='UTF-8'", b"encoding='windows-1251'", 1).replace(
            b'encoding="UTF-8"', b'encoding="windows-1251"', 1
        )
    if choice == 2:
        return b"\xef\xbb\xbf" + data
    return data.replace(b"UTF-8", b"UTF-32", 1)


# --------------------------------------------------------------------------------- tree
def _tree(data: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _elements(root: etree._Element) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str)]


def _insert_after_some_start_tag(data: bytes, element: bytes, rng: random.Random) -> bytes:
    spots = [m.end() for m in re.finditer(rb"<[A-Za-z][^<>]*[^/<>]>", data)]
    if not spots:
        return data
    at = rng.choice(spots)
    return data[:at] + element + data[at:]


def tree_edit(data: bytes, rng: random.Random) -> bytes:
    """Duplicate, remove, reorder or move an element, or change a text or an attribute."""
    root = _tree(data)
    if root is None:
        return flip_bytes(data, rng)
    elements = _elements(root)
    target = rng.choice(elements)
    parent = target.getparent()
    choice = rng.randrange(6)
    if choice == 0 and parent is not None:  # duplicate
        parent.insert(parent.index(target) + 1, copy.deepcopy(target))
    elif choice == 1 and parent is not None:  # remove
        parent.remove(target)
    elif choice == 2 and len(target) > 1:  # reorder children
        children = list(target)
        rng.shuffle(children)
        for child in children:
            target.append(child)
    elif choice == 3 and parent is not None:  # move elsewhere
        other = rng.choice(elements)
        inside = any(node is other for node in target.iter())  # other in target's subtree
        if not inside and other is not parent:
            parent.remove(target)
            other.append(target)
    elif choice == 4:  # a text changed (Cyrillic, markup-like, empty, very long)
        target.text = rng.choice(["", "изменено", "<x>", "0" * 5000, " dept.land ", "\t"])
    else:  # an attribute changed or added
        key = rng.choice([*target.attrib.keys(), "Id", "Algorithm", "URI", "Version", "x"])
        target.set(key, rng.choice(["", "content", "#content", "routing", "изм", "1" * 300]))
    return _serialize(root)


def deep_nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([70, 300, 5_000])
    element = b"<d>" * depth + b"</d>" * depth
    return _insert_after_some_start_tag(data, element, rng)


def signature_wrapping(data: bytes, rng: random.Random) -> bytes:
    """Classic XML signature wrapping: a second element with the signed Id, the signed one
    moved into ds:Object or a wrapper, the forged one where the original was."""
    root = _tree(data)
    if root is None:
        return data
    signed = [e for e in _elements(root) if e.get("Id")]
    if not signed:
        return data
    original = rng.choice(signed)
    forged = copy.deepcopy(original)
    for element in _elements(forged):
        if element.text and element.text.strip() and rng.random() < 0.3:
            element.text = "dept.land" if "dept." in element.text else element.text[::-1]
    choice = rng.randrange(4)
    parent = original.getparent()
    if parent is None:
        return data
    if choice == 0:  # forged first, original after it: two elements with one Id
        parent.insert(parent.index(original), forged)
    elif choice == 1:  # original moved into a ds:Object inside the signature
        signature = root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature")
        if signature is None:
            return data
        holder = etree.SubElement(signature, "{http://www.w3.org/2000/09/xmldsig#}Object")
        parent.replace(original, forged)
        holder.append(original)
    elif choice == 2:  # original wrapped in an unknown element, forged in its place
        wrapper = etree.Element("{urn:evil}Wrapper")
        parent.replace(original, forged)
        wrapper.append(original)
        root.append(wrapper)
    else:  # the Id moved to the forged copy under another attribute name
        forged.attrib.pop("Id", None)
        forged.set("{urn:evil}Id", str(original.get("Id")))
        parent.insert(parent.index(original), forged)
    return _serialize(root)


XML_MUTATIONS: list[Mutation] = [
    flip_bytes,
    truncate,
    splice_bytes,
    duplicate_chunk,
    doctype,
    xinclude_or_xslt,
    comments,
    namespace_games,
    huge_attributes,
    encoding_games,
    tree_edit,
    tree_edit,
    deep_nesting,
    signature_wrapping,
    signature_wrapping,
]


def mutate(
    data: bytes, rng: random.Random, mutations: list[Mutation] = XML_MUTATIONS, rounds: int = 0
) -> bytes:
    """One to three mutations in a row (``rounds`` fixes the number)."""
    for _ in range(rounds or rng.randint(1, 3)):
        mutation = rng.choice(mutations)
        try:
            data = mutation(data, rng)
        except (ValueError, TypeError, etree.LxmlError):  # cannot apply here (lxml refused)
            data = flip_bytes(data, rng)
    return data
