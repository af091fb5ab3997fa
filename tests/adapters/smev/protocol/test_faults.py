"""SMEV faults: reading them, and what each one means for a delivery."""

from __future__ import annotations

import pytest

from adapters.smev.errors import ProtocolError, SmevFault
from adapters.smev.protocol import soap
from adapters.smev.protocol.soap import FaultMeaning

from .conftest import DATA


def test_reads_a_real_signature_fault() -> None:
    reply = soap.parse_reply(
        "text/xml", (DATA / "SoapFaultResponse_SignatureVerificationFault.xml").read_bytes()
    )
    fault = soap.parse_fault(reply.body)
    assert fault.name == "SignatureVerificationFault"
    assert fault.details == ["CertificateIsExpired"]
    assert fault.description.startswith("SMEV-100")
    assert soap.classify(fault) == (FaultMeaning.PERMANENT, None)


def test_reads_a_fault_whose_detail_declares_many_versions() -> None:
    reply = soap.parse_reply(
        "text/xml", (DATA / "SoapFault_TargetMessageIsNotFound.xml").read_bytes()
    )
    fault = soap.parse_fault(reply.body)
    assert fault.name == "TargetMessageIsNotFound"
    assert "не найдено" in fault.faultstring


@pytest.mark.parametrize(
    ("name", "meaning"),
    [
        ("MessageIsAlreadySent", FaultMeaning.SENT),
        ("StaleMessageId", FaultMeaning.STALE),
        ("SMEVFailure", FaultMeaning.TRANSIENT),
        ("DestinationOverflow", FaultMeaning.TRANSIENT),
        ("EndOfLifeReached", FaultMeaning.TRANSIENT),
        ("QuoteLimitExceeded", FaultMeaning.TRANSIENT),
        ("InvalidContent", FaultMeaning.PERMANENT),
        ("SignatureVerificationFault", FaultMeaning.PERMANENT),
        ("AccessDenied", FaultMeaning.PERMANENT),
        ("UnknownMessageType", FaultMeaning.PERMANENT),
        ("InvalidMessageIdFormat", FaultMeaning.PERMANENT),
        ("BusinessDataTypeIsNotSupported", FaultMeaning.PERMANENT),
        ("AttachmentSizeLimitExceeded", FaultMeaning.PERMANENT),
        ("RecipientIsNotFound", FaultMeaning.PERMANENT),
    ],
)
def test_known_faults(name: str, meaning: FaultMeaning) -> None:
    assert soap.classify(SmevFault(name))[0] == meaning


def test_unknown_faults_follow_the_faultcode() -> None:
    assert soap.classify(SmevFault("Novel", faultcode="soap:Client"))[0] == FaultMeaning.PERMANENT
    assert soap.classify(SmevFault("Novel", faultcode="soap:Server"))[0] == FaultMeaning.TRANSIENT
    assert soap.classify(SmevFault("", faultcode=""))[0] == FaultMeaning.TRANSIENT


def test_http_statuses() -> None:
    assert soap.transient_status(503) and soap.transient_status(429)
    assert not soap.transient_status(404) and not soap.transient_status(400)


def test_not_soap_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        soap.parse_reply("text/xml", b"<html><body>502</body></html>").body  # noqa: B018
    with pytest.raises(ProtocolError):
        soap.parse_reply("text/xml", b"not xml at all")
