"""The ``hub`` command line.

Exit status everywhere: 0 accepted / done, 1 rejected (one line per problem on stderr, naming the
element, certificate or rule), 2 usage error. Bad input never produces a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import mimetypes
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click

from envelopes.codec import build_envelope, clark_name, to_bytes
from envelopes.errors import EnvelopeError
from envelopes.model import Attachment, Header, Kind
from envelopes.parsing import parse_xml, parse_xml_file
from envelopes.pki import TrustStore, new_participant
from envelopes.schemas import SchemaRegistry
from envelopes.signatures import Signer, signed_document, verify_hub, verify_sender
from hub import client
from hub.abc import State
from hub.cli_support import Rejected, config_option, deployment_config
from hub.logs import setup_logging
from hub.scaffold import DEFAULT_DEPARTMENTS, init_deployment


def reject(error: EnvelopeError) -> NoReturn:
    raise Rejected(error.problems) from None


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}") from None


def _write(path: str | None, data: bytes) -> None:
    if path in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        assert path is not None
        Path(path).write_bytes(data)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="interagency-hub")
def main() -> None:
    """Interagency exchange hub: signed XML envelopes between departments and agencies."""


# ---------------------------------------------------------------------------------------- keys
@main.group()
def keys() -> None:
    """Development keys and certificates."""


@keys.command("new")
@click.argument("participant_id")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="PKI folder"
)
@click.option(
    "--algorithm",
    type=click.Choice(["rsa", "ecdsa", "gost2012"]),
    default="ecdsa",
    show_default=True,
)
@click.option("--days", type=click.IntRange(1, 36500), default=365, show_default=True)
def keys_new(participant_id: str, out_dir: str, algorithm: str, days: int) -> None:
    """Issue a key and certificate for PARTICIPANT_ID (creating the development CA first)."""
    import re

    from envelopes.model import PARTICIPANT_PATTERN

    if not re.match(PARTICIPANT_PATTERN, participant_id):
        raise click.BadParameter(
            f"{participant_id!r} is not a participant id (like dept.finance)",
            param_hint="PARTICIPANT_ID",
        )
    if algorithm == "gost2012":
        from adapters.smev.cli import keys_new_gost

        key_path, cert_path = keys_new_gost(participant_id, Path(out_dir), days)
    else:
        key_path, cert_path = new_participant(participant_id, Path(out_dir), algorithm, days)
    click.echo(f"{key_path}\n{cert_path}")


# ------------------------------------------------------------------------------------ envelope
@main.group()
def envelope() -> None:
    """Build, sign, validate and verify envelopes."""


@envelope.command("new")
@click.option("--from", "sender", required=True, help="sender participant id")
@click.option("--to", "recipient", required=True, help="recipient participant id")
@click.option("--payload", required=True, type=click.Path(dir_okay=False), help="payload XML")
@click.option("--type", "message_type", help="{namespace}root; default: the payload's root")
@click.option("--kind", type=click.Choice([k.value for k in Kind]), default="request")
@click.option("--correlation-id", type=click.UUID)
@click.option("--conversation-id", type=click.UUID)
@click.option("--expires-in", type=click.IntRange(1), help="seconds until ExpiresAt")
@click.option("--priority", type=click.IntRange(0, 9))
@click.option("--test", "test_flag", is_flag=True, help="mark as a test message")
@click.option("--message-id", type=click.UUID, help="default: a new random UUID")
@click.option("--attach", multiple=True, type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", "out", default="-", help="output file (default stdout)")
def envelope_new(
    sender: str,
    recipient: str,
    payload: str,
    message_type: str | None,
    kind: str,
    correlation_id: uuid.UUID | None,
    conversation_id: uuid.UUID | None,
    expires_in: int | None,
    priority: int | None,
    test_flag: bool,
    message_id: uuid.UUID | None,
    attach: tuple[str, ...],
    out: str,
) -> None:
    """Build an unsigned envelope around a payload."""
    try:
        body = parse_xml(_read_bytes(payload))
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        header = Header(
            message_id=message_id or uuid.uuid4(),
            sender=sender,
            recipient=recipient,
            message_type=message_type or clark_name(body),
            kind=Kind(kind),
            created=now,
            correlation_id=correlation_id,
            conversation_id=conversation_id,
            expires_at=now + dt.timedelta(seconds=expires_in) if expires_in else None,
            priority=priority,
            test=test_flag,
        )
    except EnvelopeError as exc:
        reject(exc)
    except ValueError as exc:  # pydantic's ValidationError
        raise Rejected([_pydantic_line(exc)]) from None
    attachments = [
        Attachment.from_bytes(
            f"att{i}",
            Path(path).name,
            mimetypes.guess_type(path)[0] or "application/octet-stream",
            _read_bytes(path),
        )
        for i, path in enumerate(attach, start=1)
    ]
    _write(out, to_bytes(build_envelope(header, body, attachments)))


def _pydantic_line(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"Header/{first['loc'][0] if first['loc'] else '?'}: {first['msg']}"
    return str(exc)


@envelope.command("sign")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--cert", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", "out", default="-")
def envelope_sign(file: str, key: str, cert: str, out: str) -> None:
    """Sign FILE as its sender."""
    try:
        signer = Signer.from_files(key, cert)
        root = parse_xml(_read_bytes(file))
        signer.sign(root)
    except EnvelopeError as exc:
        reject(exc)
    except ValueError as exc:
        raise Rejected([f"{key}: cannot load the key or certificate ({exc})"]) from None
    _write(out, to_bytes(root))


@envelope.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--trust", required=True, multiple=True, type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", "out", help="write the verified envelope (signed content only)")
def envelope_verify(file: str, trust: tuple[str, ...], out: str | None) -> None:
    """Verify FILE's sender signature (and the hub's countersignature, if present)."""
    try:
        store = TrustStore.from_pem_files(trust)
        root = parse_xml(_read_bytes(file))
        verified = verify_sender(root, store)
        routing_hub = root.findtext(
            "{urn:interagency-hub:envelope:1.0}Routing/{urn:interagency-hub:envelope:1.0}Hub"
        )
        if routing_hub is not None:
            verify_hub(root, store, routing_hub)
    except EnvelopeError as exc:
        reject(exc)
    header = verified.envelope.header
    if out:
        _write(out, to_bytes(signed_document(verified)))
    click.echo(f"OK {header.message_id} from {header.sender}")


@envelope.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--schemas", required=True, type=click.Path(file_okay=False, exists=True))
def envelope_validate(file: str, schemas: str) -> None:
    """Validate FILE's envelope and payload against the schemas in DIR."""
    try:
        registry = SchemaRegistry(schemas)
        root = parse_xml_file(file)
        registry.validate_envelope(root)
        from envelopes.codec import envelope_from_tree

        env = envelope_from_tree(root)
    except EnvelopeError as exc:
        reject(exc)
    except OSError as exc:
        raise click.BadParameter(f"{file}: {exc.strerror}") from None
    click.echo(f"OK {env.header.message_id} {env.header.message_type}")


# ------------------------------------------------------------------------------- deployment
_config = deployment_config


@main.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--departments",
    default=",".join(DEFAULT_DEPARTMENTS),
    show_default=True,
    help="comma-separated participant ids of the departments",
)
@click.option("--broker", "broker_url", default="", help="RabbitMQ URL (default: embedded mode)")
@click.option("--metrics-address", default="127.0.0.1:9464", show_default=True)
@click.option("--force", is_flag=True, help="overwrite an existing hub.toml and reissue keys")
def init_command(
    directory: str, departments: str, broker_url: str, metrics_address: str, force: bool
) -> None:
    """Scaffold a working deployment in DIRECTORY."""
    if (Path(directory) / "hub.toml").exists() and not force:
        raise Rejected(
            [f"{directory}/hub.toml exists: this is a deployment already (use --force to redo)"]
        )
    import re

    from envelopes.model import PARTICIPANT_PATTERN

    names = [d.strip() for d in departments.split(",") if d.strip()]
    bad = [d for d in names if not re.match(PARTICIPANT_PATTERN, d)]
    if bad:
        raise click.BadParameter(
            f"not participant ids: {', '.join(bad)}", param_hint="--departments"
        )
    path = init_deployment(Path(directory), names, broker_url, metrics_address)
    click.echo(f"wrote {path}; start the hub with: hub serve --config {path}")


@main.command("serve")
@config_option
def serve_command(config_path: str) -> None:
    """Run the hub until interrupted (SIGINT/SIGTERM)."""
    from hub.service import run_loop, serve

    config = _config(config_path)
    setup_logging(config.log_level, config.log_json)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(config), config.event_loop)


@main.command("send")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@config_option
@click.option(
    "--wait",
    type=float,
    default=10.0,
    show_default=True,
    help="seconds to wait for the hub's decision",
)
def send_command(files: tuple[str, ...], config_path: str, wait: float) -> None:
    """Submit envelope FILES; prints '<message-id> <state>' for each."""
    config = _config(config_path)
    results = asyncio.run(client.send(config, [Path(f) for f in files], wait))
    failed = False
    for result in results:
        click.echo(f"{result.message_id} {result.state}")
        if result.state == State.REJECTED:
            failed = True
            for line in (result.reason or "").splitlines():
                click.echo(f"rejected: {result.message_id}: {line}", err=True)
    if failed:
        sys.exit(1)


@main.command("inbox")
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
def inbox_command(
    participant: str, config_path: str, max_items: int | None, wait: float, out_dir: str
) -> None:
    """Take what waits in PARTICIPANT's inbox: '<message-id> <sender> <kind>' per item."""
    config = _config(config_path)
    items = asyncio.run(client.inbox(config, participant, Path(out_dir), max_items, wait))
    for item in items:
        click.echo(f"{item.message_id} {item.sender} {item.kind}")


@main.command("trace")
@click.argument("message_id")
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def trace_command(message_id: str, config_path: str, as_json: bool) -> None:
    """Show a message's timeline."""
    config = _config(config_path)
    data = asyncio.run(client.trace(config, message_id))
    if data is None:
        raise Rejected([f"no message {message_id} in {config.database}"])
    click.echo(client.to_json(data) if as_json else client.format_trace(data))


@main.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status_command(config_path: str, as_json: bool) -> None:
    """Messages by state, queues, dead letters, circuit breakers, rules version."""
    from hub import operations

    config = _config(config_path)
    data = asyncio.run(operations.status(config))
    click.echo(client.to_json(data) if as_json else operations.format_status(data))


@main.group()
def dlq() -> None:
    """Dead letters: messages the hub gave up delivering."""


@dlq.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
def dlq_list(config_path: str, as_json: bool) -> None:
    """One line per dead letter: id, destination, when, last error."""
    from hub import operations

    config = _config(config_path)

    async def run() -> list[operations.DeadLetter]:
        from hub.store import Store

        store = await Store.open(config.database)
        try:
            return await operations.dead_letters(store)
        finally:
            await store.close()

    letters = asyncio.run(run())
    if as_json:
        click.echo(operations.letters_json(letters))
        return
    for d in letters:
        click.echo(f"{d.message_id} {d.destination} {d.at} {d.error}")


@dlq.command("show")
@click.argument("message_id")
@config_option
def dlq_show(message_id: str, config_path: str) -> None:
    """A dead letter with its headers and the message's timeline."""
    from hub import operations

    config = _config(config_path)

    async def run() -> list[operations.DeadLetter]:
        from hub.store import Store

        store = await Store.open(config.database)
        try:
            return await operations.dead_letters(store, [message_id])
        finally:
            await store.close()

    letters = asyncio.run(run())
    if not letters:
        raise Rejected([f"no dead letter {message_id}"])
    for d in letters:
        click.echo(f"{d.message_id}  {d.destination}  dead since {d.at}")
        click.echo(f"  last error: {d.error}")
        click.echo(f"  size: {d.size} bytes; headers: {client.to_json(d.headers)}")
    data = asyncio.run(client.trace(config, message_id))
    if data is not None:
        click.echo(client.format_trace(data))


@dlq.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="every dead letter (see --destination)")
@click.option("--destination", help="only those for this adapter or adapter:address")
@click.option("--reason", default="", help="why, for the timeline")
@config_option
def dlq_replay(
    ids: tuple[str, ...], replay_all: bool, destination: str | None, reason: str, config_path: str
) -> None:
    """Send dead letters again (their attempts start over)."""
    from hub import operations

    if not ids and not replay_all:
        raise click.UsageError("name dead letters by id, or use --all")
    config = _config(config_path)
    letters = asyncio.run(operations.replay(config, list(ids), replay_all, destination, reason))
    missing = set(ids) - {d.message_id for d in letters}
    for d in letters:
        click.echo(f"{d.message_id} replayed to {d.destination}")
    if missing:
        raise Rejected([f"no dead letter {m}" for m in sorted(missing)])


@dlq.command("discard")
@click.argument("ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="why, for the timeline")
@config_option
def dlq_discard(ids: tuple[str, ...], reason: str, config_path: str) -> None:
    """Give up on dead letters for good (recorded with who, when and why)."""
    from hub import operations

    config = _config(config_path)
    letters = asyncio.run(operations.discard(config, list(ids), reason))
    missing = set(ids) - {d.message_id for d in letters}
    for d in letters:
        click.echo(f"{d.message_id} discarded")
    if missing:
        raise Rejected([f"no dead letter {m}" for m in sorted(missing)])


@main.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="keep the demo deployment here (default: a temporary folder)",
)
def demo_command(directory: str | None) -> None:
    """Start an embedded hub with three departments and show sample traffic with traces."""
    from hub.demo import run_demo

    sys.exit(run_demo(Path(directory) if directory else None))


# ------------------------------------------------------------------------------ plug-in groups
def _plugin_groups() -> list[Callable[[], click.Command]]:
    """Command groups that live beside their adapters, loaded when the module exists."""
    loaders: list[Callable[[], click.Command]] = []

    def smev() -> click.Command:
        from adapters.smev.cli import smev as group

        return group

    def routes() -> click.Command:
        from hub.routes_cli import routes as group

        return group

    def smev_sim() -> click.Command:
        from adapters.smev.sim_cli import smev_sim as command  # type: ignore[import-not-found,import-untyped,unused-ignore]

        return command  # type: ignore[no-any-return,unused-ignore]

    loaders += [smev, routes, smev_sim]
    return loaders


for _load in _plugin_groups():
    with contextlib.suppress(ImportError):  # an adapter under construction must not break the rest
        main.add_command(_load())


def run() -> None:  # pragma: no cover - thin wrapper for python -m hub
    main()
