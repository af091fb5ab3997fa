"""Least privilege on RabbitMQ: a definitions file with the hub's and each department's user.

``hub init --broker`` writes it (``broker/definitions.json``, to load with ``rabbitmqctl
import_definitions`` or the management plugin's ``load_definitions``). Each department's broker
user is named by its participant id and may only

- publish to ``hub.submit`` (write on that exchange, nothing else: not the default exchange,
  so not straight into another department's inbox or the hub's queues),
- consume its own ``inbox.<participant>`` (read on that queue only),
- configure nothing (it can neither declare nor delete queues or exchanges).

The hub's user has all three on the hub's virtual host and is no administrator. RabbitMQ checks
a publish's ``user_id`` property against the connection's user, and the hub (``[security]
check_publisher``) checks that ``user_id`` against the envelope's Sender: a department cannot
publish as another one, neither on the wire nor in the envelope.

Passwords are stored as RabbitMQ's salted SHA-256 hashes; the departments' passwords are
written once, each into its own ``broker/<participant>.url`` (mode 0600), to hand over.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.queues import inbox_queue
from hub.transports.topology import SUBMIT_EXCHANGE

HASHING = "rabbit_password_hashing_sha256"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's stored form: base64(salt + SHA-256(salt + password)), 4-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def department_permissions(participant: str, vhost: str) -> dict[str, str]:
    return {
        "user": participant,
        "vhost": vhost,
        "configure": "^$",
        "write": f"^{re.escape(SUBMIT_EXCHANGE)}$",
        "read": f"^{re.escape(inbox_queue(participant))}$",
    }


@dataclass
class BrokerAccess:
    """What was written: the definitions file, the hub's URL, each department's URL file."""

    definitions: Path
    hub_url: str
    department_urls: dict[str, Path]
    hub_user: str


def vhost_of(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path[1:]) if len(path) > 1 else "/"


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def definitions(
    hub_user: str, hub_password: str, departments: dict[str, str], vhost: str
) -> dict[str, Any]:
    """The definitions document (users, vhost, permissions); passwords hashed."""
    users = [
        {
            "name": name,
            "password_hash": password_hash(password),
            "hashing_algorithm": HASHING,
            "tags": "",
        }
        for name, password in [(hub_user, hub_password), *departments.items()]
        if name != "guest"  # RabbitMQ's own user is never redefined (nor its tags dropped)
    ]
    permissions = [
        {"user": hub_user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"},
        *(department_permissions(d, vhost) for d in departments),
    ]
    return {
        "rabbit_version": "3.10.0",
        "users": users,
        "vhosts": [{"name": vhost}],
        "permissions": permissions,
    }


def write_broker_access(directory: Path, broker_url: str, departments: list[str]) -> BrokerAccess:
    """broker/definitions.json and broker/<department>.url in ``directory``; the hub's URL
    (its own user: the URL's, or ``hub`` with a new password when the URL names none)."""
    parts = urllib.parse.urlsplit(broker_url)
    hub_user = urllib.parse.unquote(parts.username or "") or "hub"
    hub_password = urllib.parse.unquote(parts.password or "") or secrets.token_urlsafe(24)
    hub_url = with_credentials(broker_url, hub_user, hub_password)
    vhost = vhost_of(broker_url)
    passwords = {d: secrets.token_urlsafe(24) for d in departments}
    folder = directory / "broker"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "definitions.json"
    document = definitions(hub_user, hub_password, passwords, vhost)
    _write_private(path, json.dumps(document, indent=2))
    urls = {}
    for department, password in passwords.items():
        url_file = folder / f"{department}.url"
        _write_private(url_file, with_credentials(broker_url, department, password) + "\n")
        urls[department] = url_file
    return BrokerAccess(path, hub_url, urls, hub_user)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    path.chmod(0o600)
