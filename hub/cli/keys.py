"""``hub keys``: development keys and certificates."""

from __future__ import annotations

from pathlib import Path

import click

from envelopes.ids import is_participant
from hub.plugins import KEY_ALGORITHMS, found, load

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
def keys_new(participant_id: str, out_dir: str, algorithm: str, days: int) -> None:
    """Issue a key and certificate for PARTICIPANT_ID (creating the development CA first)."""
    if not is_participant(participant_id):
        raise click.BadParameter(
            f"{participant_id!r} is not a participant id (like dept.finance)",
            param_hint="PARTICIPANT_ID",
        )
    if algorithm in BUILT_IN:
        from envelopes.pki import new_participant

        key_path, cert_path = new_participant(participant_id, Path(out_dir), algorithm, days)
    else:
        issue = load(KEY_ALGORITHMS, algorithm)
        key_path, cert_path = issue(participant_id, Path(out_dir), days)
    click.echo(f"{key_path}\n{cert_path}")
