"""``hub archive``: the tamper-evident log — sign a tree head, prove entries and consistency,
export a bundle, verify one offline, audit the store (docs/archive.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import click

from hub.cli.support import Rejected, config_option, deployment_config, to_json


@click.group()
def archive() -> None:
    """The tamper-evident archive: tree heads, proofs, bundles, offline check, audit."""


def _day(value: str | None, next_day: bool = False) -> str | None:
    """A date as DD.MM.YYYY or YYYY-MM-DD, as the store's time stamps begin."""
    if value is None:
        return None
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
        return (day + dt.timedelta(days=1 if next_day else 0)).isoformat()
    raise click.BadParameter(f"{value}: not a date (15.12.2026 or 2026-12-15)")


def _ops_errors() -> tuple[type[Exception], ...]:
    from hub.archive.merkle import ProofError
    from hub.errors import HubError

    return (HubError, ProofError)


@archive.command("sign")
@config_option
def sign(config_path: str) -> None:
    """Sign a tree head over the log as it is now; prints it as JSON."""
    from hub.ops.archive import sign_command

    head = asyncio.run(sign_command(deployment_config(config_path)))
    click.echo(to_json(head.as_json()))


@archive.command("heads")
@config_option
def heads(config_path: str) -> None:
    """The signed tree heads: size, root, time (one line each)."""
    from hub.ops.archive import heads_command

    for head in asyncio.run(heads_command(deployment_config(config_path))):
        click.echo(f"{head.size} {head.root.hex()} {head.at}")


@archive.command("proof")
@click.argument("ident", metavar="ID")
@click.option("--size", type=int, help="under the signed head of this size (default: latest)")
@config_option
def proof(ident: str, size: int | None, config_path: str) -> None:
    """Inclusion proof of entry ID (a number) or of every entry of message ID, as JSON."""
    from hub.ops.archive import proof_command

    try:
        data = asyncio.run(proof_command(deployment_config(config_path), ident, size))
    except _ops_errors() as exc:
        raise Rejected([str(exc)]) from None
    click.echo(to_json(data))


@archive.command("consistency")
@click.argument("old", type=int)
@click.argument("new", type=int)
@config_option
def consistency(old: int, new: int, config_path: str) -> None:
    """Consistency proof between the signed heads of sizes OLD and NEW, as JSON."""
    from hub.ops.archive import consistency_command

    try:
        data = asyncio.run(consistency_command(deployment_config(config_path), old, new))
    except _ops_errors() as exc:
        raise Rejected([str(exc)]) from None
    click.echo(to_json(data))


@archive.command("export")
@config_option
@click.option("--from", "since", help="entries from this day (15.12.2026 or 2026-12-15)")
@click.option("--to", "until", help="entries up to and including this day")
@click.option("--message", "messages", multiple=True, help="only this message (repeatable)")
@click.option("-o", "out", required=True, type=click.Path(dir_okay=False), help="the bundle")
def export(
    config_path: str, since: str | None, until: str | None, messages: tuple[str, ...], out: str
) -> None:
    """Write a self-contained bundle (ZIP, ASiC-E layout) of entries with their proofs."""
    from hub.ops.archive import export_command

    config = deployment_config(config_path)
    try:
        done = asyncio.run(
            export_command(config, Path(out), _day(since), _day(until, True), list(messages))
        )
    except _ops_errors() as exc:
        raise Rejected([str(exc)]) from None
    click.echo(
        f"{done.path}: {done.entries} entries of {done.messages} messages under the signed "
        f"tree head of {done.head.size}"
    )


@archive.command("verify")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--hub-cert", "hub_cert", required=True, type=click.Path(exists=True, dir_okay=False),
              help="the hub's certificate (PEM): the only thing trusted")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def verify(bundle: str, hub_cert: str, as_json: bool) -> None:
    """Check a bundle offline: exit 0 if every entry is proven under a signed head."""
    from envelopes.pki import load_certificate
    from hub.archive.bundle import BundleError, verify_bundle
    from hub.store.bundle_spool import SqliteSpool

    try:
        cert = load_certificate(hub_cert)
    except (OSError, ValueError) as exc:
        raise Rejected([f"{hub_cert}: not a certificate ({exc})"], "failed") from None
    try:
        result = verify_bundle(Path(bundle), cert, SqliteSpool)
    except BundleError as exc:
        raise Rejected([str(exc)], "failed") from None
    head = result.head
    if as_json:
        click.echo(json.dumps({"ok": True, "head": head.size, "root": head.root.hex(),
                               "at": head.at, "entries": result.entries,
                               "messages": len(result.messages),
                               "pruned": result.pruned}, ensure_ascii=False))  # fmt: skip
        return
    click.echo(
        f"ok: {result.entries} entries of {len(result.messages)} messages proven under the tree "
        f"head of {head.size} signed at {head.at} (root {head.root.hex()})"
        + (f"; {len(result.pruned)} bodies removed by retention" if result.pruned else "")
    )


@archive.command("audit")
@config_option
@click.option("--json", "as_json", is_flag=True)
def audit(config_path: str, as_json: bool) -> None:
    """Recompute the log from the store and check it against the signed heads."""
    from hub.ops.archive import audit_command

    report = asyncio.run(audit_command(deployment_config(config_path)))
    if as_json:
        click.echo(to_json({"size": report.size, "heads": report.heads, "clean": report.clean,
                            "findings": report.findings, "notes": report.notes}))  # fmt: skip
    else:
        for note in report.notes:
            click.echo(f"note: {note}")
        if report.clean:
            click.echo(f"ok: {report.size} entries, {report.heads} signed heads, nothing altered")
    if not report.clean:
        raise Rejected(report.findings, "tampered")
