"""``hub send``, ``hub inbox``, ``hub trace``: what a department does with its messages."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from hub.cli.support import (
    Rejected,
    api_rejected,
    config_option,
    deployment_config,
    remote_client,
    remote_options,
    to_json,
)


@click.command("send")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@config_option
@click.option(
    "--wait",
    type=float,
    default=10.0,
    show_default=True,
    help="seconds to wait for the hub's decision",
)
@click.option(
    "--attach",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="the file of an attachment by reference (default: the manifest's FileName beside "
    "the envelope); uploaded, streamed, before the envelope",
)
@remote_options
def send_command(
    files: tuple[str, ...],
    config_path: str,
    wait: float,
    attach: tuple[str, ...],
    url: str | None,
    token: str | None,
    ca_file: str | None,
) -> None:
    """Submit envelope FILES; prints '<message-id> <state>' for each."""
    from hub.ops.submit import SendResult, send

    attached = [Path(a) for a in attach]
    try:
        if url:
            results: list[SendResult] = []
            with remote_client(url, token, ca_file) as client:
                for name in files:
                    results.append(_send_remote(client, Path(name), wait, attached))
        else:
            config = deployment_config(config_path)
            results = asyncio.run(send(config, [Path(f) for f in files], wait, attached))
    except ValueError as exc:  # an attachment's file is missing or not the signed content
        raise Rejected(str(exc).splitlines()) from None
    failed = False
    for result in results:
        click.echo(f"{result.message_id} {result.state}")
        if result.state == "rejected":
            failed = True
            for line in (result.reason or "").splitlines():
                click.echo(f"rejected: {result.message_id}: {line}", err=True)
    if failed:
        sys.exit(1)


def _send_remote(client: Any, path: Path, wait: float, attach: list[Path]) -> Any:
    from hub.errors import ApiError
    from hub.ops.attachments import referenced_files
    from hub.ops.submit import SendResult

    body = path.read_bytes()
    try:
        if b"Reference" in body:
            for digest, file in referenced_files(path, body, attach).files.items():
                if not _readable(client, digest):
                    client.upload_blob(file, digest)
        submitted = client.submit(body, wait)
    except ApiError as exc:
        why = "\n".join(f"{exc.code}: {p}" for p in exc.problems)
        return SendResult(path.name, "rejected", why)
    reason = "\n".join(r.text for r in submitted.reasons) or None
    return SendResult(submitted.message_id, submitted.state, reason)


def _readable(client: Any, digest: str) -> bool:
    """Whether the caller may use the blob already (it uploaded or received it)."""
    from hub.errors import ApiError

    try:
        client.request("GET", f"/v1/blobs/{digest}", headers={"Range": "bytes=0-0"})
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


@click.command("inbox")
@click.argument("participant")
@config_option
@click.option("--max", "max_items", type=click.IntRange(1), help="take at most N")
@click.option("--wait", type=float, default=0.0, help="seconds to wait for something to arrive")
@click.option(
    "-o",
    "--out",
    "out_dir",
    default=".",
    type=click.Path(file_okay=False),
    show_default=True,
    help="folder for the <message-id>.xml files",
)
@remote_options
def inbox_command(
    participant: str,
    config_path: str,
    max_items: int | None,
    wait: float,
    out_dir: str,
    url: str | None,
    token: str | None,
    ca_file: str | None,
) -> None:
    """Take what waits in PARTICIPANT's inbox: '<message-id> <sender> <kind>' per item."""
    if url:
        _inbox_remote(remote_client(url, token, ca_file), participant, max_items, wait, out_dir)
        return
    from hub.ops.inbox import inbox

    config = deployment_config(config_path)
    items = asyncio.run(inbox(config, participant, Path(out_dir), max_items, wait))
    for item in items:  # the verified header (hub.ops.delivered), never the text as sent
        click.echo(f"{item.message_id} {item.sender} {item.kind}")
        if item.problem is not None:
            click.echo(f"  не проверено / not verified: {item.problem}", err=True)


def _inbox_remote(
    client: Any, participant: str, max_items: int | None, wait: float, out_dir: str
) -> None:
    """Take items under a lease, write each, then acknowledge it (as ``hub inbox`` does)."""
    from hub.errors import ApiError

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    taken = 0
    with client:
        try:
            me = client.me()
            if me.participant != participant:
                raise Rejected([f"the token is {me.participant}'s, not {participant}'s"])
            while max_items is None or taken < max_items:
                room = min(100, max_items - taken) if max_items is not None else 100
                items = client.inbox(room, wait if taken == 0 else 0)
                if not items:
                    break
                for item in items:
                    (folder / f"{item.message_id}.xml").write_text(item.envelope, "utf-8")
                    if "AttachmentData" in item.envelope:
                        _write_files(client, folder, item.message_id, item.envelope)
                    client.ack(item.message_id, item.lease.id)
                    taken += 1
                    click.echo(f"{item.message_id} {item.sender} {item.kind}")
        except ApiError as exc:
            raise api_rejected(exc) from None


def _write_files(client: Any, folder: Path, message_id: str, envelope: str) -> None:
    """The attachments next to the envelope, blobs downloaded (resumed, checked)."""
    from hub.ops.attachments import write_attachments

    def fetch(reference: Any, part: Path) -> None:
        client.download_blob(reference.digest_hex, part, reference.ref.size)

    try:
        write_attachments(envelope.encode("utf-8"), folder / f"{message_id}.files", fetch)
    except ValueError as exc:
        raise Rejected([f"{message_id}: {exc}"]) from None


@click.command("trace")
@click.argument("message_id")
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@remote_options
def trace_command(
    message_id: str,
    config_path: str,
    as_json: bool,
    url: str | None,
    token: str | None,
    ca_file: str | None,
) -> None:
    """Show a message's timeline."""
    from hub.ops.trace import format_trace, trace

    if url:
        from hub.errors import ApiError

        try:
            with remote_client(url, token, ca_file) as client:
                data = client.trace(message_id)
        except ApiError as exc:
            raise api_rejected(exc) from None
    else:
        config = deployment_config(config_path)
        found = asyncio.run(trace(config, message_id))
        if found is None:
            raise Rejected([f"no message {message_id} in {config.store_location}"])
        data = found
    click.echo(to_json(data) if as_json else format_trace(data))
