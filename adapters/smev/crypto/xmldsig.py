"""SMEV 3 XMLDSig: detached signatures in sibling containers, GOST R 34.10-2012 by default.

A SMEV signature (CallerInformationSystemSignature, PersonalSignature, SMEVSignature, ...)
holds a ds:Signature whose single Reference points at the signed element by ``URI="#Id"``
and applies exclusive c14n then the SMEV transform (some clients put enveloped-signature
first; verification accepts that). SignedInfo itself is canonicalized with exclusive c14n
exactly as it stands in the document: a verifier must never tidy it up, or it would accept
documents whose signed bytes it has not seen.

Signing goes through the ``XmlSigner`` protocol so that a certified provider (CryptoPro,
PKCS#11 token, HSM) can replace the built-in gostcrypto signer (the implementations are in
``signers.py``); see docs/smev-signatures.md.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import (
    Certificate,
    GostTrustStore,
    load_certificate,
)
from adapters.smev.crypto.transform import (
    SMEV_TRANSFORM_URI,
    exc_c14n,
    smev_transform,
    smev_transform_bytes,
)
from adapters.smev.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    CertificateParseError,
    SignatureVerificationError,
    SigningError,
    SmevCertificateError,
    TransformError,
    UnsupportedKeyError,
    UntrustedCertificateError,
    XmlInputError,
)
from adapters.smev.parsing import parse_xml

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
log = logging.getLogger("adapters.smev")

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SMEV_TRANSFORM = SMEV_TRANSFORM_URI

GOST2012_256_SIGNATURE = (
    "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256"
)
GOST2012_256_DIGEST = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"
GOST2012_512_SIGNATURE = (
    "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-512"
)
GOST2012_512_DIGEST = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-512"
GOST2001_SIGNATURE = "http://www.w3.org/2001/04/xmldsig-more#gostr34102001-gostr3411"
GOST94_DIGEST = "http://www.w3.org/2001/04/xmldsig-more#gostr3411"
RSA_SHA256_SIGNATURE = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256_DIGEST = "http://www.w3.org/2001/04/xmlenc#sha256"

LEGACY_ALGORITHMS = {
    GOST2001_SIGNATURE: "GOST R 34.10-2001 with GOST R 34.11-94",
    GOST94_DIGEST: "GOST R 34.11-94",
}
DIGEST_FUNCTIONS: dict[str, Callable[[bytes], bytes]] = {
    GOST2012_256_DIGEST: gost.streebog256,
    SHA256_DIGEST: gost.sha256,
}
SIGNATURE_DIGESTS = {
    GOST2012_256_SIGNATURE: GOST2012_256_DIGEST,
    RSA_SHA256_SIGNATURE: SHA256_DIGEST,
}

# Elements a SMEV client signs, and the container its signature goes in (last child of the
# signed element's parent, in the parent's namespace; see smev-message-exchange-types XSD).
CALLER_SIGNED_ELEMENTS = frozenset(
    {
        "SenderProvidedRequestData",
        "SenderProvidedResponseData",
        "AckTargetMessage",
        "MessageTypeSelector",
        "Timestamp",
    }
)
CALLER_SIGNATURE_CONTAINER = "CallerInformationSystemSignature"


def _ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


# --- who signs ------------------------------------------------------------------------


@runtime_checkable
class XmlSigner(Protocol):
    """What ``sign`` needs from a key holder; implement it to plug in a certified provider."""

    @property
    def algorithm_uri(self) -> str:
        """ds:SignatureMethod Algorithm."""
        ...

    @property
    def digest_uri(self) -> str:
        """ds:DigestMethod Algorithm for the reference."""
        ...

    @property
    def certificate_der(self) -> bytes:
        """The signer's certificate, placed in KeyInfo/X509Data."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Signature over ``data`` (the canonical SignedInfo), as SignatureValue bytes."""
        ...

    def digest(self, data: bytes) -> bytes:
        """Digest of the transformed reference, as DigestValue bytes."""
        ...


# --- shared reference processing ---------------------------------------------------------


class _ReferenceError(Exception):
    def __init__(self, kind: Problem, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def find_by_id(
    tree_or_element: etree._Element | etree._ElementTree, element_id: str
) -> list[etree._Element]:
    """All elements of the document carrying ``Id="element_id"``."""
    tree = (
        tree_or_element
        if isinstance(tree_or_element, etree._ElementTree)
        else tree_or_element.getroottree()
    )
    found = tree.xpath("//*[@Id=$value]", value=element_id)
    assert isinstance(found, list)
    return [node for node in found if isinstance(node, etree._Element)]


def _remove_keeping_tail(node: etree._Element) -> None:
    """Remove an element but keep the text after it, as the enveloped transform requires."""
    parent = node.getparent()
    if parent is None:
        return
    if node.tail:
        previous = node.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        else:
            parent.text = (parent.text or "") + node.tail
    parent.remove(node)


def _without_signature(node: etree._Element, signature: etree._Element) -> etree._Element:
    """``node`` minus the enclosing ds:Signature (a copy; the document is never changed)."""
    path: list[int] = []
    current = signature
    while current is not node:
        parent = current.getparent()
        if parent is None:
            return node  # the signature is not inside the node: nothing to remove
        path.append(parent.index(current))
        current = parent
    if not path:
        raise _ReferenceError(Problem.MALFORMED, "a signature cannot reference itself")
    clone = copy.deepcopy(node)
    target = clone
    for index in reversed(path):
        target = target[index]
    _remove_keeping_tail(target)
    return clone


def _transform_chain(reference: etree._Element) -> list[str]:
    transforms = reference.find(_ds("Transforms"))
    if transforms is None:
        return []
    return [str(t.get("Algorithm", "")) for t in transforms.findall(_ds("Transform"))]


def _check_transform_chain(chain: list[str]) -> None:
    """Accept [enveloped-signature]? exc-c14n? smev-transform, and nothing else."""
    rest = chain[1:] if chain[:1] == [ENVELOPED_SIGNATURE] else chain
    if not rest or rest[-1] != SMEV_TRANSFORM:
        raise _ReferenceError(
            Problem.UNSUPPORTED_ALGORITHM,
            "transforms must end with the SMEV transform "
            + SMEV_TRANSFORM
            + f" (got {', '.join(chain) or 'none'})",
        )
    for algorithm in rest[:-1]:
        if algorithm not in (EXC_C14N, EXC_C14N_WITH_COMMENTS):
            raise _ReferenceError(
                Problem.UNSUPPORTED_ALGORITHM, f"unsupported transform {algorithm}"
            )


def _reference_octets(target: etree._Element, signature: etree._Element, chain: list[str]) -> bytes:
    """Run the transform chain on ``target``; the result is what DigestValue covers."""
    _check_transform_chain(chain)
    node = target
    data: bytes | None = None
    try:
        for algorithm in chain:
            if algorithm == ENVELOPED_SIGNATURE:
                node = _without_signature(node, signature)
            elif algorithm in (EXC_C14N, EXC_C14N_WITH_COMMENTS):
                comments = algorithm == EXC_C14N_WITH_COMMENTS
                source = node if data is None else parse_xml(data).getroot()
                data = exc_c14n(source, with_comments=comments)
            else:  # SMEV transform (always last)
                data = smev_transform(node) if data is None else smev_transform_bytes(data)
    except (TransformError, XmlInputError) as exc:
        raise _ReferenceError(Problem.MALFORMED, f"transform failed: {exc}") from exc
    assert data is not None
    return data


def _resolve(tree: etree._ElementTree, uri: str) -> etree._Element:
    if not uri.startswith("#") or len(uri) < 2 or uri.startswith("#xpointer("):
        raise _ReferenceError(
            Problem.UNSUPPORTED_ALGORITHM,
            f"reference URI {uri!r} is not a same-document '#Id' reference",
        )
    found = find_by_id(tree, uri[1:])
    if not found:
        raise _ReferenceError(Problem.REFERENCE_NOT_FOUND, f"no element with Id={uri[1:]!r}")
    if len(found) > 1:
        raise _ReferenceError(
            Problem.AMBIGUOUS_REFERENCE,
            f"{len(found)} elements carry Id={uri[1:]!r}; a signed Id must be unique",
        )
    return found[0]


def _canonical_signed_info(signed_info: etree._Element) -> bytes:
    """Exclusive c14n of SignedInfo exactly as it is in the document."""
    method = signed_info.find(_ds("CanonicalizationMethod"))
    algorithm = None if method is None else method.get("Algorithm")
    if algorithm not in (EXC_C14N, EXC_C14N_WITH_COMMENTS):
        raise _ReferenceError(
            Problem.UNSUPPORTED_ALGORITHM, f"unsupported CanonicalizationMethod {algorithm}"
        )
    assert method is not None
    prefixes: list[str] | None = None
    inclusive = method.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    if inclusive is not None:
        prefixes = (inclusive.get("PrefixList") or "").split()
    try:
        return exc_c14n(
            signed_info,
            with_comments=algorithm == EXC_C14N_WITH_COMMENTS,
            inclusive_prefixes=prefixes,
        )
    except TransformError as exc:
        raise _ReferenceError(Problem.MALFORMED, f"SignedInfo: {exc}") from exc


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _ReferenceError(Problem.MALFORMED, f"{what} is not valid base64") from exc


def signature_value_problem(
    algorithm: str, certificate: Certificate, data: bytes, signature: bytes
) -> tuple[Problem, str] | None:
    """None if ``signature`` over ``data`` verifies with the certificate's key, else why not."""
    mismatch = (
        Problem.SIGNATURE_MISMATCH,
        f"signature value mismatch for certificate '{certificate.name}': SignatureValue does "
        "not match the canonical SignedInfo (altered or re-formatted after signing?)",
    )
    if algorithm == GOST2012_256_SIGNATURE:
        try:
            key = certificate.gost_public_key()
        except SmevCertificateError as exc:
            return Problem.UNSUPPORTED_ALGORITHM, str(exc)
        return None if gost.verify(key, data, signature) else mismatch
    if algorithm == RSA_SHA256_SIGNATURE:
        try:
            public = cx509.load_der_x509_certificate(certificate.der).public_key()
        except ValueError as exc:  # a key the GOST reader skipped and cryptography refuses
            return Problem.CERTIFICATE_INVALID, f"certificate '{certificate.name}': {exc}"
        if not isinstance(public, rsa.RSAPublicKey):
            return (
                Problem.UNSUPPORTED_ALGORITHM,
                f"certificate '{certificate.name}' does not hold an RSA key",
            )
        try:
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return mismatch
        return None
    if algorithm in LEGACY_ALGORITHMS:
        return (
            Problem.UNSUPPORTED_ALGORITHM,
            f"unsupported legacy algorithm {LEGACY_ALGORITHMS[algorithm]} ({algorithm})",
        )
    return Problem.UNSUPPORTED_ALGORITHM, f"unsupported signature algorithm {algorithm}"


# --- signing ----------------------------------------------------------------------------


def sign(
    root_or_element: etree._Element,
    element_id: str,
    signer: XmlSigner,
    signature_parent: etree._Element,
    *,
    position: int | None = None,
    enveloped: bool | None = None,
) -> etree._Element:
    """Sign the element with ``Id=element_id`` and put ds:Signature into ``signature_parent``.

    ``root_or_element`` is any element of the document (the Id is looked up document-wide).
    The signature is appended, or inserted at ``position``. The enveloped-signature transform
    is added when the container lies inside the signed element (``enveloped`` forces it on
    or off). Returns the new ds:Signature element.
    """
    tree = root_or_element.getroottree()
    found = find_by_id(tree, element_id)
    if len(found) != 1:
        raise SigningError(
            f"no element with Id={element_id!r}"
            if not found
            else f"{len(found)} elements carry Id={element_id!r}; it must be unique"
        )
    target = found[0]
    if signature_parent.getroottree().getroot() is not tree.getroot():
        raise SigningError("the signature container is not in the same document")
    inside = signature_parent is target or any(
        ancestor is target for ancestor in signature_parent.iterancestors()
    )
    use_enveloped = inside if enveloped is None else enveloped
    if inside and not use_enveloped:
        raise SigningError("a signature inside the signed element needs enveloped-signature")

    signature = etree.Element(_ds("Signature"), nsmap={"ds": DS_NS})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=signer.algorithm_uri)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI=f"#{element_id}")
    transforms = etree.SubElement(reference, _ds("Transforms"))
    chain = ([ENVELOPED_SIGNATURE] if use_enveloped else []) + [EXC_C14N, SMEV_TRANSFORM]
    for algorithm in chain:
        etree.SubElement(transforms, _ds("Transform"), Algorithm=algorithm)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=signer.digest_uri)
    digest_value = etree.SubElement(reference, _ds("DigestValue"))
    signature_value = etree.SubElement(signature, _ds("SignatureValue"))
    x509_data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
    etree.SubElement(x509_data, _ds("X509Certificate")).text = base64.b64encode(
        signer.certificate_der
    ).decode("ascii")

    if position is None:
        signature_parent.append(signature)
    else:
        signature_parent.insert(position, signature)
    try:
        octets = _reference_octets(target, signature, chain)
        digest_value.text = base64.b64encode(signer.digest(octets)).decode("ascii")
        canonical = _canonical_signed_info(signed_info)
        signature_value.text = base64.b64encode(signer.sign(canonical)).decode("ascii")
    except _ReferenceError as exc:
        signature_parent.remove(signature)
        raise SigningError(exc.message) from exc
    except BaseException:
        signature_parent.remove(signature)
        raise
    return signature


def caller_signature_container(target: etree._Element) -> etree._Element:
    """CallerInformationSystemSignature for a caller-signed element, created if missing.

    It is the last child of the target's parent, in the parent's namespace (XSD order).
    """
    parent = target.getparent()
    if parent is None:
        raise SigningError("the signed element has no parent to hold its signature")
    namespace = etree.QName(parent).namespace
    tag = etree.QName(namespace, CALLER_SIGNATURE_CONTAINER).text
    container = parent.find(tag)
    if container is None:
        container = etree.SubElement(parent, tag)
    elif container.find(_ds("Signature")) is not None:
        raise SigningError(f"{CALLER_SIGNATURE_CONTAINER} already holds a signature")
    return container


def sign_smev_element(root: etree._Element, element_id: str, signer: XmlSigner) -> etree._Element:
    """Sign by Id and place the signature where SMEV expects it.

    Caller-signed elements (SenderProvidedRequestData, ...) get CallerInformationSystemSignature;
    anything else gets a ds:Signature as the next sibling of the element.
    """
    found = find_by_id(root, element_id)
    if len(found) != 1:
        raise SigningError(
            f"no element with Id={element_id!r}"
            if not found
            else f"{len(found)} elements carry Id={element_id!r}; it must be unique"
        )
    target = found[0]
    if etree.QName(target).localname in CALLER_SIGNED_ELEMENTS:
        return sign(root, element_id, signer, caller_signature_container(target))
    parent = target.getparent()
    if parent is None:
        raise SigningError("cannot place a signature next to the root element")
    return sign(root, element_id, signer, parent, position=parent.index(target) + 1)


# --- verification -----------------------------------------------------------------------


class Problem(StrEnum):
    MALFORMED = "malformed"
    UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
    REFERENCE_NOT_FOUND = "reference-not-found"
    AMBIGUOUS_REFERENCE = "ambiguous-reference"
    DIGEST_MISMATCH = "digest-mismatch"
    SIGNATURE_MISMATCH = "signature-mismatch"
    NO_CERTIFICATE = "no-certificate"
    CERTIFICATE_INVALID = "certificate-invalid"
    CERTIFICATE_EXPIRED = "certificate-expired"
    CERTIFICATE_NOT_YET_VALID = "certificate-not-yet-valid"
    UNTRUSTED_CERTIFICATE = "untrusted-certificate"


@dataclass(frozen=True)
class SignatureProblem:
    kind: Problem
    message: str
    reference: str | None = None

    def __str__(self) -> str:
        where = f"reference {self.reference}: " if self.reference else ""
        return f"{where}{self.message}"


@dataclass(frozen=True)
class SignatureReport:
    """The outcome for one ds:Signature; ``ok`` only if every check passed."""

    index: int
    container: str
    references: tuple[str, ...]
    signature_method: str | None
    certificate: Certificate | None
    signed_elements: tuple[etree._Element, ...] = ()
    problems: tuple[SignatureProblem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        refs = ", ".join(self.references) or "no reference"
        return f"signature {self.index} ({self.container}, {refs})"

    def kinds(self) -> set[Problem]:
        return {problem.kind for problem in self.problems}


_CERT_PROBLEMS: list[tuple[type[SmevCertificateError], Problem]] = [
    (CertificateExpiredError, Problem.CERTIFICATE_EXPIRED),
    (CertificateNotYetValidError, Problem.CERTIFICATE_NOT_YET_VALID),
    (UntrustedCertificateError, Problem.UNTRUSTED_CERTIFICATE),
    (UnsupportedKeyError, Problem.UNSUPPORTED_ALGORITHM),
    (CertificateParseError, Problem.CERTIFICATE_INVALID),
]


def _certificate_problem(exc: SmevCertificateError) -> SignatureProblem:
    for error_type, kind in _CERT_PROBLEMS:
        if isinstance(exc, error_type):
            return SignatureProblem(kind, str(exc))
    return SignatureProblem(Problem.CERTIFICATE_INVALID, str(exc))


def _check_reference(
    tree: etree._ElementTree, signature: etree._Element, reference: etree._Element
) -> tuple[etree._Element | None, list[SignatureProblem]]:
    uri = str(reference.get("URI", ""))
    try:
        target = _resolve(tree, uri)
        method = reference.find(_ds("DigestMethod"))
        digest_uri = None if method is None else method.get("Algorithm")
        if digest_uri in LEGACY_ALGORITHMS:
            raise _ReferenceError(
                Problem.UNSUPPORTED_ALGORITHM,
                f"unsupported legacy algorithm {LEGACY_ALGORITHMS[digest_uri]} ({digest_uri})",
            )
        if digest_uri not in DIGEST_FUNCTIONS:
            raise _ReferenceError(
                Problem.UNSUPPORTED_ALGORITHM, f"unsupported DigestMethod {digest_uri}"
            )
        expected = _b64(reference.findtext(_ds("DigestValue")), "DigestValue")
        octets = _reference_octets(target, signature, _transform_chain(reference))
        actual = DIGEST_FUNCTIONS[digest_uri](octets)
    except _ReferenceError as exc:
        return None, [SignatureProblem(exc.kind, exc.message, uri)]
    if actual != expected:
        return target, [
            SignatureProblem(
                Problem.DIGEST_MISMATCH,
                "digest mismatch: the signed element was changed "
                f"(DigestValue {base64.b64encode(expected).decode()}, "
                f"computed {base64.b64encode(actual).decode()})",
                uri,
            )
        ]
    return target, []


def _check_signature(
    tree: etree._ElementTree,
    signature: etree._Element,
    index: int,
    trust: GostTrustStore | None,
    at: datetime,
) -> SignatureReport:
    parent = signature.getparent()
    container = "document" if parent is None else etree.QName(parent).localname
    problems: list[SignatureProblem] = []
    signed_info = signature.find(_ds("SignedInfo"))
    if signed_info is None or len(signature.findall(_ds("SignedInfo"))) != 1:
        problem = SignatureProblem(Problem.MALFORMED, "needs exactly one SignedInfo")
        return SignatureReport(index, container, (), None, None, (), (problem,))
    method = signed_info.find(_ds("SignatureMethod"))
    algorithm = None if method is None else method.get("Algorithm")
    references = signed_info.findall(_ds("Reference"))
    uris = tuple(str(r.get("URI", "")) for r in references)
    if not references:
        problems.append(SignatureProblem(Problem.MALFORMED, "SignedInfo has no Reference"))
    signed: list[etree._Element] = []
    for reference in references:
        target, found = _check_reference(tree, signature, reference)
        problems.extend(found)
        if target is not None:
            signed.append(target)

    certificate: Certificate | None = None
    intermediates: list[Certificate] = []
    cert_texts = [
        c.text
        for c in signature.iterfind(f"{_ds('KeyInfo')}/{_ds('X509Data')}/{_ds('X509Certificate')}")
    ]
    if not cert_texts:
        problems.append(SignatureProblem(Problem.NO_CERTIFICATE, "KeyInfo has no X509Certificate"))
    else:
        try:
            parsed = [load_certificate(_b64(text, "X509Certificate")) for text in cert_texts]
            certificate, intermediates = parsed[0], parsed[1:]
        except _ReferenceError as exc:
            problems.append(SignatureProblem(Problem.CERTIFICATE_INVALID, exc.message))
        except SmevCertificateError as exc:
            problems.append(SignatureProblem(Problem.CERTIFICATE_INVALID, str(exc)))

    if algorithm in LEGACY_ALGORITHMS:
        problems.append(
            SignatureProblem(
                Problem.UNSUPPORTED_ALGORITHM,
                f"unsupported legacy algorithm {LEGACY_ALGORITHMS[algorithm]} ({algorithm})",
            )
        )
    elif algorithm not in SIGNATURE_DIGESTS:
        problems.append(
            SignatureProblem(
                Problem.UNSUPPORTED_ALGORITHM, f"unsupported SignatureMethod {algorithm}"
            )
        )
    elif certificate is not None:
        try:
            value = _b64(signature.findtext(_ds("SignatureValue")), "SignatureValue")
            canonical = _canonical_signed_info(signed_info)
        except _ReferenceError as exc:
            problems.append(SignatureProblem(exc.kind, exc.message))
        else:
            why = signature_value_problem(algorithm, certificate, canonical, value)
            if why is not None:
                problems.append(SignatureProblem(*why))

    if certificate is not None:
        try:
            if trust is None:
                certificate.check_validity(at)
            else:
                trust.verify(certificate, at, intermediates)
        except SmevCertificateError as exc:
            problems.append(_certificate_problem(exc))

    return SignatureReport(
        index, container, uris, algorithm, certificate, tuple(signed), tuple(problems)
    )


def verify(
    root_or_element: etree._Element | etree._ElementTree,
    *,
    trust: GostTrustStore | None = None,
    at: datetime | None = None,
) -> list[SignatureReport]:
    """Check every ds:Signature in the document; one report per signature, in document order.

    ``trust``: CA certificates the signer's certificate must chain to (None: chain not
    checked, validity still is). ``at``: the moment validity is judged at (default now; pass
    the message time when checking archived messages).
    """
    tree = (
        root_or_element
        if isinstance(root_or_element, etree._ElementTree)
        else root_or_element.getroottree()
    )
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    root = tree.getroot()
    return [
        _checked(tree, signature, index, trust, moment)
        for index, signature in enumerate(root.iter(_ds("Signature")), start=1)
    ]


def _checked(
    tree: etree._ElementTree,
    signature: etree._Element,
    index: int,
    trust: GostTrustStore | None,
    at: datetime,
) -> SignatureReport:
    """One signature's report, whatever the document holds: the verifier reports, never raises.

    A raise would escape to the polling loop, which would fetch the same message again and
    again without an Ack; a report lets the adapter refuse the message and acknowledge it.
    Every check above turns what it expects to go wrong into a problem; this is the net
    under the ones nobody expected (the fuzzers count them as findings).
    """
    try:
        return _check_signature(tree, signature, index, trust, at)
    except (etree.Error, ValueError, TypeError, LookupError, ArithmeticError) as exc:
        log.warning("SMEV signature %d could not be checked: %r", index, exc)
        problem = SignatureProblem(
            Problem.MALFORMED, f"the signature cannot be checked: {type(exc).__name__}: {exc}"
        )
        parent = signature.getparent()
        container = "document" if parent is None else etree.QName(parent).localname
        return SignatureReport(index, container, (), None, None, (), (problem,))


def verify_or_raise(
    root_or_element: etree._Element | etree._ElementTree,
    *,
    trust: GostTrustStore | None = None,
    at: datetime | None = None,
) -> list[SignatureReport]:
    """Like verify, but raise SignatureVerificationError unless signatures exist and all pass."""
    reports = verify(root_or_element, trust=trust, at=at)
    if not reports:
        raise SignatureVerificationError(reports, "no ds:Signature in the document")
    failed = [r for r in reports if not r.ok]
    if failed:
        lines = [f"{r.label}: {p}" for r in failed for p in r.problems]
        raise SignatureVerificationError(reports, "; ".join(lines))
    return reports
