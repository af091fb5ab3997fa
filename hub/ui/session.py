"""Who is looking: users log in with a password, a session cookie carries them from page to
page, every form carries its CSRF token; the caller the pages act as is the API's ``Caller``,
so the same rules decide what a manager sees.

- The cookie (``hub_session``) is 256 random bits; the store keeps only its SHA-256, with the
  session's CSRF token. ``HttpOnly``, ``Secure`` (browsers keep it over HTTPS, and on
  localhost), ``SameSite=Lax``, path ``/ui``. A session ends after ``[ui] session_idle``
  seconds without a request, ``session_max`` after login, or at logout.
- The login form is protected by a double-submit token (a cookie and a hidden field).
- ``lockout_failures`` wrong passwords in a row lock the user for ``lockout_minutes``; wrong
  attempts also count against the client's address in the API's rate limiter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from hub.api.auth import Caller
from hub.api.state import ApiState
from hub.ops.tokens import Role
from hub.records import UiSession, UserRecord

SESSION_COOKIE = "hub_session"
LOGIN_COOKIE = "hub_login"
TOUCH_EVERY = dt.timedelta(seconds=60)  # how stale ``seen_at`` may get: not a write per request


class LoginRequired(Exception):
    """No (live) session: the page sends the browser to the login form."""


class CsrfRefused(Exception):
    """A form came without the session's token (another site's form, or an old page)."""


@dataclass(frozen=True)
class Viewer:
    """The person looking at a page, with what the API would call them."""

    user: UserRecord
    caller: Caller
    csrf: str
    session_id: str


def session_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def caller_of(user: UserRecord, hub_id: str) -> Caller:
    """A user as an API caller: a manager is its department's, admins and auditors the hub's."""
    role = Role(user.role)
    participant = user.department if role == Role.MANAGER and user.department else hub_id
    return Caller(participant, role, user.department, "session", None, user.name)


async def start_session(state: ApiState, user: UserRecord, response: Response) -> None:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=state.config.ui.session_max)
    await state.store.open_session(
        session_key(cookie), user.name, csrf, expires.isoformat(timespec="seconds")
    )
    response.set_cookie(
        SESSION_COOKIE, cookie, httponly=True, secure=True, samesite="lax", path="/ui",
        max_age=int(state.config.ui.session_max),
    )  # fmt: skip
    response.delete_cookie(LOGIN_COOKIE, path="/ui")


async def viewer_of(request: Request) -> Viewer:
    """The logged-in viewer of a request, or LoginRequired."""
    state: ApiState = request.app.state.api
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired()
    key = session_key(cookie)
    session = await state.store.session(key)
    if session is None or not _alive(session, state):
        if session is not None:
            await state.store.end_session(key)
        raise LoginRequired()
    now = dt.datetime.now(dt.UTC)
    if now - dt.datetime.fromisoformat(session.seen_at) > TOUCH_EVERY:
        await state.store.touch_session(key, now.isoformat(timespec="microseconds"))
    viewer = Viewer(session.user, caller_of(session.user, state.config.id), session.csrf, key)
    request.state.caller = viewer.caller
    return viewer


def _alive(session: UiSession, state: ApiState) -> bool:
    now = dt.datetime.now(dt.UTC)
    idle = dt.timedelta(seconds=state.config.ui.session_idle)
    return (
        dt.datetime.fromisoformat(session.expires_at) > now
        and dt.datetime.fromisoformat(session.seen_at) + idle > now
    )


def check_csrf(given: str | None, expected: str) -> None:
    if not given or not hmac.compare_digest(given, expected):
        raise CsrfRefused()


def login_token(request: Request, response: Response) -> str:
    """The login form's double-submit token: the cookie's, or a new one (set on ``response``)."""
    token = request.cookies.get(LOGIN_COOKIE)
    if not token:
        token = secrets.token_urlsafe(24)
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, secure=True, samesite="strict",
            path="/ui", max_age=3600,
        )  # fmt: skip
    return token


def is_secure(request: Request) -> bool:
    """Whether the browser will keep a ``Secure`` cookie: HTTPS (or a TLS proxy in front that
    says so), or a page on localhost. Elsewhere the login page says why logging in cannot
    work: sessions never travel in clear."""
    return request.url.scheme == "https" or (request.url.hostname or "") in (
        "localhost",
        "127.0.0.1",
        "::1",
    )
