"""Namespaces and names of SMEV 3 message exchange 1.3 and of SOAP 1.1."""

from __future__ import annotations

from typing import cast

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XOP_NS = "http://www.w3.org/2004/08/xop/include"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"

_BASE = "urn://x-artefacts-smev-gov-ru/services/message-exchange"
SERVICE_NS = f"{_BASE}/1.3"
TYPES_NS = f"{_BASE}/types/1.3"
BASIC_NS = f"{_BASE}/types/basic/1.3"
FAULTS_NS = f"{_BASE}/types/faults/1.3"

# Prefixes as the real SMEV writes them: basic is the default namespace, types ns2, faults ns3.
# (lxml-stubs types nsmap as Mapping[str, str], but None is lxml's key for the default namespace.)
NSMAP = cast("dict[str, str]", {None: BASIC_NS, "ns2": TYPES_NS, "ns3": FAULTS_NS})

# SOAP Body child of a request -> operation name (also the SOAPAction "urn:<operation>").
OPERATIONS: dict[str, str] = {
    "SendRequestRequest": "SendRequest",
    "SendResponseRequest": "SendResponse",
    "GetStatusRequest": "GetStatus",
    "GetRequestRequest": "GetRequest",
    "GetResponseRequest": "GetResponse",
    "AckRequest": "Ack",
}


def soap(name: str) -> str:
    return f"{{{SOAP_NS}}}{name}"


def types(name: str) -> str:
    return f"{{{TYPES_NS}}}{name}"


def basic(name: str) -> str:
    return f"{{{BASIC_NS}}}{name}"


def faults(name: str) -> str:
    return f"{{{FAULTS_NS}}}{name}"


def ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"
