"""What the fuzzers found in the SMEV adapter (issue 20), each kept fixed by its class.

- A reply that starts like MTOM without a boundary in its Content-Type and whose first line
  is no RFC 2046 boundary (non-ASCII, too long...) is a ProtocolError, not UnicodeEncodeError.
- A signed block without a canonical form (a relative namespace URI inside it or in SignedInfo)
  is *reported* by the verifier: the adapter refuses the message and acknowledges it, instead
  of raising into the polling loop, which would fetch it again and again without an Ack.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from adapters.smev.crypto.xmldsig import Problem, sign, verify
from adapters.smev.errors import ProtocolError
from adapters.smev.protocol import messages as sm
from adapters.smev.protocol.soap import parse_reply

from .conftest import FakeSmev, GostPki, MakeAdapter, Scripted
from .test_adapter import _acks, _payload, _response, _sent_request

T = sm.TYPES_NS


@pytest.mark.parametrize(
    "first_line",
    ["--ж".encode(), b"--\xff\xfe", b"--" + b"a" * 71, b"--a\x00b"],
)
def test_a_multipart_reply_whose_first_line_is_no_boundary_is_a_protocol_error(
    first_line: bytes,
) -> None:
    with pytest.raises(ProtocolError, match="boundary"):
        parse_reply("multipart/related", first_line + b"\r\n\r\n<a/>\r\n" + first_line + b"--")


def test_a_content_type_that_is_not_latin_1_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="ISO-8859-1"):
        parse_reply('multipart/related; boundary="жж"', b"--x\r\n\r\n<a/>\r\n--x--")


def _signed_response(reply: Scripted, gost_pki: GostPki) -> bytes:
    root = etree.fromstring(reply.body)
    response = root.find(f".//{{{T}}}Response")
    assert response is not None
    container = etree.SubElement(response.getparent(), f"{{{T}}}SMEVSignature")  # type: ignore[union-attr]
    sign(root, "SIGNED_BY_SMEV", gost_pki.signer(), container)
    return etree.tostring(root)


@pytest.mark.parametrize("where", [b'<t:Response Id="SIGNED_BY_SMEV"', b"<ds:SignedInfo"])
def test_the_verifier_reports_a_signed_block_without_canonical_form(
    gost_pki: GostPki, where: bytes
) -> None:
    body = _signed_response(_response(sm.new_message_id()), gost_pki)
    assert all(r.ok for r in verify(etree.fromstring(body), trust=gost_pki.trust()))
    hostile = body.replace(where, where + b' xmlns:q="rel"', 1)
    assert hostile != body
    reports = verify(etree.fromstring(hostile), trust=gost_pki.trust())
    assert [r.kinds() for r in reports] == [{Problem.MALFORMED}]
    assert "xmlns:q='rel' is a relative URI" in str(reports[0].problems[0])


async def test_a_response_whose_signed_block_has_no_canonical_form_is_refused_and_acked(
    make_adapter: MakeAdapter, fake_smev: FakeSmev, gost_pki: GostPki
) -> None:
    adapter, context, message, smev_id = await _sent_request(
        make_adapter, trust_store=gost_pki.trust(), on_bad_signature="reject"
    )
    reply = _response(smev_id, content=_payload("extract-response.xml"))
    body = _signed_response(reply, gost_pki)
    hostile = body.replace(b'Id="SIGNED_BY_SMEV"', b'xmlns:q="rel" Id="SIGNED_BY_SMEV"', 1)
    fake_smev.script("GetResponse", Scripted(hostile))
    assert await adapter.poll_responses()  # handled, not raised into the polling loop
    assert not await adapter.poll_responses()  # nothing fetched again: SMEV had its Ack
    assert not context.submitted
    assert [accepted for _, accepted in _acks(fake_smev)] == ["false"]
    assert context.notified[0][1] == "failed"
    (code, reason), *_ = context.notified[0][2]
    assert code == "smev-bad-signature" and "relative URI" in reason
    assert message.message_id == context.notified[0][0]


def test_an_rsa_certificate_cryptography_cannot_read_is_a_certificate_problem(
    tmp_path: Path,
) -> None:
    """Found by bench/fuzz.py: the SMEV certificate reader accepts an RSA key whose algorithm
    parameters are not NULL, cryptography refuses it with ValueError; that was caught only by
    the verifier's net. It is now a certificate-invalid problem naming the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from adapters.smev.crypto.certificates import load_certificate
    from adapters.smev.crypto.xmldsig import RSA_SHA256_SIGNATURE, signature_value_problem
    from tests.adapters.smev.crypto.test_xmldsig import _rsa_identity

    _, cert_path = _rsa_identity(tmp_path)
    der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    rsa_with_null = bytes.fromhex("300d06092a864886f70d0101010500")
    assert der.count(rsa_with_null) == 1
    hostile = der.replace(rsa_with_null, bytes.fromhex("300d06092a864886f70d0101010400"))
    problem = signature_value_problem(
        RSA_SHA256_SIGNATURE, load_certificate(hostile), b"signed info", b"\x00" * 256
    )
    assert problem is not None and problem[0] is Problem.CERTIFICATE_INVALID
    assert "rsa-partner" in problem[1]
