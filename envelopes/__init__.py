"""Signed XML envelopes: model, codec, hardened parsing, schema registry, XMLDSig.

Knows nothing of the hub, so a department's own system can use it to build and check envelopes.
The names below are loaded on first use, so that importing one light module of the library
(``envelopes.ids``) does not load lxml, pydantic and cryptography.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envelopes.codec import ENVELOPE_NS, build_envelope, parse_envelope, to_bytes
    from envelopes.errors import EnvelopeError
    from envelopes.model import Attachment, Envelope, Header, Kind

_WHERE = {
    "ENVELOPE_NS": "envelopes.codec",
    "build_envelope": "envelopes.codec",
    "parse_envelope": "envelopes.codec",
    "to_bytes": "envelopes.codec",
    "EnvelopeError": "envelopes.errors",
    "Attachment": "envelopes.model",
    "Envelope": "envelopes.model",
    "Header": "envelopes.model",
    "Kind": "envelopes.model",
}

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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'envelopes' has no attribute {name!r}")
