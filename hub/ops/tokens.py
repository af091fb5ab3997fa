"""API tokens: who a bearer token says the caller is, and with which role.

A token is ``hubt_<id>_<secret>``: the id finds its record, the rest is 256 random bits. The
store keeps only an HMAC-SHA256 of the whole token under the deployment's own key
(``data/api.key``, made on first use, readable by the hub's user only): a stolen database
yields no usable token, and checking a token costs a microsecond (a password hash such as
argon2 guards low-entropy passwords; these tokens are not). Revoked tokens stay on record.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from envelopes.ids import is_participant
from hub.config import HubConfig
from hub.errors import HubError
from hub.records import ApiToken, now_iso
from hub.store import Store

PREFIX = "hubt"


class Role(enum.StrEnum):
    """What a caller may do (docs/api.md#who-may-do-what)."""

    PARTICIPANT = "participant"  # its own messages, inbox and documents
    MANAGER = "manager"  # reads everything of its department
    ADMIN = "admin"  # everything, and the administration endpoints
    AUDITOR = "auditor"  # reads everything, changes nothing


def key_file(config: HubConfig) -> Path:
    return config.path(config.data_dir) / "api.key"


def api_key(config: HubConfig) -> bytes:
    """The deployment's token key, made (0600) on first use."""
    path = key_file(config)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def token_hash(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


async def create_token(
    store: Store,
    key: bytes,
    participant: str,
    role: Role,
    department: str | None = None,
    label: str = "",
    created_by: str = "",
) -> tuple[ApiToken, str]:
    """A new token: (its record, the token itself — shown once, never stored)."""
    if not is_participant(participant):
        raise HubError(f"{participant!r} is not a participant id (like dept.finance)")
    if role == Role.MANAGER and not department:
        department = participant  # a department's manager, by default its own department
    if department is not None and not is_participant(department):
        raise HubError(f"{department!r} is not a participant id (like dept.finance)")
    token_id = secrets.token_hex(8)
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    record = ApiToken(
        id=token_id,
        participant=participant,
        role=role.value,
        department=department,
        hash=token_hash(key, token),
        label=label,
        created_at=now_iso(),
        created_by=created_by,
    )
    await store.add_token(record)
    return record, token


async def verify_token(store: Store, key: bytes, token: str) -> ApiToken | None:
    """The live token record a bearer token stands for, or None (unknown, wrong, revoked)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    record = await store.token(parts[1])
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(record.hash, token_hash(key, token)):
        return None
    return record
