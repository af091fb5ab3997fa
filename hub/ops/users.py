"""The managers' page's users: created with a password (an argon2 hash is kept), checked at
login, locked out after repeated wrong passwords.

argon2 (argon2-cffi, the OWASP recommendation) because people choose passwords: a stolen
database must not yield them cheaply. Hashing costs tens of milliseconds of CPU on purpose, so
it runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from envelopes.ids import is_participant
from hub.errors import HubError
from hub.records import UserRecord, now_iso
from hub.store import Store

ROLES = ("manager", "admin", "auditor")
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# verified against when the name is unknown, so that a wrong name costs what a wrong password does
_DUMMY = _HASHER.hash("not a password of anyone")


@dataclass(frozen=True)
class LoginRefused(Exception):
    """Why a login failed, in words the login page may show (never which part was wrong)."""

    reason: str  # "wrong" | "locked" | "disabled"
    until: str | None = None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise HubError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if password.strip() != password:
        raise HubError("the password starts or ends with a space (a copying slip?)")


async def create_user(
    store: Store,
    name: str,
    role: str,
    password: str,
    department: str | None = None,
    display_name: str = "",
    created_by: str = "",
) -> UserRecord:
    """A new user; HubError naming what is wrong (name taken, role, department, password)."""
    if not name or not name.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise HubError(f"{name!r}: a user name is letters, digits, '.', '-', '_'")
    if role not in ROLES:
        raise HubError(f"role {role!r}: one of {', '.join(ROLES)}")
    if role == "manager" and not department:
        raise HubError("a manager needs --department (whose documents they see)")
    if department is not None and not is_participant(department):
        raise HubError(f"{department!r} is not a participant id (like dept.finance)")
    check_password(password)
    hashed = await asyncio.to_thread(_HASHER.hash, password)
    user = UserRecord(
        name=name,
        role=role,
        department=department if role == "manager" else department or None,
        display_name=display_name,
        hash=hashed,
        created_at=now_iso(),
        created_by=created_by,
    )
    if not await store.add_user(user):
        raise HubError(f"user {name} exists already")
    return user


async def set_password(store: Store, name: str, password: str) -> None:
    check_password(password)
    hashed = await asyncio.to_thread(_HASHER.hash, password)
    if not await store.set_password(name, hashed):
        raise HubError(f"no user {name}")


async def log_in(
    store: Store, name: str, password: str, failures: int, lockout: dt.timedelta
) -> UserRecord:
    """The user, if the password is right; else LoginRefused (the failure is counted, and
    ``failures`` in a row lock the user out for ``lockout``)."""
    user = await store.user(name)
    if user is None:
        await asyncio.to_thread(_verify, _DUMMY, password)
        raise LoginRefused("wrong")
    if user.disabled_at is not None:
        await asyncio.to_thread(_verify, _DUMMY, password)
        raise LoginRefused("disabled")
    now = dt.datetime.now(dt.UTC)
    if user.locked_until is not None and dt.datetime.fromisoformat(user.locked_until) > now:
        raise LoginRefused("locked", user.locked_until)
    if not await asyncio.to_thread(_verify, user.hash, password):
        until = (now + lockout).isoformat(timespec="seconds")
        count = await store.login_failed(name, failures, until)
        if count == 0:  # this one reached the limit: locked now
            raise LoginRefused("locked", until)
        raise LoginRefused("wrong")
    await store.login_succeeded(name)
    return user


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
