"""Temporary PKI for the tests: generated once per session, never committed.

Layout of the session's PKI folder (as ``hub keys new`` would write it):

    pki/ca.pem, ca.key.pem                   the development CA the tests trust
    pki/<id>.key.pem, <id>.pem               participants issued by that CA
    rogue/ca.pem, dept.finance.*             a CA nobody trusts, issuing a look-alike certificate
    extra/expired.pem, extra/no-sign.pem     odd certificates for dept.finance from the trusted CA
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from envelopes.pki import (
    PrivateKey,
    TrustStore,
    ensure_ca,
    issue_certificate,
    load_certificate,
    load_private_key,
    new_participant,
)

SENDER = "dept.finance"  # ECDSA P-256
RSA_SENDER = "dept.property"  # RSA-2048
RECIPIENT = "agency.tax"
HUB = "hub.core"


@dataclass(frozen=True)
class Identity:
    """A participant's key and certificate, on disk and loaded."""

    participant_id: str
    key_path: Path
    cert_path: Path
    key: PrivateKey
    cert: x509.Certificate


@dataclass
class Pki:
    """Everything the tests sign and verify with."""

    root: Path
    ca_path: Path
    ca_key: PrivateKey
    ca_cert: x509.Certificate
    identities: dict[str, Identity] = field(default_factory=dict)
    rogue_ca_path: Path | None = None
    rogue: Identity | None = None  # dept.finance, issued by the untrusted CA
    expired: Identity | None = None  # dept.finance, validity period long over
    not_yet_valid: Identity | None = None  # dept.finance, valid from next year
    no_sign: Identity | None = None  # dept.finance, key usage without digitalSignature

    def __getitem__(self, participant_id: str) -> Identity:
        return self.identities[participant_id]

    def trust(self) -> TrustStore:
        return TrustStore.from_pem_files([self.ca_path])


def _identity(participant_id: str, key_path: Path, cert_path: Path) -> Identity:
    return Identity(
        participant_id,
        key_path,
        cert_path,
        load_private_key(key_path),
        load_certificate(cert_path),
    )


def _issue_odd(pki: Pki, name: str, participant_id: str, base: Identity, **kwargs: Any) -> Identity:
    """Another certificate for ``base``'s key, issued by the trusted CA with odd properties."""
    folder = pki.root / "extra"
    folder.mkdir(exist_ok=True)
    cert = issue_certificate(
        participant_id, pki.ca_key, pki.ca_cert, base.key.public_key(), **kwargs
    )
    cert_path = folder / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Identity(participant_id, base.key_path, cert_path, base.key, cert)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A development CA with participants, an untrusted look-alike CA and odd certificates."""
    root = tmp_path_factory.mktemp("pki-session")
    folder = root / "pki"
    ca_key, ca_cert = ensure_ca(folder)
    pki = Pki(root=root, ca_path=folder / "ca.pem", ca_key=ca_key, ca_cert=ca_cert)
    for participant_id, algorithm in (
        (SENDER, "ecdsa"),
        (RSA_SENDER, "rsa"),
        (RECIPIENT, "ecdsa"),
        (HUB, "ecdsa"),
    ):
        key_path, cert_path = new_participant(participant_id, folder, algorithm)
        pki.identities[participant_id] = _identity(participant_id, key_path, cert_path)

    rogue_folder = root / "rogue"
    key_path, cert_path = new_participant(SENDER, rogue_folder, "ecdsa")
    pki.rogue_ca_path = rogue_folder / "ca.pem"
    pki.rogue = _identity(SENDER, key_path, cert_path)

    sender = pki[SENDER]
    now = dt.datetime.now(dt.UTC)
    pki.expired = _issue_odd(
        pki, "expired", SENDER, sender, not_before=now - dt.timedelta(days=400), days=30
    )
    pki.not_yet_valid = _issue_odd(
        pki, "not-yet-valid", SENDER, sender, not_before=now + dt.timedelta(days=365), days=30
    )
    pki.no_sign = _issue_odd(pki, "no-sign", SENDER, sender, key_usage_sign=False)
    return pki


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop the async tests run on: uvloop, as `hub serve` runs (``event_loop``), unless
    ``HUB_TEST_EVENT_LOOP=asyncio`` asks for the standard one (or uvloop is not installed)."""
    if os.environ.get("HUB_TEST_EVENT_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
