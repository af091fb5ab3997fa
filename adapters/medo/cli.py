"""``hub medo check PACKAGE_DIR`` and ``hub medo-peer --in DIR --out DIR``.

Exit codes: 0 fine, 1 the package is not acceptable (reasons on stderr), 2 usage errors.
The crypto is imported inside the commands, when one runs (``hub --help`` stays fast).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class _Failure(click.ClickException):
    exit_code = 1


@click.group()
def medo() -> None:
    """MEDO packages: check one (docs/medo-adapter.md)."""


@medo.command("check")
@click.argument("package_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--trust", "trust", multiple=True, type=_FILE, help="GOST CA certificate (PEM)")
def check(package_dir: Path, trust: tuple[Path, ...]) -> None:
    """Validate a package folder: structure, encoding, schema, signatures (with --trust)."""
    from adapters.medo.errors import PackageError
    from adapters.medo.package import parse_package, read_folder, verify_package
    from adapters.smev.crypto.certificates import GostTrustStore

    try:
        files = read_folder(package_dir)
        click.echo(f"Файлы / files: {', '.join(sorted(files))}")
        package = parse_package(files)
    except PackageError as exc:
        raise _Failure(f"Пакет не принимается / not acceptable: {exc}") from None
    message = package.message
    click.echo(f"Версия / version: {message.version}")
    click.echo(f"Тип / type: {message.type.value}")
    click.echo(f"UID: {message.uid}")
    click.echo(f"Отправитель / source: {message.source.uid} {message.source.organization}")
    click.echo(f"Тема / subject (envelope.ini, windows-1251): {package.subject}")
    passport = package.passport
    if passport is not None:
        click.echo(
            f"Документ / document: {passport.kind} № {passport.number} от "
            f"{passport.date:%d.%m.%Y}: {passport.annotation}"
        )
        for signed in [passport.document, *passport.attachments]:
            click.echo(f"  {signed.name}: подпись / signature {signed.signature or '—'}")
        if trust:
            try:
                signers = verify_package(package, GostTrustStore.from_files(trust))
            except PackageError as exc:
                raise _Failure(f"Подпись не подтверждена / signature: {exc}") from None
            for name, who in signers.items():
                click.echo(f"  {name}: подписал / signed by {', '.join(who)} — верна / valid")
        else:
            click.echo("Подписи не проверены (нет --trust) / signatures not verified: no --trust")
    if message.notification is not None:
        note = message.notification
        click.echo(f"Уведомление / notification: {note.type.value} о {note.document_uid}")
    if message.acknowledgment is not None:
        ack = message.acknowledgment
        click.echo(f"Квитанция / acknowledgment: {ack.uid} accepted={ack.accepted} {ack.comment}")
    click.echo("Пакет в порядке / the package is acceptable")


@click.command("medo-peer")
@click.option("--in", "inbox", required=True, type=_DIR, help="where the hub's packages arrive")
@click.option("--out", "outbox", required=True, type=_DIR, help="where the peer's packages go")
@click.option(
    "--state",
    type=_DIR,
    default=Path("medo-peer"),
    show_default=True,
    help="the peer's key and dev CA (made on first use)",
)
@click.option("--uid", default="0b6f5d2e-1c3a-4b7d-9e8f-a1b2c3d4e5f6", show_default=True)
@click.option("--organization", default="Министерство (демонстрация)", show_default=True)
@click.option("--trust", multiple=True, type=_FILE, help="CA that signs the hub's packages")
@click.option("--dialect", type=click.Choice(["2.7.1", "2.x"]), default="2.7.1")
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--once", is_flag=True, help="one round, then exit")
def medo_peer(
    inbox: Path,
    outbox: Path,
    state: Path,
    uid: str,
    organization: str,
    trust: tuple[Path, ...],
    dialect: str,
    interval: float,
    once: bool,
) -> None:
    """Play a federal body: take the hub's packages, acknowledge, register, answer."""
    from adapters.medo.peer import Peer
    from adapters.smev.crypto.certificates import GostTrustStore
    from adapters.smev.crypto.dev_ca import issue_gost_certificate
    from adapters.smev.crypto.signers import GostSigner

    key, cert = state / "medo-peer.key.pem", state / "medo-peer.pem"
    if not key.exists():
        issue_gost_certificate("medo-peer", state)
        click.echo(f"peer key and certificate in {state} (trust {state / 'ca-gost.pem'})")
    peer = Peer(
        inbox,
        outbox,
        uid.lower(),
        organization,
        GostSigner.from_files(key, cert),
        GostTrustStore.from_files(trust) if trust else None,
        dialect=dialect,
    )
    while True:
        for line in peer.step():
            click.echo(line)
        for folder, reason in peer.refused:
            click.echo(f"refused {folder}: {reason}", err=True)
        peer.refused.clear()
        if once:
            return
        time.sleep(interval)
