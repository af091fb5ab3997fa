"""The information system's signer and the CA certificates it trusts, from the settings
(their own file so that the adapter module stays about the protocol)."""

from __future__ import annotations

from pathlib import Path

from adapters.smev.crypto.certificates import GostTrustStore, load_certificate
from adapters.smev.crypto.signers import ExternalCommandSigner, load_signer
from adapters.smev.crypto.xmldsig import XmlSigner
from adapters.smev.errors import SigningError, SmevCertificateError, SmevConfigError
from adapters.smev.settings import SmevSettings


def build_signer(settings: SmevSettings) -> XmlSigner:
    """The information system's signer: key + certificate, or an external command."""
    cert_path = settings.path(settings.cert)
    try:
        if settings.sign_command:
            return ExternalCommandSigner(
                settings.sign_command,
                load_certificate(Path(cert_path).read_bytes()).der,
                timeout=settings.sign_command_timeout,
                output_format=settings.sign_command_format,
            )
        return load_signer(settings.path(settings.key), cert_path)
    except (SigningError, SmevCertificateError, OSError) as exc:
        raise SmevConfigError(f"signer: {exc}") from exc


def build_trust(settings: SmevSettings) -> GostTrustStore | None:
    if not settings.trust:
        return None
    try:
        return GostTrustStore.from_files(settings.path(p) for p in settings.trust)
    except (SmevCertificateError, OSError) as exc:
        raise SmevConfigError(f"trust: {exc}") from exc
