"""Fixtures shared by the envelope tests (the PKI itself lives in tests/conftest.py)."""

from __future__ import annotations

import pytest

from envelopes.pki import TrustStore
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer
from tests.conftest import HUB, RSA_SENDER, SENDER, Pki
from tests.envelopes.helpers import XSD_DIR


@pytest.fixture(scope="session")
def registry() -> SchemaRegistry:
    return SchemaRegistry(XSD_DIR)


@pytest.fixture(scope="session")
def trust(pki: Pki) -> TrustStore:
    return pki.trust()


@pytest.fixture(scope="session")
def signer(pki: Pki) -> Signer:
    """dept.finance, ECDSA P-256."""
    return Signer(pki[SENDER].key, pki[SENDER].cert)


@pytest.fixture(scope="session")
def rsa_signer(pki: Pki) -> Signer:
    """dept.property, RSA-2048."""
    return Signer(pki[RSA_SENDER].key, pki[RSA_SENDER].cert)


@pytest.fixture(scope="session")
def hub_signer(pki: Pki) -> Signer:
    return Signer(pki[HUB].key, pki[HUB].cert)
