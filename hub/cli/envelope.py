"""``hub envelope``: build, sign, validate and verify envelopes."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError

from envelopes.codec import build_envelope, clark_name, envelope_from_tree, to_bytes
from envelopes.errors import EnvelopeError
from envelopes.model import DocumentCard, Header, Kind
from envelopes.parsing import parse_xml, parse_xml_file
from envelopes.pki import TrustStore
from envelopes.signatures import Signer, signed_document, verify_hub, verify_sender
from hub.cli.support import Rejected, read_bytes, write_out


def reject(error: EnvelopeError) -> NoReturn:
    raise Rejected(error.problems) from None


@click.group()
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
@click.option(
    "--threshold",
    type=click.IntRange(0),
    default=1024 * 1024,
    show_default=True,
    help="attachments larger than this many bytes go by reference (blob:sha256:…): "
    "`hub send` uploads them",
)
@click.option(
    "--card",
    type=click.Path(dir_okay=False, exists=True),
    help="the document card, a JSON object (kind, title, number, date, urgency …): envelope 1.1",
)
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
    threshold: int,
    card: str | None,
    out: str,
) -> None:
    """Build an unsigned envelope around a payload. Attachments above ``--threshold`` go by
    reference: their digest is read in chunks, and ``hub send`` uploads them."""
    from hub.ops.attachments import attach as attach_files

    try:
        body = parse_xml(read_bytes(payload))
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
    attachments, references = attach_files([Path(p) for p in attach], threshold)
    document_card = read_card(card) if card else None
    write_out(out, to_bytes(build_envelope(header, body, attachments, document_card, references)))


def read_card(path: str) -> DocumentCard:
    """A card from a JSON file (keys: the DocumentCard fields), or Rejected naming each field."""
    try:
        data = json.loads(read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected([f"{path}: not a JSON object ({exc})"]) from None
    if not isinstance(data, dict):
        raise Rejected([f"{path}: the card must be a JSON object"])
    try:
        return DocumentCard.model_validate(data)
    except ValidationError as exc:
        raise Rejected(
            [
                f"{path}: card/{'/'.join(str(p) for p in e['loc']) or '?'}: {e['msg']}"
                for e in exc.errors()
            ]
        ) from None


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
        root = parse_xml(read_bytes(file))
        signer.sign(root)
    except EnvelopeError as exc:
        reject(exc)
    except ValueError as exc:
        raise Rejected([f"{key}: cannot load the key or certificate ({exc})"]) from None
    write_out(out, to_bytes(root))


@envelope.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--trust", required=True, multiple=True, type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", "out", help="write the verified envelope (signed content only)")
def envelope_verify(file: str, trust: tuple[str, ...], out: str | None) -> None:
    """Verify FILE's sender signature (and the hub's countersignature, if present)."""
    try:
        store = TrustStore.from_pem_files(trust)
        root = parse_xml(read_bytes(file))
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
        write_out(out, to_bytes(signed_document(verified)))
    click.echo(f"OK {header.message_id} from {header.sender}")


@envelope.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--schemas",
    required=True,
    type=click.Path(file_okay=False, exists=True),
    help="payload schemas (the envelope's own schema is always known)",
)
def envelope_validate(file: str, schemas: str) -> None:
    """Validate FILE's envelope and payload against the schemas in DIR."""
    from hub.schemas import schema_registry

    try:
        registry = schema_registry(Path(schemas))  # the hub's own schemas, then DIR's
        root = parse_xml_file(file)
        registry.validate_envelope(root)
        env = envelope_from_tree(root)
    except EnvelopeError as exc:
        reject(exc)
    except OSError as exc:
        raise click.BadParameter(f"{file}: {exc.strerror}") from None
    click.echo(f"OK {env.header.message_id} {env.header.message_type}")
