"""Every error of the SMEV adapter, its signatures and its simulator: one tree.

    SmevError
    ├── XmlInputError                  input that is not acceptable XML (V)
    ├── TransformError                 the SMEV transform cannot be applied to the input (V)
    ├── GostError                      an unusable GOST key, parameter set or signature (V)
    ├── SmevCertificateError           a certificate or key file that cannot be used
    │   ├── CertificateParseError      not a readable certificate or key
    │   ├── UnsupportedKeyError        a key or signature algorithm we cannot verify
    │   ├── CertificateNotYetValidError  not valid yet when checked (E: CertificateExpiredError)
    │   ├── CertificateExpiredError    expired when checked (E: CertificateExpiredError)
    │   └── UntrustedCertificateError  no chain to a trusted CA (E: UntrustedCertificateError)
    ├── SigningError                   a document cannot be signed as asked
    │   └── SignerError                a signer failed to produce a usable signature
    ├── SignatureVerificationError     verify_or_raise: signatures missing or failing
    ├── ProtocolError                  SMEV's reply cannot be understood
    │   └── MessageError               a message lacks what the adapter needs (V)
    ├── TransportError                 the HTTP exchange with SMEV did not complete
    ├── SmevFault                      SMEV answered with a SOAP fault
    ├── SmevConfigError                the adapter's settings cannot be used (V)
    │   (raised by the simulator:)
    ├── SoapError                      a request that is not a usable SOAP 1.1 message
    ├── SimulatorFault                 a SMEV fault the simulator answers with
    └── ResponderConfigError           the responder file cannot be used (V)

(V): also a ValueError, as it was before the tree existed, so callers that catch ValueError keep
working. (E: X): also ``envelopes.errors.X``, because it means what that class means; so
``except envelopes.errors.UntrustedCertificateError`` catches SMEV's too. ``SmevCertificateError``
itself is broader than envelopes' ``CertificateError`` (which is about an envelope's signer: key
files and a development CA are not) and is not one; ``GostTrustStore``, not envelopes'
``TrustStore``, raises these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envelopes import errors as envelope_errors

if TYPE_CHECKING:
    from lxml import etree

    from adapters.smev.crypto.xmldsig import SignatureReport


class SmevError(Exception):
    """Something went wrong in the SMEV adapter, its signatures or its simulator."""


# --------------------------------------------------------------------- XML and cryptography
class XmlInputError(SmevError, ValueError):
    """Input that is not acceptable XML for SMEV (malformed, DOCTYPE, entities...)."""


class TransformError(SmevError, ValueError):
    """The SMEV transform cannot be applied to this input."""


class GostError(SmevError, ValueError):
    """A GOST key, parameter set or signature that cannot be used."""


class SmevCertificateError(SmevError):
    """A certificate (or the key that goes with it) that cannot be used; subclasses say why."""


class CertificateParseError(SmevCertificateError):
    """Not a readable X.509 certificate or PKCS#8 key."""


class UnsupportedKeyError(SmevCertificateError):
    """A key or signature algorithm we cannot verify (e.g. legacy GOST 2001 / GOST 94)."""


class CertificateNotYetValidError(SmevCertificateError, envelope_errors.CertificateExpiredError):
    """The certificate is not valid yet at the time it is checked at."""


class CertificateExpiredError(SmevCertificateError, envelope_errors.CertificateExpiredError):
    """The certificate has expired at the time it is checked at."""


class UntrustedCertificateError(SmevCertificateError, envelope_errors.UntrustedCertificateError):
    """No chain to a trusted CA (unknown issuer, bad issuer signature, issuer not a CA)."""


# ---------------------------------------------------------------------------------- XMLDSig
class SigningError(SmevError):
    """The document cannot be signed as asked (missing/duplicate Id, signer failure...)."""


class SignerError(SigningError):
    """A signer (built-in or external) failed to produce a usable signature."""


class SignatureVerificationError(SmevError):
    """Raised by verify_or_raise; ``reports`` holds every signature's outcome."""

    def __init__(self, reports: list[SignatureReport], message: str) -> None:
        super().__init__(message)
        self.reports = reports


# ----------------------------------------------------------------------- talking to SMEV
class ProtocolError(SmevError):
    """SMEV's reply cannot be understood (not SOAP, unexpected element...)."""


class MessageError(ProtocolError, ValueError):
    """A message from SMEV lacks what the adapter needs (e.g. the MessageID)."""


class TransportError(SmevError):
    """The exchange did not complete: network, timeout, HTTP status without a SOAP fault."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class SmevFault(SmevError):
    """A SOAP fault; ``name`` is the local name of the SMEV fault element in ``detail``."""

    name: str
    faultcode: str = ""
    faultstring: str = ""
    code: str = ""
    description: str = ""
    details: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    @property
    def summary(self) -> str:
        parts = [self.name or self.faultcode or "SOAP fault"]
        text = self.description or self.faultstring
        if text:
            parts.append(text)
        if self.details:
            parts.append("; ".join(self.details))
        return ": ".join(parts)


class SmevConfigError(SmevError, ValueError):
    """The adapter's settings cannot be used (bad key, missing certificate...)."""


# ---------------------------------------------------------------------------- the simulator
class SoapError(SmevError):
    """The HTTP body is not a usable SOAP 1.1 message (answered with a plain SOAP fault)."""

    def __init__(self, message: str, *, version_mismatch: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.version_mismatch = version_mismatch


class SimulatorFault(SmevError):
    """A fault the simulator answers with (HTTP 500, SOAP 1.1 Fault, SMEV detail element)."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        detail: etree._Element,
        server: bool = False,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.server = server
        self.code = code  # SignatureVerificationFault: the verification code
        self.detail = detail


class ResponderConfigError(SmevError, ValueError):
    """The responder file cannot be used; the message names the entry."""


class FileStoreError(SmevError):
    """SMEV's file storage (FTP) failed us; ``code`` names it on receipts and timelines and
    ``transient`` says whether trying again later can help."""

    code = "smev-fs-failed"
    transient = False


class FileStoreUnavailable(FileStoreError):
    """The FTP server cannot be reached, refused the login or broke off: try again later."""

    code = "smev-fs-unavailable"
    transient = True


class FileMissing(FileStoreError):
    """The file a message names is not on the storage (or the blob to upload is not here)."""

    code = "smev-fs-missing"


class FileMismatch(FileStoreError):
    """The file is not the content the message's hash (or the signed manifest) names."""

    code = "smev-fs-mismatch"
