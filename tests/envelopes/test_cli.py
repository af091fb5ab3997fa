"""The ``hub keys`` and ``hub envelope`` commands: exit 0 accepted, 1 rejected, 2 usage error."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod

from envelopes.codec import q, to_bytes
from envelopes.parsing import parse_xml
from envelopes.pki import load_certificate, load_private_key, participant_ids
from envelopes.signatures import Signer
from hub.cli import main
from tests.conftest import HUB, RSA_SENDER, SENDER, Pki
from tests.envelopes.helpers import (
    EXAMPLES,
    REPO,
    XSD_DIR,
    c14n,
    clone,
    sign_legacy,
)
from tests.envelopes.test_parsing import XXE_FILE, billion_laughs, nested

MEMO = EXAMPLES / "memo.xml"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def rejected_lines(result: Result) -> list[str]:
    """stderr of a rejection: one 'rejected: ...' line per problem, never a traceback."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines
    assert all(line.startswith("rejected: ") for line in lines), lines
    return lines


def assert_usage_error(result: Result) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Error" in result.stderr


@dataclass
class Files:
    """Envelope files made once through the commands themselves."""

    folder: Path
    unsigned: Path
    signed: Path
    message_id: str


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("cli")
    attachment = folder / "table.csv"
    attachment.write_bytes(b"lessee;debt\n" + b"x;1\n" * 500)
    message_id = str(uuid.uuid4())
    unsigned = folder / "unsigned.xml"
    result = run(
        "envelope", "new", "--from", SENDER, "--to", "agency.tax", "--payload", MEMO,
        "--attach", attachment, "--message-id", message_id, "-o", unsigned,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    signed = folder / "signed.xml"
    identity = pki[SENDER]
    result = run(
        "envelope", "sign", unsigned, "--key", identity.key_path, "--cert", identity.cert_path,
        "-o", signed,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return Files(folder, unsigned, signed, message_id)


def verify(path: Path, pki: Pki, *extra: str | Path) -> Result:
    return run("envelope", "verify", path, "--trust", pki.ca_path, *extra)


def validate(path: Path) -> Result:
    return run("envelope", "validate", path, "--schemas", XSD_DIR)


def write_variant(
    files: Files, name: str, mutate: Callable[[etree._Element], object], source: Path | None = None
) -> Path:
    root = parse_xml((source or files.signed).read_bytes())
    mutate(root)
    path = files.folder / name
    path.write_bytes(to_bytes(root))
    return path


# ========================================================================================= keys
def test_keys_new_writes_the_four_files(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    result = run("keys", "new", "dept.health", "--out", out)
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["ca.key.pem", "ca.pem", "dept.health.key.pem", "dept.health.pem"]
    cert = load_certificate(out / "dept.health.pem")
    assert participant_ids(cert) == ["dept.health"]
    assert isinstance(load_private_key(out / "dept.health.key.pem"), ec.EllipticCurvePrivateKey)
    assert (out / "dept.health.key.pem").stat().st_mode & 0o077 == 0
    assert (out / "ca.key.pem").stat().st_mode & 0o077 == 0


def test_keys_new_rsa_and_days(tmp_path: Path) -> None:
    result = run(
        "keys", "new", "dept.health", "--out", tmp_path, "--algorithm", "rsa", "--days", 10
    )
    assert result.exit_code == 0, result.stderr
    key = load_private_key(tmp_path / "dept.health.key.pem")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
    cert = load_certificate(tmp_path / "dept.health.pem")
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=10) <= lifetime <= dt.timedelta(days=10, hours=1)


def test_keys_new_reuses_the_folder_ca(tmp_path: Path) -> None:
    assert run("keys", "new", "dept.one", "--out", tmp_path).exit_code == 0
    ca = (tmp_path / "ca.pem").read_bytes()
    assert run("keys", "new", "dept.two", "--out", tmp_path).exit_code == 0
    assert (tmp_path / "ca.pem").read_bytes() == ca
    one = Signer.from_files(str(tmp_path / "dept.one.key.pem"), str(tmp_path / "dept.one.pem"))
    assert one.participant_id == "dept.one"


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "new", "NotAnId", "--out", "{tmp}"],
        ["keys", "new", "dept.x", "--out", "{tmp}", "--algorithm", "dsa"],
        ["keys", "new", "dept.x", "--out", "{tmp}", "--days", "0"],
        ["keys", "new", "dept.x"],
        ["keys", "new", "--out", "{tmp}"],
    ],
    ids=["bad-id", "bad-algorithm", "zero-days", "no-out", "no-id"],
)
def test_keys_new_usage_errors(args: list[str], tmp_path: Path) -> None:
    assert_usage_error(run(*[a.replace("{tmp}", str(tmp_path)) for a in args]))


# ================================================================================ envelope new
def test_envelope_new_with_every_option(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pdf", tmp_path / "b.bin"
    first.write_bytes(b"%PDF-1.7 first")
    second.write_bytes(bytes(range(256)))
    correlation = str(uuid.uuid4())
    out = tmp_path / "env.xml"
    result = run(
        "envelope", "new", "--from", SENDER, "--to", "agency.tax", "--payload", MEMO,
        "--type", "{urn:interagency-hub:payload:memo:1.0}Memo", "--kind", "notice",
        "--correlation-id", correlation, "--attach", first, "--attach", second, "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    from envelopes.codec import parse_envelope

    envelope = parse_envelope(out.read_bytes())
    header = envelope.header
    assert (header.sender, header.recipient, header.kind.value) == (SENDER, "agency.tax", "notice")
    assert str(header.correlation_id) == correlation
    assert header.created.tzinfo is not None
    assert [a.ref.file_name for a in envelope.attachments] == ["a.pdf", "b.bin"]
    assert envelope.attachments[1].content == bytes(range(256))
    assert validate(out).exit_code == 0


def test_envelope_new_writes_stdout_by_default() -> None:
    result = run("envelope", "new", "--from", SENDER, "--to", "agency.tax", "--payload", MEMO)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("<?xml")
    assert "Envelope" in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--from", "Finance Dept"], "sender"),
        (["--to", "x"], "recipient"),
        (["--type", "Memo"], "message_type"),
    ],
)
def test_envelope_new_rejects_bad_header_values(args: list[str], named: str) -> None:
    base = {"--from": SENDER, "--to": "agency.tax"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [x for pair in base.items() for x in pair]
    lines = rejected_lines(run("envelope", "new", *flat, "--payload", MEMO, *args[2:]))
    assert named in lines[0]


def test_envelope_new_rejects_a_hostile_payload(tmp_path: Path) -> None:
    payload = tmp_path / "xxe.xml"
    payload.write_text(XXE_FILE)
    lines = rejected_lines(
        run("envelope", "new", "--from", SENDER, "--to", "agency.tax", "--payload", payload)
    )
    assert "DOCTYPE" in lines[0]


@pytest.mark.parametrize(
    "extra",
    [["--kind", "gossip"], ["--correlation-id", "42"], ["--priority", "12"], ["--payload"]],
    ids=["kind", "correlation-id", "priority", "missing-value"],
)
def test_envelope_new_usage_errors(extra: list[str]) -> None:
    args = ["envelope", "new", "--from", SENDER, "--to", "agency.tax", "--payload", str(MEMO)]
    assert_usage_error(run(*args, *extra))


def test_envelope_new_missing_payload_is_a_usage_error(tmp_path: Path) -> None:
    assert_usage_error(
        run("envelope", "new", "--from", SENDER, "--to", "agency.tax", "--payload", tmp_path / "no")
    )


# =============================================================================== envelope sign
def test_sign_with_a_key_of_another_certificate_is_rejected(files: Files, pki: Pki) -> None:
    lines = rejected_lines(
        run(
            "envelope",
            "sign",
            files.unsigned,
            "--key",
            pki[HUB].key_path,
            "--cert",
            pki[SENDER].cert_path,
        )
    )
    assert "does not belong to certificate 'CN=dept.finance" in lines[0]


def test_sign_rejects_what_is_not_an_envelope(pki: Pki) -> None:
    identity = pki[SENDER]
    lines = rejected_lines(
        run("envelope", "sign", MEMO, "--key", identity.key_path, "--cert", identity.cert_path)
    )
    assert "expected Envelope" in lines[0]


def test_sign_rejects_an_unreadable_key(files: Files, pki: Pki) -> None:
    lines = rejected_lines(
        run("envelope", "sign", files.unsigned, "--key", MEMO, "--cert", pki[SENDER].cert_path)
    )
    assert len(lines) == 1


def test_sign_usage_errors(files: Files, pki: Pki) -> None:
    assert_usage_error(run("envelope", "sign", files.unsigned, "--key", pki[SENDER].key_path))
    assert_usage_error(
        run(
            "envelope",
            "sign",
            files.unsigned,
            "--key",
            files.folder / "missing.pem",
            "--cert",
            pki[SENDER].cert_path,
        )
    )


# ============================================================================= envelope verify
def test_verify_prints_exactly_one_ok_line(files: Files, pki: Pki) -> None:
    """Through a real process: stdout is one line, stderr is empty, exit status 0."""
    process = subprocess.run(
        [sys.executable, "-m", "hub", "envelope", "verify", str(files.signed),
         "--trust", str(pki.ca_path)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert process.stdout == f"OK {files.message_id} from {SENDER}\n"
    assert process.stderr == ""


def test_verify_rejection_through_a_real_process(files: Files, pki: Pki) -> None:
    path = write_variant(files, "untrusted-process.xml", lambda r: None)
    process = subprocess.run(
        [sys.executable, "-m", "hub", "envelope", "verify", str(path),
         "--trust", str(pki.rogue_ca_path)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert process.returncode == 1
    assert process.stdout == ""
    assert process.stderr.startswith("rejected: certificate 'CN=dept.finance")
    assert "Traceback" not in process.stderr


def test_verify_out_writes_exactly_the_signed_content(files: Files, pki: Pki) -> None:
    out = files.folder / "verified.xml"
    result = verify(files.signed, pki, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"OK {files.message_id} from {SENDER}\n"
    written = parse_xml(out.read_bytes())
    original = parse_xml(files.signed.read_bytes())
    assert [etree.QName(c).localname for c in written] == ["Content", "AttachmentData"]
    assert c14n(written.find(q("Content"))) == c14n(original.find(q("Content")))  # type: ignore[arg-type]
    assert c14n(written.find(q("AttachmentData"))) == c14n(original.find(q("AttachmentData")))  # type: ignore[arg-type]
    assert validate(out).exit_code == 0


def test_verify_out_drops_unsigned_additions(files: Files, pki: Pki) -> None:
    """A comment slipped into Content after signing verifies, but is not passed on."""

    def add_comment(root: etree._Element) -> None:
        root.find(f"{q('Content')}/{q('Payload')}")[0].insert(0, etree.Comment(" unsigned "))  # type: ignore[index]

    path = write_variant(files, "commented.xml", add_comment)
    out = files.folder / "commented-verified.xml"
    assert verify(path, pki, "-o", out).exit_code == 0
    assert b"unsigned" not in out.read_bytes()


def test_verify_countersigned_envelope(files: Files, pki: Pki) -> None:
    hub = Signer(pki[HUB].key, pki[HUB].cert)

    def countersign(root: etree._Element) -> None:
        hub.countersign(
            root, received=dt.datetime.now(dt.UTC), adapter="internal", address="queue.tax"
        )

    path = write_variant(files, "countersigned.xml", countersign)
    result = verify(path, pki)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"OK {files.message_id} from {SENDER}\n"

    def tamper_route(root: etree._Element) -> None:
        root.find(f"{q('Routing')}/{q('Route')}").set("Address", "queue.evil")  # type: ignore[union-attr]

    lines = rejected_lines(verify(write_variant(files, "rerouted.xml", tamper_route, path), pki))
    assert lines[0].startswith("rejected: Envelope/HubSignature: digest mismatch")


def _tamper_payload(root: etree._Element) -> None:
    root.find(".//{urn:interagency-hub:payload:memo:1.0}Subject").text = "Forged"  # type: ignore[union-attr]


def _tamper_attachment(root: etree._Element) -> None:
    data = root.find(f"{q('AttachmentData')}/{q('Data')}")
    assert data is not None
    data.text = base64.b64encode(b"lessee;debt\n" + b"y;1\n" * 500).decode()


def _wrap(root: etree._Element) -> None:
    original = root.find(q("Content"))
    assert original is not None
    forged = clone(original)
    _tamper_payload(forged)
    del forged.attrib["Id"]
    original.addprevious(forged)
    obj = etree.SubElement(
        root.find(f"{q('SenderSignature')}/{{http://www.w3.org/2000/09/xmldsig#}}Signature"),
        "{http://www.w3.org/2000/09/xmldsig#}Object",
    )  # type: ignore[arg-type]
    obj.append(original)


def _duplicate_id(root: etree._Element) -> None:
    original = root.find(q("Content"))
    assert original is not None
    forged = clone(original)
    _tamper_payload(forged)
    original.addprevious(forged)


def _sha1(pki: Pki) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        root.remove(root.find(q("SenderSignature")))  # type: ignore[arg-type]
        identity = pki[RSA_SENDER]
        sign_legacy(
            root, identity.key, identity.cert, SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1
        )

    return mutate


def _resign(pki: Pki, which: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        identity = getattr(pki, which) if hasattr(pki, which) else pki[which]
        Signer(identity.key, identity.cert).sign(root)

    return mutate


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("tampered-payload", "Envelope/SenderSignature: digest mismatch"),
        ("tampered-attachment", "Envelope/AttachmentData/Data[@Ref='att1']"),
        ("wrapping", "Envelope/Content: the signed element is not the envelope's Content"),
        ("duplicated-id", "Id 'content' appears 2 times"),
        ("untrusted", "was not issued by a trusted CA"),
        ("expired", "is not valid at"),
        ("other-participant", "belongs to dept.property, not to the envelope's Sender"),
        ("sha1", "SignedInfo/SignatureMethod: signature algorithm"),
        ("unsigned", "Envelope/SenderSignature: the envelope is not signed"),
    ],
)
def test_verify_rejections(case: str, named: str, files: Files, pki: Pki) -> None:
    mutations: dict[str, Callable[[etree._Element], object]] = {
        "tampered-payload": _tamper_payload,
        "tampered-attachment": _tamper_attachment,
        "wrapping": _wrap,
        "duplicated-id": _duplicate_id,
        "untrusted": _resign(pki, "rogue"),
        "expired": _resign(pki, "expired"),
        "other-participant": _resign(pki, RSA_SENDER),
        "sha1": _sha1(pki),
        "unsigned": lambda r: r.remove(r.find(q("SenderSignature"))),
    }
    path = write_variant(files, f"{case}.xml", mutations[case])
    out = files.folder / f"{case}-out.xml"
    result = verify(path, pki, "-o", out)
    lines = rejected_lines(result)
    assert named in lines[0]
    assert result.stdout == ""
    assert not out.exists(), "nothing is written for a rejected envelope"


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"<hub:Envelope", "not well-formed XML"),
        (XXE_FILE.encode(), "DOCTYPE"),
        (billion_laughs().encode(), "DOCTYPE"),
        (nested(500), "nest deeper than the limit"),
        (b"", "empty"),
    ],
    ids=["malformed", "xxe", "billion-laughs", "too-deep", "empty"],
)
@pytest.mark.parametrize("command", ["verify", "validate"])
def test_hostile_xml_is_rejected_by_every_command(
    command: str, content: bytes, named: str, files: Files, pki: Pki
) -> None:
    path = files.folder / f"hostile-{command}.xml"
    path.write_bytes(content)
    result = verify(path, pki) if command == "verify" else validate(path)
    lines = rejected_lines(result)
    assert named in lines[0]
    assert "root:" not in result.stdout + result.stderr


def test_verify_with_a_non_pem_trust_file_is_rejected(files: Files) -> None:
    lines = rejected_lines(run("envelope", "verify", files.signed, "--trust", MEMO))
    assert "memo.xml: holds no PEM certificate" in lines[0]


def test_verify_usage_errors(files: Files, pki: Pki) -> None:
    assert_usage_error(run("envelope", "verify", files.signed))
    assert_usage_error(run("envelope", "verify", files.signed, "--trust", files.folder / "no.pem"))
    assert_usage_error(run("envelope", "verify", files.folder / "none.xml", "--trust", pki.ca_path))
    assert_usage_error(run("envelope", "verify", files.signed, "--trust", pki.ca_path, "--bogus"))


# =========================================================================== envelope validate
def test_validate_accepts_signed_and_unsigned_envelopes(files: Files) -> None:
    for path in (files.unsigned, files.signed):
        result = validate(path)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == (
            f"OK {files.message_id} {{urn:interagency-hub:payload:memo:1.0}}Memo\n"
        )


def _payload(source: Path) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        holder = root.find(f"{q('Content')}/{q('Payload')}")
        assert holder is not None
        holder.remove(holder[0])
        holder.append(parse_xml(source.read_bytes()))

    return mutate


def _created_without_zone(root: etree._Element) -> None:
    created = root.find(f"{q('Content')}/{q('Header')}/{q('Created')}")
    assert created is not None
    created.text = "2026-03-12T10:00:00"


def _stranger(root: etree._Element) -> None:
    holder = root.find(f"{q('Content')}/{q('Payload')}")
    assert holder is not None
    holder.remove(holder[0])
    etree.SubElement(holder, "{urn:example:unknown:1.0}Thing")
    root.find(f".//{q('MessageType')}").text = "{urn:example:unknown:1.0}Thing"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("header", "Created"),
        ("payload", "Subject"),
        ("unknown-type", "unknown message type"),
    ],
)
def test_validate_rejections(case: str, named: str, files: Files) -> None:
    mutate = {
        "header": _created_without_zone,
        "payload": _payload(EXAMPLES / "memo-invalid.xml"),
        "unknown-type": _stranger,
    }[case]
    lines = rejected_lines(validate(write_variant(files, f"v-{case}.xml", mutate, files.unsigned)))
    assert any(named in line for line in lines), lines


def test_validate_lists_several_problems_one_per_line(files: Files) -> None:
    def break_payload(root: etree._Element) -> None:
        memo = root.find(f"{q('Content')}/{q('Payload')}")[0]  # type: ignore[index]
        for child in memo:
            if isinstance(child.tag, str):
                child.set("bogus", "1")

    lines = rejected_lines(
        validate(write_variant(files, "many.xml", break_payload, files.unsigned))
    )
    assert len(lines) > 1


def test_validate_knows_the_envelope_schema_when_dir_holds_only_payloads(
    files: Files, tmp_path: Path
) -> None:
    payloads = tmp_path / "payloads"
    shutil.copytree(Path(XSD_DIR) / "payloads", payloads)
    assert not list(payloads.rglob("envelope-*.xsd"))
    result = run("envelope", "validate", files.unsigned, "--schemas", payloads)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("OK ")

    def break_payload(root: etree._Element) -> None:
        memo = root.find(f"{q('Content')}/{q('Payload')}")[0]  # type: ignore[index]
        memo.set("bogus", "1")

    lines = rejected_lines(
        run(
            "envelope",
            "validate",
            write_variant(files, "p.xml", break_payload, files.unsigned),
            "--schemas",
            payloads,
        )
    )
    assert lines and all(line.startswith("rejected: ") for line in lines)


def test_validate_usage_errors(files: Files, tmp_path: Path) -> None:
    assert_usage_error(run("envelope", "validate", files.unsigned))
    assert_usage_error(run("envelope", "validate", files.unsigned, "--schemas", tmp_path / "no"))
    assert_usage_error(run("envelope", "validate", tmp_path / "none.xml", "--schemas", XSD_DIR))
