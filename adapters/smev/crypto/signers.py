"""The key holders that sign SMEV XMLDSig: each one is an ``xmldsig.XmlSigner``.

``GostSigner`` (GOST R 34.10-2012 on gostcrypto) is for development and tests, ``RsaSigner`` for
partners outside the GOST world, ``ExternalCommandSigner`` runs a certified provider
(CryptoPro, a PKCS#11 token, an HSM) as a command; ``load_signer`` picks one for a key file.
"""

from __future__ import annotations

import base64
import binascii
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from cryptography import x509 as cx509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from adapters.smev.crypto import gost
from adapters.smev.crypto.certificates import load_certificate, load_gost_private_key
from adapters.smev.crypto.xmldsig import (
    DIGEST_FUNCTIONS,
    GOST2012_256_DIGEST,
    GOST2012_256_SIGNATURE,
    LEGACY_ALGORITHMS,
    RSA_SHA256_SIGNATURE,
    SHA256_DIGEST,
    SIGNATURE_DIGESTS,
    XmlSigner,
    signature_value_problem,
)
from adapters.smev.errors import SignerError, SmevCertificateError


def digest_function(uri: str) -> Callable[[bytes], bytes]:
    """The digest for a DigestMethod URI; a clear error for legacy/unknown ones."""
    if uri in LEGACY_ALGORITHMS:
        raise SignerError(f"unsupported legacy algorithm {LEGACY_ALGORITHMS[uri]} ({uri})")
    try:
        return DIGEST_FUNCTIONS[uri]
    except KeyError:
        raise SignerError(f"unsupported digest algorithm {uri}") from None


class GostSigner:
    """Built-in GOST R 34.10-2012 (256) signer on gostcrypto. Fine for development and
    tests; production SMEV traffic needs a certified provider (see ExternalCommandSigner)."""

    algorithm_uri = GOST2012_256_SIGNATURE
    digest_uri = GOST2012_256_DIGEST

    def __init__(self, key: gost.GostPrivateKey, certificate_der: bytes) -> None:
        certificate = load_certificate(certificate_der)
        if certificate.gost_public_key() != key.public_key():
            raise SignerError(f"the private key does not match certificate '{certificate.name}'")
        self._key = key
        self.certificate_der = certificate.der

    @classmethod
    def from_files(cls, key_path: Path, cert_path: Path) -> GostSigner:
        key = load_gost_private_key(Path(key_path).read_bytes())
        return cls(key, load_certificate(Path(cert_path).read_bytes()).der)

    def sign(self, data: bytes) -> bytes:
        return gost.sign(self._key, data)

    def digest(self, data: bytes) -> bytes:
        return gost.streebog256(data)


class RsaSigner:
    """RSA-SHA256 with the standard XMLDSig URIs, for partners outside the GOST world."""

    algorithm_uri = RSA_SHA256_SIGNATURE
    digest_uri = SHA256_DIGEST

    def __init__(self, key: rsa.RSAPrivateKey, certificate_der: bytes) -> None:
        certificate = cx509.load_der_x509_certificate(certificate_der)
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey) or public.public_numbers() != (
            key.public_key().public_numbers()
        ):
            raise SignerError("the RSA private key does not match the certificate")
        self._key = key
        self.certificate_der = certificate_der

    @classmethod
    def from_files(
        cls, key_path: Path, cert_path: Path, password: bytes | None = None
    ) -> RsaSigner:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SignerError(f"{key_path} is not an RSA private key")
        return cls(key, load_certificate(Path(cert_path).read_bytes()).der)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def digest(self, data: bytes) -> bytes:
        return gost.sha256(data)


class ExternalCommandSigner:
    """Signs by running a command: data on stdin, signature on stdout.

    This is how a certified provider is plugged in without linking it: a small wrapper
    around CryptoPro ``csptest``/``cryptcp``, a PKCS#11 tool or an HSM client. The command is
    run without a shell. Its output must be the SignatureValue bytes (for GOST: ``s || r``,
    64 bytes, big-endian each), raw or base64 (``output_format``). Digests are computed
    locally: they are public functions of public data. With ``verify_output`` (default) each
    signature is checked against the certificate, which catches byte-order mistakes early.
    """

    def __init__(
        self,
        command: Sequence[str],
        certificate_der: bytes,
        *,
        algorithm_uri: str = GOST2012_256_SIGNATURE,
        digest_uri: str | None = None,
        timeout: float = 60.0,
        output_format: Literal["raw", "base64"] = "raw",
        verify_output: bool = True,
    ) -> None:
        if not command:
            raise SignerError("external signer command is empty")
        self.command = list(command)
        self._certificate = load_certificate(certificate_der)
        self.certificate_der = self._certificate.der
        self.algorithm_uri = algorithm_uri
        if digest_uri is None:
            if algorithm_uri not in SIGNATURE_DIGESTS:
                raise SignerError(f"no default digest for signature algorithm {algorithm_uri}")
            digest_uri = SIGNATURE_DIGESTS[algorithm_uri]
        self.digest_uri = digest_uri
        self._digest = digest_function(digest_uri)
        self.timeout = timeout
        self.output_format = output_format
        self.verify_output = verify_output

    def digest(self, data: bytes) -> bytes:
        return self._digest(data)

    def sign(self, data: bytes) -> bytes:
        name = Path(self.command[0]).name
        try:
            done = subprocess.run(  # argv list, no shell
                self.command, input=data, capture_output=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError as exc:
            raise SignerError(f"external signer {name!r} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise SignerError(f"external signer {name!r} timed out after {self.timeout}s") from exc
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SignerError(
                f"external signer {name!r} exited with status {done.returncode}"
                + (f": {detail[-1]}" if detail else "")
            )
        signature = done.stdout
        if self.output_format == "base64":
            try:
                signature = base64.b64decode(b"".join(signature.split()), validate=True)
            except binascii.Error as exc:
                raise SignerError(f"external signer {name!r} did not print base64") from exc
        if not signature:
            raise SignerError(f"external signer {name!r} printed no signature")
        if self.verify_output:
            problem = signature_value_problem(
                self.algorithm_uri, self._certificate, data, signature
            )
            if problem is not None:
                raise SignerError(
                    f"external signer {name!r} produced a bad signature: {problem[1]}"
                )
        return signature


def load_signer(key_path: Path, cert_path: Path) -> XmlSigner:
    """A GostSigner or RsaSigner, chosen by what the key file holds; SignerError if neither."""
    try:
        key_data = Path(key_path).read_bytes()
        cert_der = load_certificate(Path(cert_path).read_bytes()).der
    except SmevCertificateError as exc:
        raise SignerError(f"certificate {cert_path}: {exc}") from exc
    except OSError as exc:
        raise SignerError(f"{exc.filename}: {exc.strerror}") from exc
    try:
        gost_key = load_gost_private_key(key_data)
    except SmevCertificateError as gost_problem:
        try:
            key = serialization.load_pem_private_key(key_data, None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SignerError(
                f"private key {key_path}: neither a GOST 2012 PKCS#8 key ({gost_problem}) "
                "nor an unencrypted PEM RSA key"
            ) from gost_problem
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SignerError(
                f"private key {key_path}: only GOST R 34.10-2012 and RSA keys are supported"
            ) from None
        return RsaSigner(key, cert_der)
    return GostSigner(gost_key, cert_der)
