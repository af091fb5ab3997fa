"""``hub keys``: development keys and certificates."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography import x509

from envelopes.errors import CertificateError
from envelopes.ids import is_participant
from envelopes.pki import PASSPHRASE_ENV, read_passphrase
from hub.cli.support import Rejected
from hub.plugins import KEY_ALGORITHMS, found, load

passphrase_file_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True),
    help=f"a file whose first line is the key passphrase (else ${PASSPHRASE_ENV}; never an "
    "option's value: the command line is visible to every user of the machine)",
)


def passphrase_for(passphrase_file: str | None, *, required: bool = False) -> bytes | None:
    """The passphrase from --passphrase-file or $HUB_KEY_PASSPHRASE."""
    try:
        passphrase = read_passphrase(PASSPHRASE_ENV, passphrase_file)
    except CertificateError as exc:
        raise Rejected([str(exc)]) from None
    if required and not passphrase:
        raise Rejected(
            [f"--encrypt needs a passphrase: set ${PASSPHRASE_ENV} or give --passphrase-file"]
        )
    return passphrase


BUILT_IN = ("rsa", "ecdsa")


@click.group()
def keys() -> None:
    """Development keys and certificates."""


@keys.command("new")
@click.argument("participant_id")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="PKI folder"
)
@click.option(
    "--algorithm",
    # rsa and ecdsa are the envelope library's; others come with adapters (gost2012: SMEV)
    type=click.Choice([*BUILT_IN, *sorted(found(KEY_ALGORITHMS))]),
    default="ecdsa",
    show_default=True,
)
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True)
@click.option("--crl-url", default="", help="CRL distribution point written into the certificate")
@click.option("--ocsp-url", default="", help="OCSP responder written into the certificate")
@passphrase_file_option
@click.option(
    "--encrypt",
    is_flag=True,
    help=f"encrypt the key (PKCS#8) with the passphrase from ${PASSPHRASE_ENV} or "
    "--passphrase-file",
)
def keys_new(
    participant_id: str,
    out_dir: str,
    algorithm: str,
    days: int,
    crl_url: str,
    ocsp_url: str,
    passphrase_file: str | None,
    encrypt: bool,
) -> None:
    """Issue a key and certificate for PARTICIPANT_ID (creating the development CA first).

    An encrypted development CA key is opened with the same passphrase."""
    if not is_participant(participant_id):
        raise click.BadParameter(
            f"{participant_id!r} is not a participant id (like dept.finance)",
            param_hint="PARTICIPANT_ID",
        )
    for option, url in (("--crl-url", crl_url), ("--ocsp-url", ocsp_url)):
        if url and not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"{url!r} is not an http(s):// URL", param_hint=option)
    passphrase = passphrase_for(passphrase_file, required=encrypt)
    if algorithm in BUILT_IN:
        from envelopes.pki import new_participant

        try:
            key_path, cert_path = new_participant(
                participant_id,
                Path(out_dir),
                algorithm,
                days,
                passphrase=passphrase if encrypt else None,
                crl_url=crl_url,
                ocsp_url=ocsp_url,
            )
        except CertificateError as exc:  # the CA key's passphrase is missing or wrong
            raise Rejected([str(exc)]) from None
    else:
        issue = load(KEY_ALGORITHMS, algorithm)
        key_path, cert_path = issue(participant_id, Path(out_dir), days)
    click.echo(f"{key_path}\n{cert_path}")


REASONS = [r.name for r in x509.ReasonFlags if r.name not in ("unspecified", "remove_from_crl")]


@keys.command("revoke")
@click.argument("participant_id")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, exists=True),
    help="PKI folder with the development CA and ID.pem",
)  # fmt: skip
@click.option("--reason", type=click.Choice(["unspecified", *REASONS]), default="unspecified")
@click.option(
    "--cert", "cert_path", type=click.Path(dir_okay=False, exists=True),
    help="the certificate to revoke (default: DIR/ID.pem)",
)  # fmt: skip
@click.option("--days", type=click.FloatRange(0.01, 365), default=7.0, show_default=True,
              help="until the CRL's nextUpdate")  # fmt: skip
@passphrase_file_option
def keys_revoke(
    participant_id: str,
    out_dir: str,
    reason: str,
    cert_path: str | None,
    days: float,
    passphrase_file: str | None,
) -> None:
    """Revoke PARTICIPANT_ID's certificate in the development CA and publish its CRL (DIR/ca.crl).

    Serve DIR (or copy ca.crl) at the URL the certificates name (`hub keys new --crl-url`) or
    that hub.toml's [revocation] crl_urls lists. Prints the CRL's path, the serial and the
    revocation date; revoking again changes nothing but the CRL's dates."""
    from envelopes.pki import load_certificate, publish_crl

    folder = Path(out_dir)
    path = Path(cert_path) if cert_path else folder / f"{participant_id}.pem"
    if not path.is_file():
        raise Rejected([f"{path}: no certificate for {participant_id} (give --cert)"])
    try:
        cert = load_certificate(path)
    except ValueError:
        raise Rejected([f"{path}: not a PEM certificate"]) from None
    try:
        crl, when = publish_crl(
            folder,
            cert,
            reason=x509.ReasonFlags[reason],
            days=days,
            passphrase=passphrase_for(passphrase_file),
        )
    except CertificateError as exc:
        raise Rejected([str(exc)]) from None
    assert when is not None
    click.echo(f"{crl}\nrevoked serial {cert.serial_number:x} on {when.isoformat()}")
