"""MEDO (МЭДО): official documents with federal and regional bodies, as package folders.

``[adapters.medo]`` with ``type = "medo"`` in hub.toml; every key is in docs/medo-adapter.md.

Where things are::

    adapters/medo/
        __init__.py      create(): the adapter factory the hub calls (imports lazily)
        adapter.py       MedoAdapter: outbound packages, the watch loop, quarantine, timeouts
        settings.py      MedoSettings: the keys of [adapters.<name>] and their checks
        package.py       parse_package(files) -> Package | PackageError (the one to fuzz),
                         read_folder, defensive unzip, verify_package
        envelope_ini.py  envelope.ini (windows-1251) both ways
        messages.py      2.7.1 message and passport XML both ways (xsd/medo), 2.x reading
        model.py         the package as data
        cms.py           detached CMS, GOST R 34.10/34.11-2012 (asn1crypto + adapters.smev.crypto)
        compose.py       writing packages, the atomic hand-over, failpoints for crash tests
        conversion.py    card <-> passport, package -> hub envelope, notices <-> notifications
        peer.py          a federal body for tests and the demo ('hub medo-peer')
        cli.py           'hub medo check', 'hub medo-peer'
        errors.py        one flat tree under MedoError

``create`` imports the adapter lazily, so ``hub --help`` does not load lxml or gostcrypto.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.medo.adapter import MedoAdapter


def create(settings: Mapping[str, Any]) -> MedoAdapter:
    """The adapter for ``[adapters.<name>]`` with ``type = "medo"`` (docs/medo-adapter.md)."""
    from adapters.medo.adapter import create as create_adapter

    return create_adapter(settings)


__all__ = ["create"]
