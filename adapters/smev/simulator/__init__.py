"""A local SMEV 3 simulator (message exchange 1.3, SOAP 1.1) for development and tests.

    from adapters.smev.simulator import SmevSimulator

    sim = SmevSimulator(port=0, lock_timeout=1.0)
    await sim.start()
    ...  # point the SMEV client at sim.url
    await sim.stop()

See docs/smev-simulator.md. The names below load on first use, so that ``hub --help`` (which
lists ``hub smev-sim`` from ``simulator/cli.py``) does not start aiohttp and the crypto.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.smev.errors import ResponderConfigError, SimulatorFault
    from adapters.smev.simulator.keys import SimulatorKeys, development_keys
    from adapters.smev.simulator.messages import Attachment
    from adapters.smev.simulator.responder import FileResponder, Responder, ResponderResult
    from adapters.smev.simulator.server import SmevSimulator
    from adapters.smev.simulator.state import SentRequest, SentResponse

_WHERE = {
    "ResponderConfigError": "adapters.smev.errors",
    "SimulatorFault": "adapters.smev.errors",
    "SimulatorKeys": "adapters.smev.simulator.keys",
    "development_keys": "adapters.smev.simulator.keys",
    "Attachment": "adapters.smev.simulator.messages",
    "FileResponder": "adapters.smev.simulator.responder",
    "Responder": "adapters.smev.simulator.responder",
    "ResponderResult": "adapters.smev.simulator.responder",
    "SmevSimulator": "adapters.smev.simulator.server",
    "SentRequest": "adapters.smev.simulator.state",
    "SentResponse": "adapters.smev.simulator.state",
}

__all__ = [
    "Attachment",
    "FileResponder",
    "Responder",
    "ResponderConfigError",
    "ResponderResult",
    "SentRequest",
    "SentResponse",
    "SimulatorFault",
    "SimulatorKeys",
    "SmevSimulator",
    "development_keys",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'adapters.smev.simulator' has no attribute {name!r}")
