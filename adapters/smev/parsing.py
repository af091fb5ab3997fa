"""Hardened XML parsing for everything SMEV reads: replies, requests, samples, responder files.

No entity is resolved, no DTD loaded, nothing fetched; a DOCTYPE or an entity reference is an
error (XmlInputError) rather than something to resolve, so entity tricks cannot reach a signer
or a verifier.
"""

from __future__ import annotations

from lxml import etree

from adapters.smev.errors import XmlInputError


def make_parser() -> etree.XMLParser:
    """A parser that never resolves entities, touches the network or loads a DTD.

    A new parser per call: lxml parsers must not be shared between threads.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
        strip_cdata=True,
    )


def parse_xml(data: bytes) -> etree._ElementTree:
    """Parse untrusted XML bytes; reject DOCTYPEs so entity tricks cannot reach the signer.

    Raises XmlInputError with a one-line reason instead of lxml's exception types.
    """
    try:
        root = etree.fromstring(data, parser=make_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlInputError(f"not well-formed XML: {exc}") from exc
    except ValueError as exc:  # e.g. unicode string with an encoding declaration
        raise XmlInputError(f"cannot parse XML: {exc}") from exc
    tree = root.getroottree()
    docinfo = tree.docinfo
    doctype = getattr(docinfo, "doctype", "")  # missing from lxml-stubs
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlInputError("DOCTYPE declarations are not allowed")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise XmlInputError("entity references are not allowed")
    return tree
