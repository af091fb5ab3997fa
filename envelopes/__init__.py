"""Signed XML envelopes: model, codec, hardened parsing, schema registry, XMLDSig.

Knows nothing of the hub, so a department's own system can use it to build and check envelopes.
"""

from envelopes.codec import ENVELOPE_NS, build_envelope, parse_envelope, to_bytes
from envelopes.errors import EnvelopeError
from envelopes.model import Attachment, Envelope, Header, Kind

__all__ = [
    "ENVELOPE_NS",
    "Attachment",
    "Envelope",
    "EnvelopeError",
    "Header",
    "Kind",
    "build_envelope",
    "parse_envelope",
    "to_bytes",
]
