"""MEDO (МЭДО): official documents with federal and regional bodies, as package folders.

``[adapters.medo]`` with ``type = "medo"`` in hub.toml; every key is in docs/medo-adapter.md.
``package.parse_package`` reads untrusted packages (and is the one to fuzz).
"""

from adapters.medo.adapter import MedoAdapter, create
from adapters.medo.settings import MedoSettings

__all__ = ["MedoAdapter", "MedoSettings", "create"]
