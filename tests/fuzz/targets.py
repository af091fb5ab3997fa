"""One target per parser: its seeds (real examples), how to feed it, what counts as clean.

``Target.run(data)`` returns ``"accepted"`` or ``"rejected"`` (a clean rejection: the error the
caller already handles), and raises for anything else: an unexpected exception is a finding,
``CriticalFinding`` a mutant that verified while its signed content differs from the original.
Targets build what they need once (a development PKI in a temporary folder, schemas, signed
seeds), so a run measures the parsers, not the setup.

A MEDO harness is one more entry in ``TARGETS``: seeds from its packages (windows-1251 text and
all), ``run`` calling its parser, its own error type as the clean rejection (docs/fuzzing.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from tests.fuzz import mutations as m

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "xsd" / "examples"


class CriticalFinding(AssertionError):
    """A mutant verified while what it carries differs from what was signed: a bypass."""


@dataclass
class Target:
    name: str
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes], str]
    mutations: list[m.Mutation] = field(default_factory=lambda: m.XML_MUTATIONS)

    def mutant(self, rng: random.Random) -> bytes:
        return m.mutate(rng.choice(self.seeds()), rng, self.mutations)


# ----------------------------------------------------------------------------- envelopes
@dataclass
class _EnvelopeKit:
    registry: object
    trust: object
    seeds: list[bytes]
    content_c14n: dict[bytes, bytes]  # seed -> canonical Content as signed
    hub_id: str


@functools.cache
def _envelope_kit() -> _EnvelopeKit:
    from envelopes.codec import content_of, to_bytes
    from envelopes.model import Attachment
    from envelopes.parsing import parse_xml
    from envelopes.pki import TrustStore, new_participant
    from envelopes.schemas import SchemaRegistry
    from envelopes.signatures import Signer
    from envelopes.xmldsig import canonicalize
    from tests.envelopes.helpers import make_envelope

    folder = Path(tempfile.mkdtemp(prefix="fuzz-pki-"))
    signers = {}
    for participant, algorithm in (
        ("dept.finance", "ecdsa"),
        ("dept.land", "rsa"),
        ("hub.main", "ecdsa"),
    ):
        key, cert = new_participant(participant, folder, algorithm)
        signers[participant] = Signer.from_files(str(key), str(cert))
    trust = TrustStore.from_pem_files([folder / "ca.pem"])
    seeds: list[bytes] = []
    attachment = Attachment.from_bytes("att1", "справка.txt", "text/plain", "текст".encode() * 50)
    seeds.append(to_bytes(signers["dept.finance"].sign(make_envelope())))
    seeds.append(to_bytes(signers["dept.land"].sign(make_envelope(sender="dept.land"))))
    seeds.append(to_bytes(signers["dept.finance"].sign(make_envelope(attachments=[attachment]))))
    notice = parse_xml((EXAMPLES / "status-notification.xml").read_bytes())
    seeds.append(to_bytes(signers["dept.finance"].sign(make_envelope(payload=notice))))
    countersigned = parse_xml(seeds[0])
    seeds.append(
        signers["hub.main"].countersigned(
            seeds[0],
            countersigned,
            received=dt.datetime.now(dt.UTC),
            adapter="internal",
            address="agency.tax",
        )
    )
    c14n = {seed: canonicalize(content_of(parse_xml(seed))) for seed in seeds}
    shutil.rmtree(folder / "ca.key.pem", ignore_errors=True)
    return _EnvelopeKit(SchemaRegistry(ROOT / "xsd"), trust, seeds, c14n, "hub.main")


def _original_content(kit: _EnvelopeKit, verified_c14n: bytes) -> bool:
    return verified_c14n in kit.content_c14n.values()


def run_envelope(data: bytes) -> str:
    """What the pipeline does: parse, validate, verify (and on refusal, read the claims)."""
    from envelopes.codec import claimed_header
    from envelopes.errors import EnvelopeError
    from envelopes.parsing import parse_xml
    from envelopes.signatures import verify_hub, verify_sender
    from envelopes.xmldsig import canonicalize

    kit = _envelope_kit()
    root = None
    try:
        root = parse_xml(data)
        kit.registry.validate_envelope(root)  # type: ignore[attr-defined]
        verified = verify_sender(root, kit.trust, wrapper=kit.hub_id)  # type: ignore[arg-type]
        hub = None
        if root.find("{*}HubSignature") is not None:
            hub = verify_hub(root, kit.trust, kit.hub_id)  # type: ignore[arg-type]
    except EnvelopeError:
        if root is not None:
            claimed_header(root)  # the rejection path reads what the envelope claims
        return "rejected"
    assert verified.content is not None
    signed = canonicalize(verified.content)
    if not _original_content(kit, signed):
        raise CriticalFinding("a mutant verified with Content that no seed signed")
    if (
        verified.envelope.root is not None
        and canonicalize(
            verified.envelope.root.find("{*}Content")  # type: ignore[arg-type]
        )
        != signed
    ):
        raise CriticalFinding("the envelope model is not built from the verified Content")
    if hub is not None and hub.content is not None and canonicalize(hub.content) != signed:
        raise CriticalFinding("the hub's countersignature vouches for other content")
    return "accepted"


def envelope_seeds() -> list[bytes]:
    return _envelope_kit().seeds


# ---------------------------------------------------------------------------------- SMEV
@functools.cache
def _smev_kit() -> tuple[object, list[bytes], list[bytes]]:
    from adapters.smev.crypto.certificates import GostTrustStore
    from adapters.smev.crypto.signers import RsaSigner
    from adapters.smev.crypto.xmldsig import sign
    from tests.adapters.smev.crypto.test_xmldsig import _rsa_identity
    from tests.adapters.smev.test_adapter import _request, _response, _status

    # RSA, which the verifier accepts as it accepts GOST: the pure-Python GOST arithmetic costs
    # 1-2 s a signature, and what is fuzzed here is the structure around it (docs/fuzzing.md)
    folder = Path(tempfile.mkdtemp(prefix="fuzz-smev-"))
    key, cert = _rsa_identity(folder)
    signer = RsaSigner.from_files(key, cert)
    trust = GostTrustStore.from_files([cert])
    payload = etree.parse(str(EXAMPLES / "extract-response.xml")).getroot()
    request_payload = etree.parse(str(EXAMPLES / "extract-request.xml")).getroot()
    original = "0c5fb3b4-1d26-11f1-8b5b-0242ac120002"

    def signed(body: bytes, element: str, element_id: str) -> bytes:
        root = etree.fromstring(body)
        target = root.find(f".//{{*}}{element}")
        assert target is not None and target.getparent() is not None
        container = etree.SubElement(
            target.getparent(),  # type: ignore[arg-type]
            "{urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1}SMEVSignature",
        )
        sign(root, element_id, signer, container)
        return bytes(etree.tostring(root))

    responses = [
        signed(_response(original, content=payload).body, "Response", "SIGNED_BY_SMEV"),
        _response(
            original, inner=_status(original, "requestIsRejectedBySmev", "InvalidContent")
        ).body,
        (
            ROOT / "tests/adapters/smev/protocol/data/GetResponseResponce_MultipartEmptyQueue.xml"
        ).read_bytes(),
        (
            ROOT
            / "tests/adapters/smev/protocol/data/SoapFaultResponse_SignatureVerificationFault.xml"
        ).read_bytes(),
    ]
    requests = [
        signed(_request(request_payload).body, "Request", "SIGNED_BY_SMEV"),
        _request(request_payload, sender="ФНС").body,
    ]
    return trust, responses, requests


def _run_smev(data: bytes, read: Callable[[etree._Element], object]) -> str:
    from adapters.smev.crypto.xmldsig import verify
    from adapters.smev.errors import ProtocolError, SmevFault
    from adapters.smev.protocol.soap import localname, parse_fault, parse_reply

    trust, _, _ = _smev_kit()
    content_type = "multipart/related" if data.lstrip()[:2] == b"--" else "text/xml"
    try:
        reply = parse_reply(content_type, data)
        body = reply.body
        if localname(body) == "Fault":
            raise parse_fault(body)
        read(body)  # the adapter refuses and acknowledges on MessageError and ValueError
    except (ProtocolError, SmevFault, ValueError):
        return "rejected"
    reports = verify(reply.document, trust=trust)  # type: ignore[arg-type]
    return "accepted" if reports and all(r.ok for r in reports) else "rejected"


def run_smev_response(data: bytes) -> str:
    from adapters.smev.protocol import messages as sm

    return _run_smev(data, sm.read_get_response)


def run_smev_request(data: bytes) -> str:
    from adapters.smev.protocol import messages as sm

    return _run_smev(data, sm.read_get_request)


# ---------------------------------------------------------------------------------- mail
@functools.cache
def _mail_seeds() -> list[bytes]:
    from tests.adapters.email.helpers import mail

    envelope = envelope_seeds()[0]
    seeds = [
        mail(sender="citizen@example.org", subject="Вопрос о справке", text="Где моя справка?"),
        mail(sender="clerk@example.org", subject="XML", xml=envelope),
        b"From: Mail Delivery System <mailer-daemon@example.org>\r\nTo: hub@city.example\r\n"
        b"Subject: Undelivered\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
        b'report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b"failed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n"
        b"\r\nFinal-Recipient: rfc822; a@b.c\r\nAction: failed\r\nStatus: 5.1.1\r\n--b\r\n"
        b"Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: <x@city.example>\r\n--b--\r\n",
    ]
    return [s if isinstance(s, bytes) else s.as_bytes() for s in seeds]


def _mail_header_games(data: bytes, rng: random.Random) -> bytes:
    header = rng.choice(
        [
            b"From:\r\n",
            b"From: a\x01b@example.org\r\n",
            b"From: =?utf-8?b?0JbQ?= <x@y>\r\n",
            b"To: \x7f@x, , <>\r\n",
            b"Reply-To: <a@b\r\n",
            b"Content-Type: multipart/mixed\r\n",
            b'Content-Type: multipart/mixed; boundary=""\r\n',
            b"Content-Transfer-Encoding: base64\r\n",
            b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n",
            b"Subject: =?koi8-r?q?=FF=FE?=\r\n",
        ]
    )
    return header + data


def _mail_nesting(data: bytes, rng: random.Random) -> bytes:
    depth = rng.choice([5, 40, 1_000])
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (i, i)
        for i in range(depth)
    )
    tail = b"".join(b"--n%d--\r\n" % i for i in reversed(range(depth)))
    return b"From: x@example.org\r\nMIME-Version: 1.0\r\n" + head + b"\r\n" + data + tail


MAIL_MUTATIONS: list[m.Mutation] = [
    m.flip_bytes,
    m.truncate,
    m.splice_bytes,
    m.duplicate_chunk,
    _mail_header_games,
    _mail_header_games,
    _mail_nesting,
]


def run_mail(data: bytes) -> str:
    """Every reading the email adapter does of an inbound mail; none of them may raise."""
    from adapters.email.compose import explanation_mail, reply_address
    from adapters.email.inbound import (
        find_envelopes,
        is_automatic,
        parse_bounce,
        plain_envelope,
        read_mail,
        referenced_ids,
    )
    from adapters.email.settings import load_settings
    from envelopes.parsing import ParseLimits

    message, unreadable = read_mail(data)
    reply_address(message)
    is_automatic(message, set())
    if unreadable is not None:
        return "rejected"
    parse_bounce(message, data, "city.example")
    referenced_ids(message)
    found = find_envelopes(message, ParseLimits())
    plain_envelope(
        message,
        data,
        agency="agency.x",
        recipient="dept.land",
        answers=None,
        received=dt.datetime.now(dt.UTC),
        attach_original=True,
    )
    to = reply_address(message)
    if to is not None:
        settings = _mail_settings(load_settings)
        explanation_mail(message, data, to, ["fuzz"], settings, "hub.main")
    return "accepted" if found.envelopes else "rejected"


@functools.cache
def _mail_settings(load: Callable[[dict[str, object]], object]) -> object:
    from tests.adapters.email.helpers import email_settings

    return load(email_settings(None, None, None))


# --------------------------------------------------------------------------------- rules
@functools.cache
def _rules_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="fuzz-rules-"))


def rule_seeds() -> list[bytes]:
    shipped = ROOT / "routing_rules"
    seeds = [p.read_bytes() for p in sorted(shipped.glob("*.yaml"))]
    seeds.append(
        b"rules:\n  - name: a\n    priority: 10\n    match: {sender: 'dept.*', kind: [request]}\n"
        b"    deliver: &d [{adapter: internal, address: '{recipient}'}]\n"
        b"    settings: {max_attempts: 20, max_delay: 1h, ttl: 3d}\n"
        b"  - name: b\n    match: {recipient: '@departments', xpath: 'm:Memo'}\n"
        b"    namespaces: {m: 'urn:interagency-hub:payload:memo:1.0'}\n    deliver: *d\n"
    )
    return seeds


def _yaml_games(data: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(7)
    if choice == 0:
        return data + b"\nx: &a [*a]\n"
    if choice == 1:
        depth = rng.choice([10, 70, 5_000])
        return data + b"\ny: " + b"[" * depth + b"]" * depth + b"\n"
    if choice == 2:
        return data.replace(b"priority: ", b"priority: " + b"9" * rng.choice([20, 5_000]), 1)
    if choice == 3:
        levels = rng.randint(2, 9)
        lines = [b"l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in range(1, levels):
            lines.append(
                b"l%d: &l%d [" % (level, level) + b", ".join([b"*l%d" % (level - 1)] * 10) + b"]"
            )
        return data + b"\n" + b"\n".join(lines) + b"\n"
    if choice == 4:
        return data.replace(b"  ", b"\t", 1)
    if choice == 5:
        return (
            data
            + b"\n"
            + rng.choice([b"!!python/object:os.system {}", b"--- !!binary x", b"%YAML 9.9\n---"])
            + b"\n"
        )
    return data.replace(b"name: ", b"name: " + "правило-".encode(), 1)


RULE_MUTATIONS: list[m.Mutation] = [
    m.flip_bytes,
    m.truncate,
    m.splice_bytes,
    m.duplicate_chunk,
    _yaml_games,
    _yaml_games,
    _yaml_games,
]


def run_rules(data: bytes) -> str:
    from hub.routing import RulesError, load_rules

    folder = _rules_folder()
    for old in folder.glob("*.yaml"):
        old.unlink()
    shipped = ROOT / "routing_rules"
    shutil.copy(shipped / "participants.yaml", folder / "participants.yaml")
    (folder / "fuzz.yaml").write_bytes(data)
    try:
        ruleset = load_rules(folder)
    except RulesError:
        return "rejected"
    ruleset.warnings(["internal", "smev", "email"])
    return "accepted"


# ----------------------------------------------------------------------------- HTTP API
def api_seeds() -> list[bytes]:
    return [
        envelope_seeds()[0],
        b'{"stage": "registered", "number": "\xd0\x92\xd1\x85-12", "date": "2026-12-15"}',
        b'{"stage": "executor_assigned", "executor": "Petrov", "co_executors": ["A", "B"], '
        b'"deadline": "2026-12-20", "urgency": "urgent"}',
        b'{"participant": "dept.finance", "role": "participant", "label": "x", "reason": "y"}',
        b'{"reason": "\xd0\xbf\xd1\x80\xd0\xbe\xd0\xb2\xd0\xb5\xd1\x80\xd0\xba\xd0\xb0"}',
    ]


def _json_games(data: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        depth = rng.choice([10, 1_000, 100_000])
        return b"[" * depth + b"]" * depth
    if choice == 1:
        return data.replace(
            b'"2026-12-15"', rng.choice([b'"2026-02-30"', b'"9999999-1-1"', b"1e999"])
        )
    if choice == 2:
        return data.replace(
            b": ", b": " + rng.choice([b"null, ", b"NaN, ", b'"\\ud800", ', b"1" * 5000 + b", "]), 1
        )
    if choice == 3:
        return data[:-1] + b', "extra": {"a": [1, 2, {"b": null}]}}'
    return data.replace(b'"', b"'", rng.randint(1, 3))


API_MUTATIONS: list[m.Mutation] = [*m.XML_MUTATIONS, _json_games, _json_games, _json_games]


def run_api(data: bytes) -> str:
    """What the API does with a body before the pipeline sees it: the envelope's claims (who
    sends, which id) sniffed to answer early, JSON bodies into their models, bearer tokens
    hashed; the envelope itself then meets the envelope target's parsers."""
    from pydantic import ValidationError

    from hub.api.models import NoticeRequestIn, Reasoned, TokenRequest
    from hub.ops.tokens import token_hash
    from hub.queues import header_facts

    header_facts(data)
    token_hash(b"k" * 32, data[:200].decode("latin-1"))
    accepted = 0
    for model in (NoticeRequestIn, TokenRequest, Reasoned):
        try:
            model.model_validate_json(data)
            accepted += 1
        except ValidationError:
            pass
    return "accepted" if accepted else "rejected"


TARGETS: dict[str, Target] = {
    "envelope": Target("envelope", envelope_seeds, run_envelope),
    "smev-response": Target("smev-response", lambda: _smev_kit()[1], run_smev_response),
    "smev-request": Target("smev-request", lambda: _smev_kit()[2], run_smev_request),
    "mail": Target("mail", _mail_seeds, run_mail, MAIL_MUTATIONS),
    "rules": Target("rules", rule_seeds, run_rules, RULE_MUTATIONS),
    "api": Target("api", api_seeds, run_api, API_MUTATIONS),
}
