"""Administration: what the CLI does for an operator, over HTTP, for ``admin`` (and, reading
only, ``auditor``). Every change is put on the audit log with who, what, when and why."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from hub.api.auth import Caller, authenticate, require
from hub.api.models import (
    AuditOut,
    BreakerOut,
    Certificate,
    DeadLetterOut,
    NodeOut,
    ParticipantOut,
    Reasoned,
    ReloadResult,
    RulesVersionOut,
    TokenCreated,
    TokenOut,
    TokenRequest,
)
from hub.api.problems import Problem
from hub.api.routes.messages import ERRORS, read_body
from hub.api.state import ApiState, api_state
from hub.errors import HubError
from hub.nodes import alive_within
from hub.ops.certificates import participants_of
from hub.ops.dead_letters import discard_letters, replay_letters
from hub.ops.rules import check_json, explain
from hub.ops.status import breakers_of, nodes_of, status_of
from hub.ops.tokens import Role, create_token
from hub.records import ApiToken, DeadLetter
from hub.routing import RulesError, check_rules, load_rules

router = APIRouter(prefix="/v1/admin")
Auth = Annotated[Caller, Depends(authenticate)]
State = Annotated[ApiState, Depends(api_state)]
READERS = (Role.ADMIN, Role.AUDITOR)


async def _audit(
    state: ApiState, caller: Caller, action: str, target: str, reason: str, **detail: Any
) -> None:
    await state.store.audit(
        caller.name,
        caller.role.value,
        action,
        target,
        reason,
        json.dumps(detail, ensure_ascii=False),
    )


# ------------------------------------------------------------------------------ status
@router.get("/status", responses=ERRORS)
async def status(caller: Auth, state: State) -> dict[str, Any]:
    """Messages by state, queues, dead letters, circuit breakers, rules version."""
    require(caller, *READERS)
    return await status_of(state.config, state.store, state.transport)


@router.get("/nodes", response_model=list[NodeOut], responses=ERRORS)
async def nodes(caller: Auth, state: State) -> list[NodeOut]:
    """The hub nodes alive on the store (seen within three heartbeats), each with where it
    serves, the rules it has in force and the jobs it does for all."""
    require(caller, *READERS)
    return [NodeOut(**n) for n in await nodes_of(state.store)]


@router.get("/breakers", response_model=list[BreakerOut], responses=ERRORS)
async def breakers(caller: Auth, state: State) -> list[BreakerOut]:
    """Every destination's circuit breaker as the running hub holds it now."""
    require(caller, *READERS)
    live = state.hub.breakers.states()
    return [BreakerOut(**b) for b in await breakers_of(state.store, live)]


# ------------------------------------------------------------------------------ routing rules
@router.get("/routes/check", responses=ERRORS)
async def routes_check(caller: Auth, state: State) -> dict[str, Any]:
    """Check the rules folder as it is on disk now (errors with file and line, warnings)."""
    require(caller, *READERS)
    folder = state.config.path(state.config.paths.routing_rules)
    report = await asyncio.to_thread(check_rules, folder, set(state.config.adapters))
    return check_json(report)


@router.post(
    "/routes/explain",
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
)
async def routes_explain(request: Request, caller: Auth, state: State) -> dict[str, Any]:
    """How the rules in force would route an envelope (the body), without sending it."""
    require(caller, *READERS)
    body = await read_body(request, state.max_body(caller.participant))
    rules = state.hub.rules
    folder = str(state.config.path(state.config.paths.routing_rules))
    try:
        data, _ = await asyncio.to_thread(explain, state.config, body, rules, folder)
    except HubError as exc:
        raise Problem(422, "invalid_request", exc.problems[0], exc.problems) from None
    except Exception as exc:  # EnvelopeError: the body is not an envelope we can read
        problems = list(getattr(exc, "problems", [str(exc)]))
        code = str(getattr(exc, "code", "malformed"))
        raise Problem(422, code, problems[0], problems) from None
    return data


@router.post("/routes/reload", response_model=ReloadResult, responses=ERRORS)
async def routes_reload(body: Reasoned, caller: Auth, state: State) -> ReloadResult:
    """Reload the rules now: applied if valid, refused (the rules in force stay) if not; the
    other nodes alive on the store are asked to reload too."""
    require(caller, Role.ADMIN)
    hub = state.hub
    previous = hub.rules.version
    applied = await hub.reload_rules()
    others: list[str] = []
    if applied:
        asked = await state.store.request_reload(uuid.uuid4().hex, alive_within())
        others = [node for node in asked if node != hub.node]
    problems: list[str] = []
    if not applied:
        folder = state.config.path(state.config.paths.routing_rules)
        try:
            await asyncio.to_thread(load_rules, folder)
            problems = ["refused (see the hub's log)"]
        except RulesError as exc:
            problems = exc.problems
    result = (
        "refused" if not applied else ("applied" if hub.rules.version != previous else "unchanged")
    )
    await _audit(state, caller, "rules.reload", hub.rules.version, body.reason,
                 result=result, previous=previous, nodes=others)  # fmt: skip
    return ReloadResult(
        result=result, version=hub.rules.version, previous=previous, problems=problems,
        nodes=others,
    )  # fmt: skip


@router.get("/routes/versions", response_model=list[RulesVersionOut], responses=ERRORS)
async def routes_versions(caller: Auth, state: State) -> list[RulesVersionOut]:
    """Every rules version applied, oldest first, each with what it changed (its diff)."""
    require(caller, *READERS)
    return [
        RulesVersionOut(version=v.version, applied_at=v.applied_at, summary=v.summary)
        for v in await state.store.rules_versions()
    ]


# ------------------------------------------------------------------------------ dead letters
def _letter(d: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        message_id=d.message_id, adapter=d.adapter, address=d.address,
        destination=d.destination, error=d.error, at=d.at, headers=d.headers, size=d.size,
    )  # fmt: skip


@router.get("/dead-letters", response_model=list[DeadLetterOut], responses=ERRORS)
async def dead_letters(caller: Auth, state: State) -> list[DeadLetterOut]:
    """Messages the hub gave up delivering, oldest first."""
    require(caller, *READERS)
    return [_letter(d) for d in await state.store.dead_letters()]


@router.get("/dead-letters/{message_id}", response_model=list[DeadLetterOut], responses=ERRORS)
async def dead_letter(message_id: str, caller: Auth, state: State) -> list[DeadLetterOut]:
    """A message's dead letters (one per destination it failed for)."""
    require(caller, *READERS)
    letters = await state.store.dead_letters([message_id])
    if not letters:
        raise Problem(404, "not_found", f"no dead letter {message_id}")
    return [_letter(d) for d in letters]


@router.post(
    "/dead-letters/{message_id}/replay", response_model=list[DeadLetterOut], responses=ERRORS
)
async def replay(
    message_id: str, body: Reasoned, caller: Auth, state: State
) -> list[DeadLetterOut]:
    """Send a dead letter again (its attempts start over); on its timeline and the audit log."""
    require(caller, Role.ADMIN)
    letters = await replay_letters(
        state.store, state.transport, [message_id], None, body.reason, caller.name
    )
    if not letters:
        raise Problem(404, "not_found", f"no dead letter {message_id}")
    await _audit(state, caller, "dead_letter.replay", message_id, body.reason,
                 destinations=[d.destination for d in letters])  # fmt: skip
    return [_letter(d) for d in letters]


@router.post(
    "/dead-letters/{message_id}/discard", response_model=list[DeadLetterOut], responses=ERRORS
)
async def discard(
    message_id: str, body: Reasoned, caller: Auth, state: State
) -> list[DeadLetterOut]:
    """Give up on a dead letter for good; on its timeline and the audit log."""
    require(caller, Role.ADMIN)
    letters = await discard_letters(state.store, [message_id], body.reason, caller.name)
    if not letters:
        raise Problem(404, "not_found", f"no dead letter {message_id}")
    await _audit(state, caller, "dead_letter.discard", message_id, body.reason,
                 destinations=[d.destination for d in letters])  # fmt: skip
    return [_letter(d) for d in letters]


# ------------------------------------------------------------------------------ participants
@router.get("/participants", response_model=list[ParticipantOut], responses=ERRORS)
async def participants(caller: Auth, state: State) -> list[ParticipantOut]:
    """Departments and the participants the rules declare, with their certificates' expiry."""
    require(caller, *READERS)
    found = await asyncio.to_thread(participants_of, state.config, state.hub.rules)
    return [
        ParticipantOut(**{**p, "certificates": [Certificate(**c) for c in p["certificates"]]})
        for p in found
    ]


# ------------------------------------------------------------------------------ tokens, audit
def _token(t: ApiToken) -> TokenOut:
    return TokenOut(
        id=t.id, participant=t.participant, role=t.role, department=t.department,
        label=t.label, created_at=t.created_at, created_by=t.created_by, revoked_at=t.revoked_at,
    )  # fmt: skip


@router.get("/tokens", response_model=list[TokenOut], responses=ERRORS)
async def tokens(caller: Auth, state: State) -> list[TokenOut]:
    """Every API token (never the token itself)."""
    require(caller, *READERS)
    return [_token(t) for t in await state.store.tokens()]


@router.post("/tokens", response_model=TokenCreated, status_code=201, responses=ERRORS)
async def new_token(body: TokenRequest, caller: Auth, state: State) -> TokenCreated:
    """A new token; it is in this answer once and never again."""
    require(caller, Role.ADMIN)
    try:
        role = Role(body.role)
    except ValueError:
        raise Problem(422, "invalid_request", f"role {body.role!r}: participant, manager, "
                      "admin or auditor") from None  # fmt: skip
    try:
        record, token = await create_token(
            state.store,
            state.token_key,
            body.participant,
            role,
            body.department,
            body.label,
            caller.name,
        )
    except HubError as exc:
        raise Problem(422, "invalid_request", exc.problems[0], exc.problems) from None
    await _audit(state, caller, "token.create", record.id, body.reason,
                 participant=record.participant, role=record.role)  # fmt: skip
    return TokenCreated(**_token(record).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, responses=ERRORS)
async def revoke_token(token_id: str, caller: Auth, state: State, reason: str = "") -> Response:
    """Revoke a token for good."""
    require(caller, Role.ADMIN)
    if not await state.store.revoke_token(token_id):
        raise Problem(404, "not_found", f"no live token {token_id}")
    state.tokens.forget(token_id)
    await _audit(state, caller, "token.revoke", token_id, reason)
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditOut], responses=ERRORS)
async def audit(caller: Auth, state: State, limit: int = 200) -> list[AuditOut]:
    """Administrators' actions, newest first: who, what, when, why."""
    require(caller, *READERS)
    entries = await state.store.audit_log(limit=max(1, min(limit, 1000)))
    return [
        AuditOut(
            id=e.id,
            at=e.at,
            actor=e.actor,
            role=e.role,
            action=e.action,
            target=e.target,
            reason=e.reason,
            detail=json.loads(e.detail or "{}"),
        )
        for e in entries
    ]
