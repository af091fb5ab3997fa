"""Administration on the page: dead letters (replay or discard, a reason required, audited),
rules versions with what each changed, circuit breakers, participants with certificates that
expire soon, the audit log. Administrators act; auditors see. The same ``hub/ops`` functions as
the API's administration endpoints and ``hub dlq``."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.api.state import ApiState, api_state
from hub.ops.certificates import participants_of
from hub.ops.dead_letters import discard_letters, replay_letters
from hub.ops.status import breakers_of
from hub.ops.tokens import Role
from hub.ui.session import Viewer, check_csrf, viewer_of
from hub.ui.views import page

router = APIRouter(prefix="/ui/admin", include_in_schema=False)
State = Annotated[ApiState, Depends(api_state)]
Seen = Annotated[Viewer, Depends(viewer_of)]
EXPIRING_DAYS = 30  # certificates that end within a month are shown as ending soon


def _allowed(viewer: Viewer, act: bool = False) -> bool:
    role = viewer.caller.role
    return role == Role.ADMIN or (not act and role == Role.AUDITOR)


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, viewer: Seen, state: State, done: str = "") -> Response:
    if not _allowed(viewer):
        return page(request, "refused.html", viewer, status_code=403)
    letters = await state.store.dead_letters()
    versions = list(reversed(await state.store.rules_versions()))[:20]
    breakers = await breakers_of(state.store, state.hub.breakers.states())
    participants = await asyncio.to_thread(participants_of, state.config, state.hub.rules)
    expiring = [
        (p["participant"], c)
        for p in participants
        for c in p["certificates"]
        if c["days_left"] <= EXPIRING_DAYS
    ]
    audit = await state.store.audit_log(limit=50)
    return page(request, "admin.html", viewer, section="admin", letters=letters,
                versions=versions, breakers=breakers, participants=participants,
                expiring=expiring, audit=audit, done=done,
                can_act=_allowed(viewer, act=True),
                details={e.id: json.loads(e.detail or "{}") for e in audit})  # fmt: skip


@router.post("/dead-letters/{message_id}/{action}", response_class=HTMLResponse)
async def act_on_letter(
    request: Request,
    message_id: str,
    action: str,
    viewer: Seen,
    state: State,
    reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(csrf, viewer.csrf)
    if not _allowed(viewer, act=True) or action not in ("replay", "discard"):
        return page(request, "refused.html", viewer, status_code=403)
    reason = reason.strip()
    if not reason:
        letters = await state.store.dead_letters()
        return page(request, "admin_reason.html", viewer, section="admin", status_code=422,
                    message_id=message_id, action=action, letters=letters)  # fmt: skip
    who = viewer.caller.name
    if action == "replay":
        done = await replay_letters(state.store, state.transport, [message_id], None, reason, who)
    else:
        done = await discard_letters(state.store, [message_id], reason, who)
    if not done:
        return page(request, "refused.html", viewer, status_code=404, message_id=message_id)
    detail = json.dumps({"destinations": [d.destination for d in done]}, ensure_ascii=False)
    await state.store.audit(
        who, viewer.caller.role.value, f"dead_letter.{action}", message_id, reason, detail
    )
    return RedirectResponse(f"/ui/admin?done={action}#dead-letters", status_code=303)
