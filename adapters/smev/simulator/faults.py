"""Synchronous SMEV faults: SOAP 1.1 Faults whose detail is a 1.3 fault element.

The builders below make a :class:`~adapters.smev.errors.SimulatorFault` (raise it, and the
simulator answers with it); ``fault_envelope`` writes it.

The detail elements follow ``smev-message-exchange-faults-1.3.xsd`` (and validate against it):
``SmevFault``-based ones carry ``Code`` and ``Description`` (basic namespace) before their own
fields; ``Void`` ones are empty, as in the captured ``TargetMessageIsNotFound`` fault.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from adapters.smev.errors import SimulatorFault
from adapters.smev.simulator.ns import NSMAP, SOAP_NS, XML_NS, basic, faults, soap
from adapters.smev.simulator.schema import ValidationIssue

# SignatureVerificationFault codes (the enumeration in the faults XSD).
POOR_SOAP_ENVELOPE_FORMAT = "PoorSOAPEnvelopeFormat"
NO_SIGNATURE_FOUND = "NoSignatureFound"
INCORRECT_SIGNATURE_TARGET = "IncorrectSignatureTarget"
SIGNATURE_IS_INVALID = "SignatureIsInvalid"
CERTIFICATE_IS_NOT_FOUND = "CertificateIsNotFound"
CERTIFICATE_IS_EXPIRED = "CertificateIsExpired"

_CODE_PREFIX = "smev-sim"


def _with_description(
    name: str, message: str, *, server: bool = False, code: str | None = None
) -> tuple[SimulatorFault, etree._Element]:
    detail = etree.Element(faults(name), nsmap=NSMAP)
    etree.SubElement(detail, basic("Code")).text = code or f"{_CODE_PREFIX}:{name}"
    etree.SubElement(detail, basic("Description")).text = message
    return SimulatorFault(name, message, server=server, detail=detail), detail


def invalid_content_fault(issues: Sequence[ValidationIssue], message: str) -> SimulatorFault:
    fault, detail = _with_description("InvalidContent", message)
    for issue in issues or [ValidationIssue(message, -1)]:
        error = etree.SubElement(detail, faults("ValidationError"))
        error.set("errorPosition", str(issue.line))
        error.text = issue.message
    return fault


def signature_fault(code: str, message: str) -> SimulatorFault:
    fault, detail = _with_description("SignatureVerificationFault", message, server=True)
    etree.SubElement(detail, faults("SignatureVerificationFault")).text = code
    fault.code = code
    return fault


def destination_overflow_fault(destination: str, broker: str) -> SimulatorFault:
    message = f"Очередь получателя переполнена (симулятор): {destination}"
    fault, detail = _with_description("DestinationOverflow", message, server=True)
    etree.SubElement(detail, faults("MessageBrokerAddress")).text = broker
    etree.SubElement(detail, faults("DestinationName")).text = destination
    return fault


def void_fault(name: str, message: str, *, server: bool = False) -> SimulatorFault:
    """A fault whose detail element is empty (``Void`` in the faults XSD)."""
    return SimulatorFault(
        name, message, server=server, detail=etree.Element(faults(name), nsmap=NSMAP)
    )


def fault_envelope(fault: SimulatorFault) -> bytes:
    """The SOAP 1.1 envelope carrying ``fault``."""
    envelope = etree.Element(soap("Envelope"), nsmap={"soap": SOAP_NS})
    etree.SubElement(envelope, soap("Header"))
    body = etree.SubElement(envelope, soap("Body"))
    element = etree.SubElement(body, soap("Fault"))
    etree.SubElement(element, "faultcode").text = "soap:Server" if fault.server else "soap:Client"
    faultstring = etree.SubElement(element, "faultstring")
    faultstring.set(f"{{{XML_NS}}}lang", "ru")
    faultstring.text = fault.message
    detail = etree.SubElement(element, "detail")
    detail.append(fault.detail)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def plain_fault_envelope(message: str, *, code: str = "soap:Client") -> bytes:
    """A SOAP fault without SMEV detail (the request is not a SOAP 1.1 message at all)."""
    envelope = etree.Element(soap("Envelope"), nsmap={"soap": SOAP_NS})
    body = etree.SubElement(envelope, soap("Body"))
    element = etree.SubElement(body, soap("Fault"))
    etree.SubElement(element, "faultcode").text = code
    etree.SubElement(element, "faultstring").text = message
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))
