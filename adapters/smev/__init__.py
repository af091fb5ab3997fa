"""SMEV 3: the adapter (``type = "smev"``), its signatures and its simulator.

Where things are::

    adapters/smev/
        __init__.py      create(): the adapter factory the hub calls
        adapter.py       SmevAdapter: consumer and provider sides, Acks, checking SMEV's signatures
        conversion.py    hub envelope <-> SMEV message: ids, headers, attachments, reason codes
        polling.py       the polling loops: at once while there are messages, backing off when not
        settings.py      SmevSettings: the keys of [adapters.<name>] and their checks
        cli.py           'hub smev' (transform, sign, verify) and keys_new_gost ('hub keys new')
        errors.py        every exception, one tree under SmevError
        parsing.py       hardened XML parsing (no DTD, no entities) for all SMEV input
        protocol/        the SMEV 3 wire protocol
            soap.py          SOAP 1.1 envelopes, MTOM/XOP replies, faults and what they mean
            client.py        SoapClient: the HTTP exchange with one SMEV endpoint
            messages.py      message exchange 1.3: building requests, reading replies
        crypto/          GOST cryptography and the SMEV signature profile
            transform.py     the SMEV transform (urn://smev-gov-ru/xmldsig/transform)
            gost.py          GOST R 34.11-2012 digests, GOST R 34.10-2012 signatures
            certificates.py  X.509 with GOST keys, GOST private keys, chains (GostTrustStore)
            dev_ca.py        the development GOST CA and participant certificates
            xmldsig.py       SMEV XMLDSig: signing and verifying, the XmlSigner protocol
            signers.py       the GOST, RSA and external-command signers
        simulator/       a local SMEV 3 for development and tests (SmevSimulator)
            server.py        SmevSimulator: lifecycle, the SOAP endpoint, /control, the WSDL
            operations.py    the six operations, SMEV's statuses, the responder's answers
            state.py         known requests, queues and their Ack locks
            auth.py          checking the caller's signature, as SMEV does
            messages.py      what the simulator sends, signed as SMEV signs
            faults.py        the SOAP faults it answers with
            soap.py, ns.py, schema.py   reading requests, namespaces, XSD validation
            keys.py, responder.py       its development keys, the simulated agency's answers
            cli.py           'hub smev-sim'

Imports go one way: ``errors`` and ``parsing`` import nothing of SMEV's; ``crypto`` imports only
them; ``protocol`` adds ``crypto`` (it signs); the adapter's modules add ``protocol``; ``cli``
and the simulator use ``crypto`` but never ``protocol`` or the adapter (the simulator plays the
other side). From the hub the adapter imports ``hub.abc`` only.
``tests/adapters/smev/test_layout.py`` checks all of this.

``create`` imports the adapter lazily, so the signature tools (``hub smev ...``) and the
simulator do not load the HTTP client and the hub's pipeline types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.smev.adapter import SmevAdapter


def create(settings: Mapping[str, Any]) -> SmevAdapter:
    """The adapter for ``[adapters.<name>]`` with ``type = "smev"`` (docs/smev-adapter.md)."""
    from adapters.smev.adapter import create as create_adapter

    return create_adapter(settings)


__all__ = ["create"]
