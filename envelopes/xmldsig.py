"""XMLDSig for one pinned profile, on lxml's C14N and cryptography directly.

Profile: detached signature, references by ``URI="#Id"``, exclusive C14N 1.0 as the only
transform and as the SignedInfo canonicalization, SHA-256/384/512 digests, RSA PKCS#1 v1.5 or
ECDSA (raw r‖s as XMLDSig 1.1 says) over SHA-256/384/512.

Why not signxml on the hot path: it serialises and re-parses the whole document several times per
operation (about 1 ms for a 5 KB envelope); this does one canonicalization per reference and
one parse of the signed bytes. The tests cross-check both ways against signxml, so the two stay
interoperable (docs/decisions/0003-own-xmldsig-profile.md).

Verification returns the referenced elements *re-parsed from the exact bytes that were digested*:
callers read only those, never the document they handed in (signature-wrapping safe). The
references themselves are read from the canonical SignedInfo whose signature was checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from lxml import etree

from envelopes.errors import AlgorithmNotAllowedError, SignatureError
from envelopes.parsing import relative_namespace

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = EXC_C14N + "WithComments"
_DS = "{" + DS_NS + "}"

DIGESTS: dict[str, str] = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
SIGNATURES: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", hashes.SHA512),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ecdsa", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ecdsa", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ecdsa", hashes.SHA512),
}
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, collect_ids=False
)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def canonicalize(
    element: etree._Element, *, comments: bool = False, prefixes: Sequence[str] | None = None
) -> bytes:
    """Exclusive C14N 1.0 of an element subtree (as the reference or SignedInfo is digested).

    A subtree that has no canonical form (libxml2 refuses, e.g., relative namespace URIs)
    is a SignatureError: nothing about it can be verified, and the caller must refuse it.
    """
    try:
        return bytes(
            etree.tostring(
                element,
                method="c14n",
                exclusive=True,
                with_comments=comments,
                inclusive_ns_prefixes=list(prefixes) if prefixes else None,
            )
        )
    except (etree.C14NError, ValueError, TypeError) as exc:
        why = relative_namespace(element) or str(exc)
        raise SignatureError(
            f"{etree.QName(element).localname}: has no canonical form, so it cannot be signed "
            f"or verified: {why}"
        ) from None


def _raw_ecdsa(der: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    r, s = decode_dss_signature(der)
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


_WITH_ID = etree.XPath("//*[@Id]")


def elements_by_id(root: etree._Element, ids: Sequence[str]) -> dict[str, list[etree._Element]]:
    """The elements carrying each of ``ids`` as their Id (a list: there may be impostors)."""
    found: dict[str, list[etree._Element]] = {i: [] for i in ids}
    for element in _WITH_ID(root):  # type: ignore[union-attr]
        ident = element.get("Id")  # type: ignore[union-attr]
        if ident in found:
            found[ident].append(element)  # type: ignore[arg-type]
    return found


def escape_text(value: str) -> str:
    """Character data as exclusive C14N writes it (and any XML parser reads it back)."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    )


def escape_attribute(value: str) -> str:
    """An attribute value as exclusive C14N writes it (inside double quotes)."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace('"', "&quot;")
        .replace("\t", "&#x9;")
        .replace("\n", "&#xA;")
        .replace("\r", "&#xD;")
    )


def signature_xml(
    references: Sequence[tuple[str, bytes]], key: PrivateKey, cert_der: bytes
) -> bytes:
    """A serialized ds:Signature over references (Id, SHA-256 of its canonical form).

    Written as text, already in canonical form: SignedInfo's exclusive C14N is the string
    signed here, so nothing is built as a tree and canonicalized again. ``sign`` parses this
    for callers that work on trees; the receipt fast path splices it in as it is.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        method = RSA_SHA256
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        method = ECDSA_SHA256
    else:  # pragma: no cover - callers load only these key types
        raise SignatureError("unsupported key type")
    parts = [
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{method}"></ds:SignatureMethod>'
    ]
    for ident, digest in references:
        parts.append(
            f'<ds:Reference URI="#{escape_attribute(ident)}"><ds:Transforms>'
            f'<ds:Transform Algorithm="{EXC_C14N}"></ds:Transform></ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod>'
            f"<ds:DigestValue>{base64.b64encode(digest).decode()}</ds:DigestValue></ds:Reference>"
        )
    inner = "".join(parts)
    signed_info = f'<ds:SignedInfo xmlns:ds="{DS_NS}">{inner}</ds:SignedInfo>'.encode()
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(signed_info, padding.PKCS1v15(), hashes.SHA256())
    else:
        value = _raw_ecdsa(key.sign(signed_info, ec.ECDSA(hashes.SHA256())), key)
    return (
        f'<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>{inner}</ds:SignedInfo>'
        f"<ds:SignatureValue>{base64.b64encode(value).decode()}</ds:SignatureValue>"
        f"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{base64.b64encode(cert_der).decode()}"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"
    ).encode()


def sign(
    root: etree._Element,
    ids: Sequence[str],
    key: PrivateKey,
    cert_der: bytes,
    known_sha256: dict[str, bytes] | None = None,
) -> etree._Element:
    """A ds:Signature over the elements of ``root`` with those Ids (not yet placed anywhere).

    ``known_sha256`` gives digests already computed for some Ids (the hub verified the
    sender's #content a moment ago), saving their canonicalization.
    """
    targets = {i: (found[0] if found else None) for i, found in elements_by_id(root, ids).items()}
    known = known_sha256 or {}
    references = []
    for ident in ids:
        target = targets.get(ident)
        if target is None:
            raise SignatureError(f"nothing to sign: no element with Id {ident!r}")
        references.append(
            (ident, known.get(ident) or hashlib.sha256(canonicalize(target)).digest())
        )
    return etree.fromstring(signature_xml(references, key, cert_der), _PARSER)


def _b64(text: str | None, where: str) -> bytes:
    try:
        value = base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{where}: not base64") from None
    if not value:
        raise SignatureError(f"{where}: empty")
    return value


def _check_value(public_key: PublicKey, method: str, value: bytes, data: bytes, where: str) -> None:
    family, algorithm = SIGNATURES[method]
    try:
        if family == "rsa":
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureError(f"{where}: {method} needs an RSA key")
            public_key.verify(value, data, padding.PKCS1v15(), algorithm())
        else:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise SignatureError(f"{where}: {method} needs an EC key")
            size = (public_key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise SignatureError(
                    f"{where}/SignatureValue: {len(value)} bytes, expected {2 * size} (r‖s)"
                )
            r = int.from_bytes(value[:size], "big")
            s = int.from_bytes(value[size:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algorithm()))
    except InvalidSignature:
        raise SignatureError(
            f"{where}/SignatureValue: signature does not verify with the certificate's key"
        ) from None


def verify(
    root: etree._Element,
    signature: etree._Element,
    public_key: PublicKey,
    expected_ids: Sequence[str],
    where: str,
    sha256_out: dict[str, bytes] | None = None,
) -> dict[str, etree._Element]:
    """Check ``signature`` over ``root``; return {Id: element re-parsed from the signed bytes}.

    Algorithms must already be on the allow-list (the caller says which); every reference must
    be one of ``expected_ids`` and each of those referenced exactly once. ``sha256_out``
    receives the SHA-256 of each reference's canonical bytes (what the hub's receipts cite).
    """
    info = signature.find(_DS + "SignedInfo")
    if info is None:
        raise SignatureError(f"{where}/SignedInfo: element is missing")
    c14n = info.find(_DS + "CanonicalizationMethod")
    c14n_uri = c14n.get("Algorithm") if c14n is not None else None
    if c14n_uri not in (EXC_C14N, EXC_C14N_COMMENTS):
        raise AlgorithmNotAllowedError(
            f"{where}/SignedInfo/CanonicalizationMethod: {c14n_uri!r} is not allowed"
        )
    method_el = info.find(_DS + "SignatureMethod")
    method = method_el.get("Algorithm") if method_el is not None else None
    if method not in SIGNATURES:
        raise AlgorithmNotAllowedError(
            f"{where}/SignedInfo/SignatureMethod: {method!r} is not allowed"
        )
    value = _b64(signature.findtext(_DS + "SignatureValue"), f"{where}/SignatureValue")
    signed_info = canonicalize(info, comments=c14n_uri == EXC_C14N_COMMENTS)
    _check_value(public_key, method, value, signed_info, where)
    # From here on, read only what the signature covers: the canonical SignedInfo.
    covered = etree.fromstring(signed_info, _PARSER)
    references = covered.findall(_DS + "Reference")
    uris = [r.get("URI") or "" for r in references]
    if sorted(uris) != sorted("#" + i for i in expected_ids):
        raise SignatureError(
            f"{where}/SignedInfo: references {uris}, must reference exactly "
            f"{['#' + i for i in expected_ids]}"
        )
    targets: dict[str, etree._Element] = {}
    for ident, found in elements_by_id(root, expected_ids).items():
        if len(found) > 1:
            raise SignatureError(f"{where}: Id {ident!r} is not unique (signature wrapping?)")
        if found:
            targets[ident] = found[0]
    signed: dict[str, etree._Element] = {}
    for reference in references:
        ident = (reference.get("URI") or "")[1:]
        target = targets.get(ident)
        if target is None:
            raise SignatureError(f"{where}: reference #{ident} points to no element")
        digest_el = reference.find(_DS + "DigestMethod")
        digest_uri = digest_el.get("Algorithm") if digest_el is not None else None
        if digest_uri not in DIGESTS:
            raise AlgorithmNotAllowedError(
                f"{where}/SignedInfo/Reference/DigestMethod: {digest_uri!r} is not allowed"
            )
        comments = False
        prefixes: list[str] = []
        for transform in reference.iterfind(f"{_DS}Transforms/{_DS}Transform"):
            algorithm = transform.get("Algorithm")
            if algorithm not in (EXC_C14N, EXC_C14N_COMMENTS):
                raise AlgorithmNotAllowedError(
                    f"{where}/SignedInfo/Reference/Transforms: {algorithm!r} is not allowed"
                )
            comments = algorithm == EXC_C14N_COMMENTS
            inclusive = transform.find("{" + EC_NS + "}InclusiveNamespaces")
            if inclusive is not None:
                prefixes = (inclusive.get("PrefixList") or "").split()
        data = canonicalize(target, comments=comments, prefixes=prefixes)
        expected = _b64(reference.findtext(_DS + "DigestValue"), f"{where}/DigestValue")
        actual = hashlib.new(DIGESTS[digest_uri], data).digest()
        if sha256_out is not None:
            sha256_out[ident] = (
                actual if DIGESTS[digest_uri] == "sha256" else hashlib.sha256(data).digest()
            )
        if not hmac.compare_digest(actual, expected):
            raise SignatureError(
                f"{where}: digest mismatch for reference #{ident}: the signed content was altered"
            )
        signed[ident] = etree.fromstring(data, _PARSER)
    return signed
