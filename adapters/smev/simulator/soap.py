"""SOAP 1.1 plumbing for the simulator: reading requests (inline or MTOM/XOP), writing replies.

Requests may be plain ``text/xml`` or ``multipart/related`` MTOM/XOP packages: the root part is
the envelope and each ``xop:Include href="cid:..."`` is replaced by the base64 text of the part
it names, so the rest of the simulator only sees inline (base64) attachments. Replies are always
plain ``text/xml`` with attachments inline.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree

from adapters.smev.errors import SoapError, XmlInputError
from adapters.smev.parsing import parse_xml
from adapters.smev.simulator.ns import SOAP12_NS, SOAP_NS, XOP_NS, soap

CONTENT_TYPE = "text/xml; charset=utf-8"


@dataclass(frozen=True)
class SoapRequest:
    tree: etree._ElementTree
    body_child: etree._Element
    mtom: bool


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype; a=b; c="d"`` -> ("type/subtype", {"a": "b", "c": "d"})."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in re.finditer(r'\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        params[key] = raw[1:-1] if raw.startswith('"') and raw.endswith('"') else raw
    return main.strip().lower(), params


@dataclass(frozen=True)
class _Part:
    headers: dict[str, str]
    content: bytes


def _split_multipart(body: bytes, boundary: str) -> list[_Part]:
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    parts: list[_Part] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            head, separator, content = chunk.partition(b"\n\n")
        if not separator:
            raise SoapError("malformed MTOM part: no blank line after the part headers")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        parts.append(_Part(headers, content))
    if not parts:
        raise SoapError("MTOM body has no parts")
    return parts


def _content_id(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value


def _unpack_mtom(body: bytes, content_type: str) -> tuple[bytes, dict[str, bytes]]:
    _, params = _header_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise SoapError("multipart request without a boundary parameter")
    parts = _split_multipart(body, boundary)
    start = _content_id(params.get("start", ""))
    root = next(
        (p for p in parts if start and _content_id(p.headers.get("content-id", "")) == start),
        parts[0],
    )
    attachments: dict[str, bytes] = {}
    for part in parts:
        if part is root:
            continue
        encoding = part.headers.get("content-transfer-encoding", "binary").lower()
        content = part.content
        if encoding == "base64":
            content = base64.b64decode(b"".join(content.split()))
        attachments[_content_id(part.headers.get("content-id", ""))] = content
    return root.content, attachments


def _resolve_xop(tree: etree._ElementTree, attachments: dict[str, bytes]) -> None:
    for include in list(tree.getroot().iter(f"{{{XOP_NS}}}Include")):
        href = str(include.get("href", ""))
        cid = unquote(href[4:]) if href.lower().startswith("cid:") else href
        if cid not in attachments:
            raise SoapError(f"xop:Include refers to a missing MIME part {href!r}")
        parent = include.getparent()
        if parent is None:
            raise SoapError("xop:Include cannot be the root element")
        parent.remove(include)
        parent.text = base64.b64encode(attachments[cid]).decode("ascii")


def parse_request(body: bytes, content_type: str) -> SoapRequest:
    """The envelope and its Body child; MTOM packages are flattened to inline base64."""
    kind, _ = _header_params(content_type or "text/xml")
    mtom = kind.startswith("multipart/")
    attachments: dict[str, bytes] = {}
    if mtom:
        body, attachments = _unpack_mtom(body, content_type)
    try:
        tree = parse_xml(body)
    except XmlInputError as exc:
        raise SoapError(str(exc)) from exc
    if mtom:
        _resolve_xop(tree, attachments)
    root = tree.getroot()
    if root.tag == f"{{{SOAP12_NS}}}Envelope":
        raise SoapError("SOAP 1.2 is not supported: SMEV 3 uses SOAP 1.1", version_mismatch=True)
    if root.tag != soap("Envelope"):
        raise SoapError(f"the root element is {root.tag}, not a SOAP 1.1 Envelope")
    bodies = root.findall(soap("Body"))
    if len(bodies) != 1:
        raise SoapError("a SOAP envelope needs exactly one Body")
    children = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(children) != 1:
        raise SoapError(f"the SOAP Body must hold exactly one element (found {len(children)})")
    return SoapRequest(tree, children[0], mtom)


def envelope(body_child: bytes) -> bytes:
    """Wrap serialized Body content (kept byte for byte, so signatures inside stay valid)."""
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Header/><soap:Body>'.encode()
        + body_child
        + b"</soap:Body></soap:Envelope>"
    )
