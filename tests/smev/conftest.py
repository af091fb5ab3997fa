"""Shared fixtures for the SMEV signature tests: sample paths and development PKI."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.smev.crypto.certificates import issue_gost_certificate

DATA = Path(__file__).resolve().parent.parent / "data" / "smev"
TYPES_11 = "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/1.1"


@dataclass(frozen=True)
class DevPki:
    directory: Path
    ca: Path
    key: Path
    cert: Path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A dev GOST CA with participant 'dept-a' (issued once per session: keygen is slow-ish)."""
    directory = tmp_path_factory.mktemp("pki")
    key, cert = issue_gost_certificate("dept-a", directory)
    return DevPki(directory, directory / "ca-gost.pem", key, cert)


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """A second, unrelated dev CA: its certificates must not be trusted by dev_pki's CA."""
    directory = tmp_path_factory.mktemp("other-pki")
    key, cert = issue_gost_certificate("intruder", directory)
    return DevPki(directory, directory / "ca-gost.pem", key, cert)


@pytest.fixture(scope="session")
def unsigned_request() -> bytes:
    """The MR example SendRequestRequest without its (GOST 2001) caller signature."""
    text = (DATA / "SendRequestRequest_MR_example_GOST2001_signed.xml").read_text("utf-8")
    text = re.sub(
        r"\s*<ns2:CallerInformationSystemSignature>.*</ns2:CallerInformationSystemSignature>",
        "",
        text,
        flags=re.S,
    )
    assert "Signature" not in text
    return text.encode("utf-8")
