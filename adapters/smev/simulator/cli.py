"""``hub smev-sim``: run the SMEV 3 simulator (adapters/smev/simulator) until interrupted.

Register with ``main.add_command(smev_sim)``; ``python -m adapters.smev.simulator.cli`` runs it
alone. Prints one line ``SMEV 3 simulator listening on URL`` on stdout once it serves (tests and
scripts wait for it). Exit codes: 0 after SIGINT/SIGTERM, 1 if it cannot start (e.g. the
port is taken), 2 usage errors. ``hub --help`` loads this module to list the command: the
simulator itself (aiohttp, the crypto) is imported when the command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from adapters.smev.errors import ResponderConfigError, SignerError, SmevCertificateError

if TYPE_CHECKING:
    from adapters.smev.crypto.certificates import GostTrustStore
    from adapters.smev.crypto.xmldsig import XmlSigner
    from adapters.smev.simulator.responder import FileResponder
    from adapters.smev.simulator.server import SmevSimulator

_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


class _Failure(click.ClickException):
    exit_code = 1


def _mnemonics(values: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        name, sep, mnemonic = value.partition("=")
        if not sep or not name or not mnemonic:
            raise click.BadParameter(f"{value!r}: expected CN=MNEMONIC", param_hint="--mnemonic")
        mapping[name] = mnemonic
    return mapping


async def _serve(simulator: SmevSimulator, export_ca: Path | None) -> None:
    try:
        await simulator.start()
    except OSError as exc:
        raise _Failure(f"cannot listen on {simulator.host}:{simulator.port}: {exc}") from exc
    try:
        if export_ca is not None:
            pem = simulator.ca_pem
            if pem is None:
                click.echo("note: --export-ca ignored: the simulator uses the given key", err=True)
            else:
                await asyncio.to_thread(export_ca.write_bytes, pem)
        click.echo(f"SMEV 3 simulator listening on {simulator.url}")
        click.echo(f"WSDL {simulator.url}?wsdl  control {simulator.url}control")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await simulator.stop()


@click.command("smev-sim")
@click.option("--port", type=click.IntRange(0, 65535), default=8089, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save every SOAP request received here (<timestamp>-<seq>-<operation>.xml).",
)
@click.option(
    "--trust",
    "trust_paths",
    multiple=True,
    type=_FILE,
    help="CA certificate(s) the callers' certificates must chain to (repeatable). "
    "Without it only the signature itself and the validity dates are checked.",
)
@click.option("--key", "key_path", type=_FILE, help="SMEV's signing key (default: generated).")
@click.option("--cert", "cert_path", type=_FILE, help="Certificate for --key.")
@click.option(
    "--responder",
    "responder_path",
    type=_FILE,
    help="YAML/JSON: request root '{ns}Name' -> response file (+ delay), answered by the "
    "simulated agency.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds a message handed out by GetRequest/GetResponse waits for its Ack.",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept requests without CallerInformationSystemSignature.",
)
@click.option(
    "--mnemonic",
    "mnemonic_values",
    multiple=True,
    metavar="CN=MNEMONIC",
    help="Caller mnemonic for a certificate CN (default: the CN itself).",
)
@click.option(
    "--message-type",
    "message_types",
    multiple=True,
    metavar="{NS}NAME",
    help="Registered request types; others are rejected (requestIsRejectedBySmev). "
    "Default: any type.",
)
@click.option(
    "--status-channel",
    type=click.Choice(["GetResponse", "GetStatus"]),
    default="GetResponse",
    show_default=True,
    help="Where asynchronous SMEV statuses go.",
)
@click.option("--no-statuses", is_flag=True, help="Do not emit asynchronous statuses.")
@click.option(
    "--human-readable-names",
    is_flag=True,
    help="Write HumanReadableName in MessageMetadata (real SMEV omits it).",
)
@click.option(
    "--export-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the CA certificate of the generated SMEV/agency keys here (PEM).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def smev_sim(
    port: int,
    host: str,
    record_dir: Path | None,
    trust_paths: tuple[Path, ...],
    key_path: Path | None,
    cert_path: Path | None,
    responder_path: Path | None,
    lock_timeout: float,
    allow_unsigned: bool,
    mnemonic_values: tuple[str, ...],
    message_types: tuple[str, ...],
    status_channel: str,
    no_statuses: bool,
    human_readable_names: bool,
    export_ca: Path | None,
    verbose: bool,
) -> None:
    """Run a local SMEV 3 simulator (message exchange 1.3, SOAP 1.1) until interrupted."""
    from adapters.smev.crypto.certificates import GostTrustStore
    from adapters.smev.crypto.signers import load_signer
    from adapters.smev.simulator.responder import FileResponder
    from adapters.smev.simulator.server import SmevSimulator

    if (key_path is None) != (cert_path is None):
        raise click.UsageError("--key and --cert go together")
    signer: XmlSigner | None = None
    if key_path is not None and cert_path is not None:
        try:
            signer = load_signer(key_path, cert_path)
        except SignerError as exc:
            raise click.BadParameter(str(exc), param_hint="--key/--cert") from exc
    trust: GostTrustStore | None = None
    if trust_paths:
        try:
            trust = GostTrustStore.from_files(trust_paths)
        except SmevCertificateError as exc:
            raise click.BadParameter(str(exc), param_hint="--trust") from exc
    responder: FileResponder | None = None
    if responder_path is not None:
        try:
            responder = FileResponder.from_file(responder_path)
        except ResponderConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--responder") from exc
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    simulator = SmevSimulator(
        host=host,
        port=port,
        record_dir=record_dir,
        trust=trust,
        responder=responder,
        lock_timeout=lock_timeout,
        signer=signer,
        mnemonics=_mnemonics(mnemonic_values),
        require_signature=not allow_unsigned,
        message_types=message_types or None,
        status_channel="GetStatus" if status_channel == "GetStatus" else "GetResponse",
        emit_statuses=not no_statuses,
        human_readable_names=human_readable_names,
        access_log=verbose,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(simulator, export_ca))


if __name__ == "__main__":  # pragma: no cover - python -m adapters.smev.simulator.cli
    smev_sim()
