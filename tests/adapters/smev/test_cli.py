"""``hub smev`` commands through click's test runner: output and exit codes."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from adapters.smev.cli import keys_new_gost, smev
from adapters.smev.crypto.certificates import load_certificate
from adapters.smev.crypto.gost import streebog256
from adapters.smev.crypto.transform import smev_digest_input
from adapters.smev.crypto.xmldsig import DS_NS
from adapters.smev.parsing import parse_xml

from .conftest import DevPki
from .crypto.test_transform import (
    MR_CASE_1,
    MR_CASE_1_EXPECTED,
    MR_CASE_2,
    MR_CASE_2_EXPECTED,
    MR_CASE_3,
    MR_CASE_3_EXPECTED,
    MR_EXAMPLE_CANONICAL,
)


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(smev, [str(a) for a in args])


def _no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.fixture()
def request_file(tmp_path: Path, unsigned_request: bytes) -> Path:
    path = tmp_path / "request.xml"
    path.write_bytes(unsigned_request)
    return path


@pytest.fixture()
def signed_file(tmp_path: Path, request_file: Path, dev_pki: DevPki) -> Path:
    out = tmp_path / "signed.xml"
    result = _run(
        "sign",
        request_file,
        "--id",
        "SIGNED_BY_CONSUMER",
        "--key",
        dev_pki.key,
        "--cert",
        dev_pki.cert,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    return out


def test_transform_defaults_to_sender_provided_request_data(data_dir: Path) -> None:
    result = _run("transform", data_dir / "SendRequestRequest_MR_example_GOST2001_signed.xml")
    assert result.exit_code == 0
    assert result.stdout_bytes == MR_EXAMPLE_CANONICAL.encode("utf-8")


def test_transform_digest_of_real_sample(data_dir: Path) -> None:
    result = _run(
        "transform", data_dir / "SendRequestResponce.xml", "--id", "SIGNED_BY_SMEV", "--digest"
    )
    assert result.exit_code == 0
    assert result.stdout.strip() == "f4DoL3jU/jXkk8hjAgbvDQD7dHsTrp9c2YcTulP0cNM="


def test_transform_unknown_id(data_dir: Path) -> None:
    result = _run("transform", data_dir / "SendRequestResponce.xml", "--id", "NOPE")
    assert result.exit_code == 1
    assert "no element with Id='NOPE'" in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (MR_CASE_1, MR_CASE_1_EXPECTED),
        (MR_CASE_2, MR_CASE_2_EXPECTED),
        (MR_CASE_3, MR_CASE_3_EXPECTED),
    ],
    ids=["mr-case-1", "mr-case-2", "mr-case-3"],
)
def test_transform_of_a_document_without_any_id_is_the_root(
    tmp_path: Path, source: str, expected: str
) -> None:
    """The MR's published test cases carry no Id: the command transforms the root element."""
    path = tmp_path / "case.xml"
    path.write_bytes(source.encode("utf-8"))
    root = parse_xml(path.read_bytes()).getroot()
    assert not root.xpath("//*[@Id]")
    result = _run("transform", path)
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == smev_digest_input(root)
    assert result.stdout_bytes == expected.encode("utf-8")
    digest = _run("transform", path, "--digest")
    assert digest.exit_code == 0, digest.output
    assert digest.stdout.strip() == base64.b64encode(streebog256(smev_digest_input(root))).decode()


def test_sign_then_verify(signed_file: Path, dev_pki: DevPki) -> None:
    assert signed_file.read_bytes().startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "ГИБДД".encode() in signed_file.read_bytes()  # UTF-8, not character references
    result = _run("verify", signed_file, "--trust", dev_pki.ca)
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("OK signature 1 (CallerInformationSystemSignature, #SIGNED_BY_CONSUMER)")
    assert "signed by 'dept-a'" in line
    assert result.stderr == ""


def test_verify_tampered(signed_file: Path, tmp_path: Path, dev_pki: DevPki) -> None:
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed_file.read_bytes().replace(b">GIBDD<", b">GIBDX<"))
    result = _run("verify", tampered, "--trust", dev_pki.ca)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("FAIL signature 1 (CallerInformationSystemSignature")
    assert "reference #SIGNED_BY_CONSUMER: digest mismatch" in line


def test_verify_at_time(signed_file: Path, dev_pki: DevPki, other_pki: DevPki) -> None:
    cert = load_certificate(dev_pki.cert.read_bytes())
    later = (cert.not_after + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = _run("verify", signed_file, "--trust", dev_pki.ca, "--at", later)
    assert result.exit_code == 1
    assert "certificate 'dept-a' expired" in result.stderr
    result = _run("verify", signed_file, "--trust", other_pki.ca)
    assert result.exit_code == 1
    assert "does not verify" in result.stderr


def test_verify_pretty_printed_sample_lines(data_dir: Path) -> None:
    result = _run(
        "verify",
        data_dir / "GetResponseResponce_InvalidContent.xml",
        "--at",
        "2021-03-23T07:03:08+03:00",
    )
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        "FAIL signature 1 (SenderInformationSystemSignature, "
        "#SIGNED_ASYNC_BY_SMEV): signature value mismatch"
    )
    assert lines[1].startswith("FAIL signature 2 (SMEVSignature, #SIGNED_BY_SMEV)")


def test_verify_legacy_sample(data_dir: Path) -> None:
    result = _run(
        "verify",
        data_dir / "SendRequestRequest_MR_example_GOST2001_signed.xml",
        "--at",
        "2016-01-01",
    )
    assert result.exit_code == 1
    assert "unsupported legacy algorithm" in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'<!DOCTYPE a [<!ENTITY e "x">]><a Id="1">&e;</a>', "DOCTYPE"),
        (b"<a><b></a>", "not well-formed"),
        (b"", "not well-formed"),
        (b'<a xmlns="urn:x"/>', "no ds:Signature"),
    ],
)
def test_verify_bad_input(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    result = _run("verify", path)
    assert result.exit_code == 1
    assert message in result.stderr
    _no_traceback(result)


def test_sign_bad_key_and_cert(request_file: Path, dev_pki: DevPki, tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    result = _run(
        "sign",
        request_file,
        "--id",
        "SIGNED_BY_CONSUMER",
        "--key",
        dev_pki.key,
        "--cert",
        dev_pki.ca,
        "-o",
        out,
    )
    assert result.exit_code == 1 and "does not match" in result.stderr
    result = _run(
        "sign",
        request_file,
        "--id",
        "SIGNED_BY_CONSUMER",
        "--key",
        request_file,
        "--cert",
        dev_pki.cert,
        "-o",
        out,
    )
    assert result.exit_code == 1 and "private key" in result.stderr
    _no_traceback(result)
    assert not out.exists()


def test_sign_generic_element_gets_sibling_signature(
    request_file: Path, dev_pki: DevPki, tmp_path: Path
) -> None:
    out = tmp_path / "personal.xml"
    result = _run(
        "sign",
        request_file,
        "--id",
        "PERSONAL_SIGNATURE",
        "--key",
        dev_pki.key,
        "--cert",
        dev_pki.cert,
        "-o",
        out,
    )
    assert result.exit_code == 0, result.stderr
    signature = parse_xml(out.read_bytes()).getroot().find(f".//{{{DS_NS}}}Signature")
    assert signature is not None
    previous = signature.getprevious()
    assert previous is not None and previous.get("Id") == "PERSONAL_SIGNATURE"
    result = _run("verify", out, "--trust", dev_pki.ca)
    assert result.exit_code == 0, result.stderr
    assert "#PERSONAL_SIGNATURE" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["verify"],
        ["verify", "/nonexistent.xml"],
        ["verify", "{sample}", "--at", "yesterday"],
        ["sign", "{sample}", "--id", "X"],
        ["transform"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(data_dir: Path, args: list[str]) -> None:
    sample = str(data_dir / "SendRequestResponce.xml")
    result = _run(*[a.format(sample=sample) for a in args])
    assert result.exit_code == 2
    _no_traceback(result)


def test_keys_new_gost(tmp_path: Path) -> None:
    key_path, cert_path = keys_new_gost("agency-7", tmp_path, 10)
    cert = load_certificate(cert_path.read_bytes())
    assert cert.common_name == "agency-7"
    assert key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "ca-gost.pem").exists() and (tmp_path / "ca-gost.key.pem").exists()
    assert base64.b64encode(cert.der)  # a real DER certificate was written
