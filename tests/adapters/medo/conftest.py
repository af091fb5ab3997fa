"""Shared fixtures for the MEDO tests: one development GOST CA with the hub's MEDO key and the
peer's (issued once per session), the peer, and package folders made by it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.medo.peer import Peer
from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.dev_ca import issue_gost_certificate
from adapters.smev.crypto.signers import GostSigner
from tests.hub.conftest import broker_url as broker_url  # embedded, RabbitMQ, + PostgreSQL

HUB_UID = "11111111-2222-4333-8444-555555555555"
PEER_UID = "0b6f5d2e-1c3a-4b7d-9e8f-a1b2c3d4e5f6"
PEER = "agency.minfin"
CHANCELLERY = "dept.chancellery"


@dataclass(frozen=True)
class MedoPki:
    directory: Path
    ca: Path
    hub_key: Path
    hub_cert: Path
    peer_key: Path
    peer_cert: Path

    def trust(self) -> GostTrustStore:
        return GostTrustStore.from_files([self.ca])


@pytest.fixture(scope="session")
def medo_pki(tmp_path_factory: pytest.TempPathFactory) -> MedoPki:
    directory = tmp_path_factory.mktemp("medo-pki")
    hub_key, hub_cert = issue_gost_certificate("hub-medo", directory)
    peer_key, peer_cert = issue_gost_certificate("medo-peer", directory)
    return MedoPki(directory, directory / "ca-gost.pem", hub_key, hub_cert, peer_key, peer_cert)


@pytest.fixture
def peer(tmp_path: Path, medo_pki: MedoPki) -> Peer:
    """A federal body whose inbox is ``tmp_path/out`` and outbox ``tmp_path/in``."""
    return Peer(
        tmp_path / "out",
        tmp_path / "in",
        PEER_UID,
        "Министерство финансов (тест)",
        GostSigner.from_files(medo_pki.peer_key, medo_pki.peer_cert),
        medo_pki.trust(),
    )
