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
) -> Path:
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
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pki = directory / "pki"
    new_participant("hub.main", pki)
    for department in departments:
        new_participant(department, pki)
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
    )
