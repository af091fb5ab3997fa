"""What goes wrong with MEDO packages and the adapter, as one flat tree (dramatiq's style).

MedoError
├── PackageError          a package that cannot be accepted (the reason goes to quarantine)
├── SignatureError        a detached .p7s that is missing, unreadable or does not verify
└── MedoConfigError       the adapter's settings cannot be used (also a ValueError)
"""

from __future__ import annotations


class MedoError(Exception):
    """Everything the MEDO adapter raises on purpose."""


class PackageError(MedoError):
    """A package that cannot be accepted; the message is the reason an operator reads."""

    #: the package's message file where it could be read (whom to send a refusal to)
    message: object = None


class SignatureError(PackageError):
    """A detached signature that is missing, unreadable or does not verify."""


class MedoConfigError(MedoError, ValueError):
    """The ``[adapters.medo]`` settings cannot be used."""
