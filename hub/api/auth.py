"""Who is calling, and what they may do.

A caller shows a bearer token (``Authorization: Bearer hubt_…``, made by ``hub tokens
create``) or, over mTLS, a client certificate issued by ``[api] client_ca`` whose SAN names a
participant (the same ``urn:hub:participant:<id>`` the envelopes use). A token says the role; a
certificate alone is its participant's.

| role | may |
|---|---|
| participant | submit envelopes it sends itself; read its inbox, its messages, its documents |
| manager | read everything its department sent or received (no inbox, no submitting) |
| auditor | read everything; change nothing |
| admin | everything, the administration endpoints included |
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from cryptography import x509
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from envelopes.pki import participant_ids
from hub.api.problems import Problem
from hub.ops.tokens import Role, token_hash, verify_token
from hub.records import ApiToken, MessageRow
from hub.store import Store


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    participant: str
    role: Role
    department: str | None = None
    via: str = "token"  # token | certificate | session (the managers' page)
    token_id: str | None = None
    user: str | None = None  # the person logged in to the managers' page

    @property
    def name(self) -> str:
        """How the audit log and the timeline name the caller."""
        if self.user is not None:
            return f"{self.user} ({self.role.value}, {self.via})"
        return f"{self.participant} ({self.role.value}, {self.via} {self.token_id or ''})".replace(
            " )", ")"
        )

    @property
    def reads_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.AUDITOR)

    @property
    def parties(self) -> tuple[str, ...]:
        """Whose messages the caller reads (empty: everyone's)."""
        if self.reads_everything:
            return ()
        if self.role == Role.MANAGER:
            return (self.department or self.participant,)
        return (self.participant,)

    def may_read(self, row: MessageRow) -> bool:
        parties = self.parties
        return not parties or row.sender in parties or row.recipient in parties

    def may_read_department(self, department: str) -> bool:
        parties = self.parties
        return not parties or department in parties


@dataclass
class RateLimiter:
    """A token bucket per participant: ``rate`` requests a second, ``burst`` at once."""

    rate: float
    burst: int
    overrides: dict[str, tuple[float, int]] = field(default_factory=dict)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, at

    def retry_after(self, participant: str) -> float | None:
        """None if the request may go now, else the seconds to wait."""
        rate, burst = self.overrides.get(participant, (self.rate, self.burst))
        now = time.monotonic()
        tokens, at = self._buckets.get(participant, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[participant] = (tokens, now)
            return (1.0 - tokens) / rate
        self._buckets[participant] = (tokens - 1.0, now)
        return None


class TokenCache:
    """Tokens verified in the last ``ttl`` seconds, by their keyed hash: most requests cost no
    store read. A token revoked through this API stops working at once; one revoked from the
    command line (another process) within ``ttl``."""

    def __init__(self, ttl: float = 5.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._verified: dict[str, tuple[ApiToken, float]] = {}

    async def verify(self, store: Store, key: bytes, token: str) -> ApiToken | None:
        digest = token_hash(key, token)
        now = time.monotonic()
        hit = self._verified.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        record = await verify_token(store, key, token)
        if record is None:
            self._verified.pop(digest, None)
            return None
        if len(self._verified) >= self.size:
            self._verified.clear()
        self._verified[digest] = (record, now + self.ttl)
        return record

    def forget(self, token_id: str) -> None:
        """A token was revoked: stop believing it now."""
        for digest, (record, _) in list(self._verified.items()):
            if record.id == token_id:
                del self._verified[digest]


# Declares the scheme in the OpenAPI document; the header itself is read below, so that a
# malformed one gets our problem+json rather than the framework's answer.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="`hub tokens create`: `Authorization: Bearer hubt_…`. Or a client "
    "certificate (mTLS) whose SAN names the participant.",
)


async def authenticate(
    request: Request, declared: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> Caller:
    """The caller of a request, or 401 naming what was wrong."""
    state = request.app.state.api
    header = request.headers.get("authorization", "")
    caller: Caller | None = None
    shown = _certificate_participant(request)
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _unauthorized("use Authorization: Bearer <token>")
        record = await state.tokens.verify(state.store, state.token_key, credentials.strip())
        if record is None:
            _slow_down(state.limiter, request)
            raise _unauthorized("the token is unknown, revoked or malformed")
        caller = Caller(
            record.participant, Role(record.role), record.department, "token", record.id
        )
        if shown is not None and shown != caller.participant:
            raise Problem(
                403,
                "forbidden",
                f"the client certificate is {shown}'s, the token {caller.participant}'s",
            )
    elif shown is not None:
        caller = Caller(shown, Role.PARTICIPANT, None, "certificate")
    if caller is None:
        raise _unauthorized("no credentials: a bearer token or a client certificate")
    wait = state.limiter.retry_after(caller.participant)
    if wait is not None:
        raise _rate_limited(wait, f"{caller.participant} sends more than its rate")
    request.state.caller = caller
    return caller


def _slow_down(limiter: RateLimiter, request: Request) -> None:
    """Failed tokens count against the client's address: guessing is rate limited too."""
    address = request.client.host if request.client else "?"
    wait = limiter.retry_after(f"address:{address}")
    if wait is not None:
        raise _rate_limited(wait, f"too many failed attempts from {address}")


def _rate_limited(wait: float, why: str) -> Problem:
    seconds = max(1, int(wait + 0.999))
    return Problem(
        429, "rate_limited", f"{why}; retry in {seconds} s", headers={"Retry-After": str(seconds)}
    )


def _certificate_participant(request: Request) -> str | None:
    """The participant of the client certificate (verified by the TLS handshake), if any."""
    der = (request.scope.get("state") or {}).get("peer_certificate")
    if not der:
        return None
    ids = participant_ids(x509.load_der_x509_certificate(der))
    if len(ids) != 1:
        raise _unauthorized("the client certificate names no single participant")
    return ids[0]


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def require(caller: Caller, *roles: Role) -> None:
    """403 unless the caller has one of ``roles``."""
    if caller.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Problem(403, "forbidden", f"{caller.role.value} may not do this (needs {allowed})")
