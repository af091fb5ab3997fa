"""``hub init``, ``hub serve``, ``hub demo``: a deployment made, run, shown."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from envelopes.ids import is_participant
from hub.cli.support import Rejected, config_option, deployment_config
from hub.config import HubConfig
from hub.scaffold import DEFAULT_DEPARTMENTS


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--departments",
    default=",".join(DEFAULT_DEPARTMENTS),
    show_default=True,
    help="comma-separated participant ids of the departments",
)
@click.option("--broker", "broker_url", default="", help="RabbitMQ URL (default: embedded mode)")
@click.option(
    "--store",
    "store_url",
    default="",
    help="postgresql://user:password@host:port/database, which several hub nodes can share "
    "(default: SQLite in the data folder)",
)
@click.option("--metrics-address", default="127.0.0.1:9464", show_default=True)
@click.option("--api-address", default="127.0.0.1:8080", show_default=True, help="the HTTP API")
@click.option("--force", is_flag=True, help="overwrite an existing hub.toml and reissue keys")
@click.option(
    "--encrypt-keys",
    is_flag=True,
    help="encrypt the private keys (PKCS#8) with the passphrase from $HUB_KEY_PASSPHRASE or "
    "--passphrase-file",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True),
    help="with --encrypt-keys: the passphrase's file (its first line); hub.toml then names it",
)
def init_command(
    directory: str,
    departments: str,
    broker_url: str,
    store_url: str,
    metrics_address: str,
    api_address: str,
    force: bool,
    encrypt_keys: bool,
    passphrase_file: str | None,
) -> None:
    """Scaffold a working deployment in DIRECTORY.

    With --broker it also writes broker/definitions.json (the hub's and each department's
    RabbitMQ user, the virtual host, least-privilege permissions) and broker/<department>.url
    (each department's credentials, mode 0600), and checks each submission's AMQP user_id."""
    from hub.cli.keys import passphrase_for
    from hub.config import check_store_url
    from hub.scaffold import init_deployment

    if (Path(directory) / "hub.toml").exists() and not force:
        raise Rejected(
            [f"{directory}/hub.toml exists: this is a deployment already (use --force to redo)"]
        )
    names = [d.strip() for d in departments.split(",") if d.strip()]
    bad = [d for d in names if not is_participant(d)]
    if bad:
        raise click.BadParameter(
            f"not participant ids: {', '.join(bad)}", param_hint="--departments"
        )
    try:
        check_store_url(store_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    if passphrase_file and not encrypt_keys:
        raise click.BadParameter("goes with --encrypt-keys", param_hint="--passphrase-file")
    passphrase = passphrase_for(passphrase_file, required=True) if encrypt_keys else None
    path = init_deployment(
        Path(directory),
        names,
        broker_url,
        metrics_address,
        api_address,
        store_url,
        passphrase=passphrase,
        passphrase_file=str(Path(passphrase_file).resolve()) if passphrase_file else "",
    )
    if broker_url:
        click.echo(
            f"wrote {Path(directory) / 'broker' / 'definitions.json'}: load it into RabbitMQ "
            "(rabbitmqctl import_definitions); each department's URL is in broker/<id>.url"
        )
    click.echo(f"wrote {path}; start the hub with: hub serve --config {path}")


@click.command("serve")
@config_option
def serve_command(config_path: str) -> None:
    """Run the hub until interrupted (SIGINT/SIGTERM)."""
    from hub.logs import setup_logging
    from hub.service import run_loop, serve

    config = deployment_config(config_path)
    check_hub_key(config)
    setup_logging(config.log_level, config.log_json)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(config), config.event_loop)


def check_hub_key(config: HubConfig) -> None:
    """Open the hub's key once before anything starts: a missing or wrong passphrase is one
    clear line, not worker processes failing one after another."""
    from envelopes.errors import CertificateError
    from hub.trust import hub_signer

    try:
        hub_signer(config)
    except CertificateError as exc:
        raise Rejected([f"[pki] key: {exc}"]) from None
    except OSError as exc:
        raise Rejected([f"[pki] key: {exc.filename}: {exc.strerror}"]) from None


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="keep the demo deployment here (default: a temporary folder)",
)
@click.option(
    "--serve",
    is_flag=True,
    help="then keep the hub running with the managers' page (users and passwords printed)",
)
@click.option("--address", default="127.0.0.1:8080", show_default=True, help="with --serve")
def demo_command(directory: str | None, serve: bool, address: str) -> None:
    """Start an embedded hub with three departments and show sample traffic with traces."""
    from hub.demo import run_demo

    sys.exit(run_demo(Path(directory) if directory else None, address if serve else None))
