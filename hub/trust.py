"""What the hub checks certificates against and opens its key with, built from ``hub.toml``.

One place for the trust store (the CAs of ``[pki] trust`` with the ``[revocation]`` checker) and
the key's passphrase (``[pki] key_passphrase_file`` or ``key_passphrase_env``), so that the
pipeline, the administration pages and the commands agree.
"""

from __future__ import annotations

from envelopes.pki import TrustStore, read_passphrase
from envelopes.revocation import RevocationChecker
from envelopes.signatures import Signer
from hub.config import HubConfig


def revocation_checker(config: HubConfig) -> RevocationChecker | None:
    settings = config.revocation
    if not settings.enabled:
        return None
    cache = settings.cache_dir or (config.data_dir / "crl")
    return RevocationChecker(
        crl_urls=tuple(settings.crl_urls),
        ocsp_url=settings.ocsp_url,
        refresh=settings.refresh,
        timeout=settings.timeout,
        on_unavailable=settings.on_unavailable,
        require=settings.require,
        cache_dir=config.path(cache),
    )


def trust_store(config: HubConfig) -> TrustStore:
    """The CAs the hub accepts participant certificates from, revocation checked."""
    return TrustStore.from_pem_files(
        (config.path(p) for p in config.pki.trust), revocation_checker(config)
    )


def key_passphrase(config: HubConfig) -> bytes | None:
    from hub.logs import register_secret

    file = config.pki.key_passphrase_file
    passphrase = read_passphrase(config.pki.key_passphrase_env, config.path(file) if file else None)
    register_secret(passphrase)  # never in a log line, even inside an error's text
    return passphrase


def hub_signer(config: HubConfig) -> Signer:
    """The hub's own signer (its key opened with its passphrase, if encrypted)."""
    return Signer.from_files(
        str(config.path(config.pki.key)), str(config.path(config.pki.cert)), key_passphrase(config)
    )
