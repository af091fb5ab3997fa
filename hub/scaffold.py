"""``hub init``: a working deployment folder in one command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from envelopes.pki import new_participant
from hub.config import default_workers

DEFAULT_DEPARTMENTS = ("dept.finance", "dept.culture", "dept.land")


def shipped(name: str) -> Path:
    """A data folder shipped with the hub (xsd, routing_rules): in the wheel or the checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the hub's {name}/ folder is missing from this installation")


# how the page and the reports name the usual departments (hub.toml's [names]; edit freely)
KNOWN_NAMES = {
    "dept.finance": "Финансовое управление",
    "dept.culture": "Управление культуры",
    "dept.land": "Комитет по земельным отношениям",
    "dept.property": "Управление муниципального имущества",
    "dept.education": "Управление образования",
    "dept.health": "Управление здравоохранения",
    "dept.transport": "Управление транспорта",
    "dept.social": "Управление социальной защиты",
}


def _names(departments: list[str]) -> str:
    lines = [f'"{d}" = "{KNOWN_NAMES[d]}"' for d in departments if d in KNOWN_NAMES]
    lines += [f'# "{d}" = "…"' for d in departments if d not in KNOWN_NAMES]
    return "\n".join(lines)


def write_config(
    directory: Path,
    departments: list[str],
    broker_url: str = "",
    hub_id: str = "hub.main",
    metrics_address: str = "127.0.0.1:9464",
    extra: str = "",
    api_address: str = "127.0.0.1:8080",
    store_url: str = "",
    passphrase_file: str = "",
    check_publisher: bool = False,
) -> Path:
    passphrase = (
        f"key_passphrase_file = {json.dumps(passphrase_file)}"
        if passphrase_file
        else '# key_passphrase_file = "/run/secrets/hub-key"  # else $HUB_KEY_PASSPHRASE'
    )
    deps = ", ".join(f'"{d}"' for d in departments)
    workers = default_workers()
    text = f"""# Interagency hub configuration (docs/configuration.md).
# Environment variables override: HUB_BROKER_URL, HUB_LOG_LEVEL, HUB_RETRY__MAX_ATTEMPTS, ...
id = "{hub_id}"
# empty: embedded mode (queues in the SQLite store); amqp://user:pass@host:5672/ for RabbitMQ
broker_url = "{broker_url}"
data_dir = "data"
workers = {workers}
log_level = "INFO"
log_json = false
departments = [{deps}]

[pki]
key = "pki/{hub_id}.key.pem"
cert = "pki/{hub_id}.pem"
trust = ["pki/ca.pem"]
{passphrase}

# revocation of participants' certificates: the CRLs they name (or crl_urls), OCSP (ocsp_url);
# when none can be had a certificate is refused (on_unavailable = "accept" to let it through)
[revocation]
enabled = true
crl_urls = []
on_unavailable = "reject"

# check each submission's AMQP user_id against the envelope's Sender (broker/definitions.json)
[security]
check_publisher = {"true" if check_publisher else "false"}

[paths]
schemas = "xsd"
routing_rules = "routing_rules"

# the store: "" keeps it in data_dir (SQLite); a postgresql://user:password@host:port/database
# URL lets several `hub serve` nodes share it (each names itself with `node`)
[store]
url = {json.dumps(store_url)}

[metrics]
address = "{metrics_address}"

# the HTTP API (docs/api.md): tokens with `hub tokens create`; tls_cert/tls_key for HTTPS,
# client_ca for client certificates (mTLS)
[api]
address = "{api_address}"

# how people call the participants: the managers' page (/ui/) and the reports use these names
[names]
{_names(departments)}

[retry]
max_attempts = 8
base_delay = 2.0
max_delay = 600.0
max_age = 86400.0
jitter = 0.2

[adapters.internal]
type = "internal"
{extra}"""
    path = directory / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def init_deployment(
    directory: Path,
    departments: list[str],
    broker_url: str = "",
    metrics_address: str = "127.0.0.1:9464",
    api_address: str = "127.0.0.1:8080",
    store_url: str = "",
    passphrase: bytes | None = None,
    passphrase_file: str = "",
) -> Path:
    """The deployment folder; keys encrypted when a passphrase is given; with a broker, its
    definitions file (broker/) and the hub's own broker user in hub.toml."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = directory / "pki"
    new_participant("hub.main", pki, passphrase=passphrase)
    for department in departments:
        new_participant(department, pki, passphrase=passphrase)
    if broker_url:
        from hub.config import split_broker_urls
        from hub.transports.definitions import write_broker_access

        urls = split_broker_urls(broker_url)
        access = write_broker_access(directory, urls[0], departments)
        broker_url = ",".join(
            [access.hub_url, *(u if "@" in u else _with_user(u, access.hub_url) for u in urls[1:])]
        )
    for name in ("xsd", "routing_rules"):
        target = directory / name
        if not target.exists():
            shutil.copytree(shipped(name), target)
    return write_config(
        directory,
        departments,
        broker_url,
        metrics_address=metrics_address,
        api_address=api_address,
        store_url=store_url,
        passphrase_file=passphrase_file,
        check_publisher=bool(broker_url),
    )


def _with_user(url: str, hub_url: str) -> str:
    """Another cluster node's URL with the hub's credentials."""
    import urllib.parse

    creds = urllib.parse.urlsplit(hub_url).netloc.rpartition("@")[0]
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{creds}@{rest}"
