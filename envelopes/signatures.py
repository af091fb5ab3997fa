"""XMLDSig for envelopes: the sender's signature and the hub's countersignature.

The sender signs only ``Content`` (header, payload, attachment manifest) with a detached
signature in ``SenderSignature``; the hub adds ``Routing`` and signs ``#content`` plus ``#routing``
in ``HubSignature``. Neither touches the other's signed bytes, so a recipient verifies both.

Verification pins everything an attacker could bend: the signature's location, exactly the
expected reference URIs, unique Ids, an algorithm allow-list (no SHA-1), and a certificate that
our own trust store accepts and that is bound to the claimed participant. Callers get the
*verified* content (re-parsed from the bytes that were digested), never the document they
handed in, so a moved or forged element can never be read as signed (signature wrapping).
The XMLDSig mechanics live in envelopes/xmldsig.py (a pinned profile; see decision 0003).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from envelopes import xmldsig
from envelopes.codec import (
    CONTENT_ID,
    ENVELOPE_NS,
    ENVELOPE_VERSION,
    ROUTING_ID,
    content_of,
    envelope_from_tree,
    q,
    to_bytes,
)
from envelopes.errors import (
    AlgorithmNotAllowedError,
    CertificateError,
    SenderMismatchError,
    SignatureError,
    SignatureMissingError,
)
from envelopes.model import Envelope
from envelopes.pki import PrivateKey, TrustStore, describe, participant_ids, unreadable_fields

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
_DS = "{" + DS_NS + "}"

_ID_VALUES = etree.XPath("//@*[local-name() = 'Id']")
_ALLOWED_SIGNATURE_URIS = frozenset(xmldsig.SIGNATURES)
_ALLOWED_DIGEST_URIS = frozenset(xmldsig.DIGESTS)
_ALLOWED_C14N_URIS = {EXC_C14N, EXC_C14N + "WithComments"}


def content_digest(content: etree._Element) -> bytes:
    """SHA-256 of Content's exclusive canonical form: what idempotency and receipts refer to."""
    return hashlib.sha256(xmldsig.canonicalize(content)).digest()


class Signer:
    """Signs envelopes for one participant with its key and certificate."""

    def __init__(self, key: PrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert
        ids = participant_ids(cert)
        self.participant_id = ids[0] if ids else ""
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < 2048:
                raise CertificateError("RSA keys shorter than 2048 bits are not allowed")
        elif not isinstance(
            key, ec.EllipticCurvePrivateKey
        ):  # pragma: no cover - load_private_key already refuses
            raise CertificateError("unsupported key type")
        from cryptography.hazmat.primitives import serialization

        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
            raise CertificateError(f"the private key does not belong to {describe(cert)}")
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)

    @classmethod
    def from_files(cls, key_path: str, cert_path: str, passphrase: bytes | None = None) -> Signer:
        from envelopes.pki import load_certificate, load_private_key

        return cls(load_private_key(key_path, passphrase), load_certificate(cert_path))

    def _signature(self, root: etree._Element, uris: list[str]) -> etree._Element:
        return xmldsig.sign(root, [u.removeprefix("#") for u in uris], self.key, self._cert_der)

    def sign_canonical(self, content_c14n: bytes) -> bytes:
        """A signed envelope document around a Content given in exclusive canonical form.

        For documents the hub writes itself as text (receipts): no tree is built, and the
        signed digest is that of the very bytes spliced in (a redundant ``xmlns:hub`` on
        Content changes neither its meaning nor its canonical form).
        """
        signature = xmldsig.signature_xml(
            [(CONTENT_ID, hashlib.sha256(content_c14n).digest())], self.key, self._cert_der
        )
        return b"".join(
            (
                b"<?xml version='1.0' encoding='UTF-8'?>\n",
                f'<hub:Envelope xmlns:hub="{ENVELOPE_NS}" Version="{ENVELOPE_VERSION}">'.encode(),
                content_c14n,
                b"<hub:SenderSignature>",
                signature,
                b"</hub:SenderSignature></hub:Envelope>",
            )
        )

    def sign(self, root: etree._Element) -> etree._Element:
        """Sign the envelope as its sender: (re)places SenderSignature after Content."""
        content = content_of(root)
        for old in root.findall(q("SenderSignature")):
            root.remove(old)
        signature = self._signature(root, ["#" + CONTENT_ID])
        holder = etree.Element(q("SenderSignature"))
        holder.append(signature)
        content.addnext(holder)
        return root

    def countersign(
        self,
        root: etree._Element,
        *,
        received: dt.datetime,
        adapter: str,
        address: str,
        rules_version: str | None = None,
        recipient: str | None = None,
        content_sha256: bytes | None = None,
    ) -> etree._Element:
        """Add the hub's Routing block and HubSignature over #content and #routing.

        ``content_sha256``: Content's digest if already known (from verifying the sender).
        """
        content = content_of(root)
        content_sha256 = content_sha256 or content_digest(content)
        for tag in ("Routing", "HubSignature"):
            for old in root.findall(q(tag)):
                root.remove(old)
        routing = etree.Element(q("Routing"), Id=ROUTING_ID)
        etree.SubElement(routing, q("Hub")).text = self.participant_id
        etree.SubElement(routing, q("Received")).text = received.isoformat()
        etree.SubElement(routing, q("ContentSha256")).text = base64.b64encode(
            content_sha256
        ).decode("ascii")
        if rules_version:
            etree.SubElement(routing, q("RulesVersion")).text = rules_version
        if recipient:  # the rules rewrote the recipient (e.g. an agency's current address)
            etree.SubElement(routing, q("Recipient")).text = recipient
        etree.SubElement(routing, q("Route"), Adapter=adapter, Address=address)
        anchor = root.find(q("SenderSignature"))
        (anchor if anchor is not None else content).addnext(routing)
        signature = xmldsig.sign(
            root, [CONTENT_ID, ROUTING_ID], self.key, self._cert_der, {CONTENT_ID: content_sha256}
        )
        holder = etree.Element(q("HubSignature"))
        holder.append(signature)
        routing.addnext(holder)
        return root

    def countersigned(
        self,
        body: bytes,
        root: etree._Element,
        *,
        received: dt.datetime,
        adapter: str,
        address: str,
        rules_version: str | None = None,
        recipient: str | None = None,
        content_sha256: bytes | None = None,
    ) -> bytes:
        """The countersigned document as bytes; ``root`` (parsed from ``body``) is not changed.

        Where it is exact, Routing and HubSignature are written as canonical text and spliced
        in before the envelope's end tag, so the sender's bytes pass through untouched and no
        tree is built or serialised (most of what countersigning cost). Otherwise (attachment
        data after the signature, an old countersignature, another encoding, anything after
        the end tag) a copy of the tree is countersigned by ``countersign``.
        """
        content_sha256 = content_sha256 or content_digest(content_of(root))
        end = _end_tag_offset(body, root)
        if end is None:
            tree = copy.deepcopy(root)
            self.countersign(
                tree,
                received=received,
                adapter=adapter,
                address=address,
                rules_version=rules_version,
                recipient=recipient,
                content_sha256=content_sha256,
            )
            return to_bytes(tree)
        text = xmldsig.escape_text
        parts = [
            f'<hub:Routing xmlns:hub="{ENVELOPE_NS}" Id="{ROUTING_ID}">',
            f"<hub:Hub>{text(self.participant_id)}</hub:Hub>",
            f"<hub:Received>{received.isoformat()}</hub:Received>",
            f"<hub:ContentSha256>{base64.b64encode(content_sha256).decode()}</hub:ContentSha256>",
        ]
        if rules_version:
            parts.append(f"<hub:RulesVersion>{text(rules_version)}</hub:RulesVersion>")
        if recipient:
            parts.append(f"<hub:Recipient>{text(recipient)}</hub:Recipient>")
        attr = xmldsig.escape_attribute
        parts.append(
            f'<hub:Route Adapter="{attr(adapter)}" Address="{attr(address)}"></hub:Route>'
            "</hub:Routing>"
        )
        routing = "".join(parts).encode()
        signature = xmldsig.signature_xml(
            [(CONTENT_ID, content_sha256), (ROUTING_ID, hashlib.sha256(routing).digest())],
            self.key,
            self._cert_der,
        )
        return b"".join(
            (
                body[:end],
                routing,
                f'<hub:HubSignature xmlns:hub="{ENVELOPE_NS}">'.encode(),
                signature,
                b"</hub:HubSignature>",
                body[end:],
            )
        )


def _end_tag_offset(body: bytes, root: etree._Element) -> int | None:
    """Where the envelope's end tag starts in ``body``, if Routing may be spliced in there:
    the envelope holds just Content and SenderSignature, is UTF-8, and its end tag is the last
    thing in the document."""
    children = [c.tag for c in root if isinstance(c.tag, str)]
    if children != [q("Content"), q("SenderSignature")]:
        return None
    if (root.getroottree().docinfo.encoding or "").upper() != "UTF-8":
        return None
    end_tag = f"</{root.prefix}:Envelope>" if root.prefix else "</Envelope>"
    kept = body.rstrip(b" \t\r\n")
    if not kept.endswith(end_tag.encode()):
        return None  # a comment or processing instruction follows, or an odd end tag
    return len(kept) - len(end_tag)


@dataclass
class Verified:
    """What a verified signature vouches for."""

    envelope: Envelope
    certificate: x509.Certificate
    signer_id: str
    content: etree._Element | None = None  # the verified Content, exactly as it was signed
    routing: etree._Element | None = None  # the verified Routing (hub countersignature only)
    content_sha256: bytes | None = None  # SHA-256 of Content's canonical form, as verified


def _only_signature(root: etree._Element, holder_name: str) -> etree._Element:
    holders = root.findall(q(holder_name))
    if not holders:
        raise SignatureMissingError(f"Envelope/{holder_name}: the envelope is not signed")
    if len(holders) > 1:
        raise SignatureError(f"Envelope/{holder_name}: appears {len(holders)} times")
    signatures = [c for c in holders[0] if isinstance(c.tag, str)]
    if len(signatures) != 1 or signatures[0].tag != _DS + "Signature":
        raise SignatureError(f"Envelope/{holder_name}: must hold exactly one ds:Signature")
    return signatures[0]


def _check_algorithms(signature: etree._Element, where: str) -> None:
    info = signature.find(_DS + "SignedInfo")
    if info is None:
        raise SignatureError(f"{where}/Signature/SignedInfo: element is missing")
    for tag, allowed, what in (
        ("CanonicalizationMethod", _ALLOWED_C14N_URIS, "canonicalization"),
        ("SignatureMethod", _ALLOWED_SIGNATURE_URIS, "signature algorithm"),
    ):
        element = info.find(_DS + tag)
        algorithm = element.get("Algorithm") if element is not None else None
        if algorithm not in allowed:
            raise AlgorithmNotAllowedError(
                f"{where}/Signature/SignedInfo/{tag}: {what} {algorithm!r} is not allowed "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
    for reference in info.iterfind(_DS + "Reference"):
        digest = reference.find(_DS + "DigestMethod")
        algorithm = digest.get("Algorithm") if digest is not None else None
        if algorithm not in _ALLOWED_DIGEST_URIS:
            raise AlgorithmNotAllowedError(
                f"{where}/Signature/SignedInfo/Reference/DigestMethod: digest {algorithm!r} is "
                f"not allowed (allowed: {', '.join(sorted(_ALLOWED_DIGEST_URIS))})"
            )
        for transform in reference.iterfind(f"{_DS}Transforms/{_DS}Transform"):
            if transform.get("Algorithm") not in _ALLOWED_C14N_URIS:
                raise AlgorithmNotAllowedError(
                    f"{where}/Signature/SignedInfo/Reference/Transforms: transform "
                    f"{transform.get('Algorithm')!r} is not allowed"
                )


def _signing_certificate(signature: etree._Element, where: str) -> x509.Certificate:
    texts = signature.findall(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    if len(texts) != 1:
        raise CertificateError(
            f"{where}/Signature/KeyInfo/X509Data: expected exactly one X509Certificate, "
            f"found {len(texts)}"
        )
    text = texts[0].text or ""
    cached = _CERTS.get(text)
    if cached is not None:
        return cached
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateError(
            f"{where}/Signature/KeyInfo: unreadable certificate ({exc})"
        ) from None
    unreadable = unreadable_fields(cert)
    if unreadable:
        raise CertificateError(
            f"{where}/Signature/KeyInfo: {describe(cert)} cannot be read: {unreadable}"
        )
    if len(_CERTS) > 1024:  # bounded: certificates come from outside
        _CERTS.clear()
    _CERTS[text] = cert
    return cert


# Parsed certificates by their base64 text: the same few certificates sign most envelopes.
_CERTS: dict[str, x509.Certificate] = {}


def _check_ids(root: etree._Element, expected: list[str], where: str) -> None:
    signature = root.find(f"{q(where)}/{_DS}Signature")
    assert signature is not None
    uris = [r.get("URI") for r in signature.iterfind(f"{_DS}SignedInfo/{_DS}Reference")]
    wanted = ["#" + i for i in expected]
    if sorted(u or "" for u in uris) != sorted(wanted):
        raise SignatureError(
            f"Envelope/{where}: references {uris} but must reference exactly {wanted}"
        )
    # Counted the way signxml resolves a reference: any attribute whose local name is Id.
    values = [str(v) for v in _ID_VALUES(root)]  # type: ignore[union-attr]
    for ident in expected:
        count = values.count(ident)
        if count != 1:
            raise SignatureError(
                f"Envelope: Id {ident!r} appears {count} times; it must be unique "
                "(signature wrapping?)"
            )
    if content_of(root).get("Id") != CONTENT_ID:
        raise SignatureError("Envelope/Content: the signed element is not the envelope's Content")
    if ROUTING_ID in expected:
        routing = root.find(q("Routing"))
        if routing is None or routing.get("Id") != ROUTING_ID:
            raise SignatureError(
                "Envelope/Routing: the signed element is not the envelope's Routing"
            )


def _verify(
    root: etree._Element,
    holder: str,
    ids: list[str],
    trust: TrustStore,
    at: dt.datetime | None,
) -> tuple[list[etree._Element], x509.Certificate, dict[str, bytes]]:
    where = f"Envelope/{holder}"
    signature = _only_signature(root, holder)
    _check_algorithms(signature, where)
    _check_ids(root, ids, holder)
    cert = _signing_certificate(signature, where)
    trust.check(cert, at)
    public_key = cert.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CertificateError(f"{where}: {describe(cert)}: only RSA and ECDSA keys are allowed")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise CertificateError(f"{where}: {describe(cert)}: RSA key shorter than 2048 bits")
    digests: dict[str, bytes] = {}
    signed = xmldsig.verify(root, signature, public_key, ids, where, digests)
    return [signed[i] for i in ids], cert, digests


def verify_sender(
    root: etree._Element,
    trust: TrustStore,
    at: dt.datetime | None = None,
    *,
    wrapper: str | None = None,
) -> Verified:
    """Verify the sender's signature; the envelope returned is built from signed content only.

    ``wrapper`` names a participant (the hub) whose signature is accepted in place of the
    sender's: the hub wraps documents that arrive unsigned (plain mail, SMEV responses) into
    envelopes it signs itself; ``signer_id`` then says who really signed.
    """
    (signed_content,), cert, digests = _verify(root, "SenderSignature", [CONTENT_ID], trust, at)
    envelope = envelope_from_tree(root, content=signed_content)
    signer_id = envelope.header.sender
    try:
        trust.check_sender(cert, envelope.header.sender)
    except SenderMismatchError:
        if wrapper is None or wrapper not in participant_ids(cert):
            raise
        signer_id = wrapper
    return Verified(
        envelope=envelope,
        certificate=cert,
        signer_id=signer_id,
        content=signed_content,
        content_sha256=digests.get(CONTENT_ID),
    )


def verify_hub(
    root: etree._Element, trust: TrustStore, hub_id: str, at: dt.datetime | None = None
) -> Verified:
    """Verify the hub's countersignature (Content and Routing, signed by ``hub_id``)."""
    signed, cert, _ = _verify(root, "HubSignature", [CONTENT_ID, ROUTING_ID], trust, at)
    trust.check_sender(cert, hub_id)
    content = next(e for e in signed if e.get("Id") == CONTENT_ID)
    routing = next(e for e in signed if e.get("Id") == ROUTING_ID)
    envelope = envelope_from_tree(root, content=content)
    return Verified(
        envelope=envelope, certificate=cert, signer_id=hub_id, content=content, routing=routing
    )


def signed_document(verified: Verified) -> etree._Element:
    """A fresh envelope document holding only the verified content (for ``verify -o``).

    Content is copied exactly as signed (not rebuilt from the header model, which would
    normalise values such as ``Z`` time zones or an explicit ``<Test>false</Test>``), so its
    canonical form, and hence its digest, is the one the sender signed.
    """
    from envelopes.codec import build_envelope

    env = verified.envelope
    root = build_envelope(env.header, env.payload, env.attachments, references=env.references)
    if verified.content is not None:
        root.replace(content_of(root), _copy(verified.content))
    return root


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))
