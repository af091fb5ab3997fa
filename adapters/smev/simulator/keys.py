"""The simulator's own keys: a development GOST CA, "SMEV" and the simulated agency.

Generated in memory when the simulator is not given a key (once per process: GOST key
generation and certificate signing are slow in pure Python). They are for development only.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

from adapters.smev.crypto.certificates import Certificate
from adapters.smev.crypto.dev_ca import (
    IssuedCertificate,
    create_gost_ca,
    issue_participant_certificate,
)
from adapters.smev.crypto.signers import GostSigner
from adapters.smev.crypto.xmldsig import XmlSigner

SMEV_PARTICIPANT = "smev-simulator"
AGENCY_PARTICIPANT = "smev-simulator-agency"


@dataclass(frozen=True)
class SimulatorKeys:
    ca: Certificate | None  # the CA to trust for the simulator's signatures (None: not ours)
    smev: XmlSigner  # SMEVSignature and SMEV's own status signatures
    agency: XmlSigner  # the simulated agency (responder answers, injected requests)


_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _development_keys() -> SimulatorKeys:
    ca = create_gost_ca("SMEV 3 simulator development CA")
    smev = _issue(SMEV_PARTICIPANT, ca)
    agency = _issue(AGENCY_PARTICIPANT, ca)
    return SimulatorKeys(ca.certificate, smev, agency)


def _issue(participant: str, ca: IssuedCertificate) -> GostSigner:
    issued = issue_participant_certificate(participant, ca, days=3650)
    return GostSigner(issued.key, issued.certificate.der)


def development_keys() -> SimulatorKeys:
    """The process-wide development identities (made on first use; thread-safe)."""
    with _lock:
        return _development_keys()
