"""Fixtures for the SMEV simulator tests: a dev GOST PKI, a running simulator, SOAP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.smev.crypto.certificates import GostTrustStore
from adapters.smev.crypto.dev_ca import issue_gost_certificate
from adapters.smev.crypto.signers import GostSigner
from adapters.smev.simulator import SmevSimulator
from tests.adapters.smev.simulator.client import SoapClient


@dataclass(frozen=True)
class SimPki:
    directory: Path
    ca: Path
    client: GostSigner  # CN=dept-a (the hub as a consumer)
    provider: GostSigner  # CN=agency-b (a provider answering requests)
    intruder: GostSigner  # CN=intruder, from another CA


@pytest.fixture(scope="session")
def sim_pki(tmp_path_factory: pytest.TempPathFactory) -> SimPki:
    directory = tmp_path_factory.mktemp("sim-pki")
    signers = {}
    for name in ("dept-a", "agency-b"):
        key, cert = issue_gost_certificate(name, directory)
        signers[name] = GostSigner.from_files(key, cert)
    other = tmp_path_factory.mktemp("sim-other-pki")
    key, cert = issue_gost_certificate("intruder", other)
    return SimPki(
        directory,
        directory / "ca-gost.pem",
        signers["dept-a"],
        signers["agency-b"],
        GostSigner.from_files(key, cert),
    )


SimFactory = Callable[..., Awaitable[SmevSimulator]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Start simulators with the given keyword arguments; all are stopped after the test."""
    started: list[SmevSimulator] = []

    async def factory(**kwargs: Any) -> SmevSimulator:
        simulator = SmevSimulator(**kwargs)
        await simulator.start()
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        await simulator.stop()


@pytest.fixture
async def sim(make_sim: SimFactory, sim_pki: SimPki) -> SmevSimulator:
    """Signed requests required, callers must chain to the test CA; schema-valid replies."""
    return await make_sim(trust=sim_pki.ca, human_readable_names=True)


@pytest.fixture
async def open_sim(make_sim: SimFactory) -> SmevSimulator:
    """Unsigned requests accepted: for tests about something other than signatures."""
    return await make_sim(require_signature=False, human_readable_names=True, lock_timeout=1.0)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(sim: SmevSimulator, sim_pki: SimPki, session: aiohttp.ClientSession) -> SoapClient:
    return SoapClient(sim.url, sim_pki.client, session)


@pytest.fixture
def provider(sim: SmevSimulator, sim_pki: SimPki, session: aiohttp.ClientSession) -> SoapClient:
    return SoapClient(sim.url, sim_pki.provider, session)


@pytest.fixture
def anonymous(open_sim: SmevSimulator, session: aiohttp.ClientSession) -> SoapClient:
    """A client that does not sign, talking to ``open_sim``."""
    return SoapClient(open_sim.url, None, session)


@pytest.fixture
def sim_trust(sim: SmevSimulator) -> GostTrustStore:
    """Trust for the simulator's own signatures (SMEV and the simulated agency)."""
    assert sim.ca_certificate is not None
    return GostTrustStore([sim.ca_certificate])
