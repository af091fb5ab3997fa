"""Checking the caller's signature (ЭП-ОВ) the way SMEV does, and naming the caller.

Each 1.3 request carries a ``CallerInformationSystemSignature`` over one element:

| request | signed element |
|---|---|
| SendRequestRequest | SenderProvidedRequestData |
| SendResponseRequest | SenderProvidedResponseData |
| GetRequestRequest, GetResponseRequest | MessageTypeSelector |
| GetStatusRequest | Timestamp |
| AckRequest | AckTargetMessage |

Every ds:Signature in the message is verified (the caller's and, e.g., a PersonalSignature); the
caller's must reference exactly that element. Problems become a SignatureVerificationFault with
SMEV's code: a broken signature ``SignatureIsInvalid``, wrong element ``IncorrectSignatureTarget``,
an expired certificate ``CertificateIsExpired``, an untrusted or missing certificate
``CertificateIsNotFound``, no signature ``NoSignatureFound``.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from adapters.smev.crypto.certificates import Certificate, GostTrustStore
from adapters.smev.crypto.xmldsig import Problem, verify
from adapters.smev.simulator.faults import (
    CERTIFICATE_IS_EXPIRED,
    CERTIFICATE_IS_NOT_FOUND,
    INCORRECT_SIGNATURE_TARGET,
    NO_SIGNATURE_FOUND,
    SIGNATURE_IS_INVALID,
    signature_fault,
)
from adapters.smev.simulator.ns import basic, ds, types

SIGNED_ELEMENT: dict[str, str] = {
    "SendRequest": types("SenderProvidedRequestData"),
    "SendResponse": types("SenderProvidedResponseData"),
    "GetRequest": basic("MessageTypeSelector"),
    "GetResponse": basic("MessageTypeSelector"),
    "GetStatus": basic("Timestamp"),
    "Ack": basic("AckTargetMessage"),
}

_BROKEN = {
    Problem.MALFORMED,
    Problem.UNSUPPORTED_ALGORITHM,
    Problem.REFERENCE_NOT_FOUND,
    Problem.AMBIGUOUS_REFERENCE,
    Problem.DIGEST_MISMATCH,
    Problem.SIGNATURE_MISMATCH,
    Problem.CERTIFICATE_INVALID,
}
_EXPIRED = {Problem.CERTIFICATE_EXPIRED, Problem.CERTIFICATE_NOT_YET_VALID}


def check_caller_signature(
    tree: etree._ElementTree,
    body_child: etree._Element,
    operation: str,
    *,
    trust: GostTrustStore | None,
    required: bool,
    at: datetime | None = None,
) -> Certificate | None:
    """The caller's certificate; SimulatorFault if the signatures do not pass.

    None when there is no signature and ``required`` is off (an unsigned request is then
    accepted, as the XSD allows for "simplified emulators").
    """
    container = body_child.find(types("CallerInformationSystemSignature"))
    signature = None if container is None else container.find(ds("Signature"))
    if signature is None:
        if required:
            raise signature_fault(
                NO_SIGNATURE_FOUND, "ЭП-ОВ не найдена: нет CallerInformationSystemSignature"
            )
        return None
    reports = verify(tree, trust=trust, at=at)
    signatures = list(tree.getroot().iter(ds("Signature")))
    caller = None
    for element, report in zip(signatures, reports, strict=True):
        if element is signature:
            caller = report
        elif not report.ok:
            raise signature_fault(
                SIGNATURE_IS_INVALID,
                f"Подпись {report.container} не прошла проверку: "
                + "; ".join(str(p) for p in report.problems),
            )
    assert caller is not None
    kinds = caller.kinds()
    details = "; ".join(str(p) for p in caller.problems)
    if kinds & _BROKEN:
        raise signature_fault(SIGNATURE_IS_INVALID, f"ЭП-ОВ не прошла проверку: {details}")
    if kinds & _EXPIRED:
        raise signature_fault(CERTIFICATE_IS_EXPIRED, f"Сертификат ЭП-ОВ недействителен: {details}")
    if kinds:
        raise signature_fault(
            CERTIFICATE_IS_NOT_FOUND, f"Сертификат ЭП-ОВ не найден или не доверен: {details}"
        )
    target = body_child.find(SIGNED_ELEMENT[operation])
    if target is None or not any(element is target for element in caller.signed_elements):
        name = etree.QName(SIGNED_ELEMENT[operation]).localname
        raise signature_fault(
            INCORRECT_SIGNATURE_TARGET, f"ЭП-ОВ должна подписывать элемент {name}"
        )
    return caller.certificate
