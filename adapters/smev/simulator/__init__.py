"""A local SMEV 3 simulator (message exchange 1.3, SOAP 1.1) for development and tests.

    from adapters.smev.simulator import SmevSimulator

    sim = SmevSimulator(port=0, lock_timeout=1.0)
    await sim.start()
    ...  # point the SMEV client at sim.url
    await sim.stop()

See docs/smev-simulator.md.
"""

from adapters.smev.errors import ResponderConfigError, SimulatorFault
from adapters.smev.simulator.keys import SimulatorKeys, development_keys
from adapters.smev.simulator.messages import Attachment
from adapters.smev.simulator.responder import FileResponder, Responder, ResponderResult
from adapters.smev.simulator.server import SmevSimulator
from adapters.smev.simulator.state import SentRequest, SentResponse

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
