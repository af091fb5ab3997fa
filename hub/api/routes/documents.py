"""Execution control over HTTP: a document's state, a journal number for it, the summary."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from envelopes.codec import to_bytes
from hub.abc import Stage
from hub.api.auth import Caller, authenticate, require
from hub.api.models import Allocated, Document, Execution, NoticeDraft, NoticeRequestIn
from hub.api.problems import Problem
from hub.api.routes.messages import ERRORS
from hub.api.state import ApiState, api_state
from hub.execution.notices import notice_element
from hub.execution.report import FORMATS, render
from hub.execution.rules import NoticeRefused
from hub.ops.documents import NoticeRequest, build_notice
from hub.ops.reports import execution_summary
from hub.ops.tokens import Role
from hub.ops.trace import execution_of

router = APIRouter()
Auth = Annotated[Caller, Depends(authenticate)]
State = Annotated[ApiState, Depends(api_state)]
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "table": "text/plain; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


async def _readable(state: ApiState, caller: Caller, message_id: str) -> None:
    row = await state.store.get_message(message_id)
    if row is None or not caller.may_read(row):
        raise Problem(
            404, "not_found", f"no document {message_id} that {caller.participant} may read"
        )


@router.get("/v1/documents/{message_id}", response_model=Document, responses=ERRORS)
async def get_document(message_id: str, caller: Auth, state: State) -> Document:
    """Where a document's execution stands (its card, registration, resolution, deadline,
    changes), for its sender's and its recipient's side."""
    await _readable(state, caller, message_id)
    record = await state.store.document(message_id)
    if record is None:
        raise Problem(404, "not_found", f"{message_id} is a message, not a document on record")
    execution = execution_of(record, state.hub.policy.today())
    assert execution is not None
    return Document(
        message_id=message_id,
        sender=record.state.sender,
        recipient=record.state.recipient,
        received_at=record.received_at,
        execution=Execution.model_validate(execution),
    )


@router.post(
    "/v1/documents/{message_id}/registration-number",
    response_model=Allocated,
    responses={**ERRORS, 409: ERRORS[403]},
)
async def allocate_number(
    message_id: str,
    caller: Auth,
    state: State,
    journal: Annotated[str | None, Query(description="default: the department's")] = None,
) -> Allocated:
    """The next number of the caller's journal for a document it received (the same number if
    asked again): sign the ``registered`` notice with it."""
    require(caller, Role.PARTICIPANT)
    await _readable(state, caller, message_id)
    try:
        got = await state.store.allocate_registration_number(
            message_id, caller.participant, journal
        )
    except NoticeRefused as refused:
        status = 404 if refused.code == "unknown_document" else 409
        raise Problem(status, refused.code, refused.reason) from None
    return Allocated(
        number=got.number, date=got.registered_on.isoformat(), journal=got.journal, state=got.state
    )


@router.get(
    "/v1/reports/execution",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {m: {} for m in MEDIA.values()}}},
)
async def execution_report(
    caller: Auth,
    state: State,
    fmt: Annotated[str, Query(alias="format", pattern="^(table|csv|json|xlsx)$")] = "json",
    department: str | None = None,
    period_from: Annotated[dt.date | None, Query(alias="from")] = None,
    period_to: Annotated[dt.date | None, Query(alias="to")] = None,
    lang: Annotated[str, Query(pattern="^(ru|en)$")] = "ru",
) -> Response:
    """The execution summary («сводка об исполнении»), as ``hub report execution`` makes it:
    a manager (or a participant) sees its own department; auditors and admins any."""
    assert fmt in FORMATS
    if department is None and caller.parties:
        department = caller.parties[0]
    if department is not None and not caller.may_read_department(department):
        raise Problem(403, "forbidden", f"{caller.participant} may not read {department}'s summary")
    if period_from and period_to and period_from > period_to:
        raise Problem(422, "invalid_request", "from is after to")
    policy = state.hub.policy
    summary = await execution_summary(
        state.store, policy, department, period_from, period_to, state.config.names
    )
    body = render(summary, fmt, lang, policy.timezone)
    return Response(body, media_type=MEDIA[fmt])


REQUIRED = {
    "executor_assigned": ("executor",),
    "deadline_changed": ("deadline", "text"),
    "in_progress": ("text",),
    "report_prepared": ("text",),
}


@router.post(
    "/v1/documents/{message_id}/notices/draft",
    response_model=NoticeDraft,
    responses={**ERRORS, 409: ERRORS[403]},
)
async def draft_notice(
    message_id: str, body: NoticeRequestIn, caller: Auth, state: State
) -> NoticeDraft:
    """The execution notice the caller's department would send about a document it received,
    completed as ``hub doc`` completes it (a number from the journal — allocated now, for this
    document alone —, a deadline from the urgency, moved off a non-working day). The caller
    signs it in an envelope and submits it (``POST /v1/envelopes``): the hub never signs for
    a department."""
    require(caller, Role.PARTICIPANT)
    missing = [name for name in REQUIRED.get(body.stage, ()) if not getattr(body, name)]
    if missing:
        raise Problem(422, "invalid_request", f"{body.stage} needs {', '.join(missing)}")
    if body.deadline is not None and body.urgency is not None:
        raise Problem(422, "invalid_request", "give deadline or urgency, not both")
    await _readable(state, caller, message_id)
    request = NoticeRequest(
        Stage(body.stage),
        person=body.person,
        post=body.post,
        number=body.number,
        date=body.date,
        journal=body.journal,
        reason=body.reason,
        text=body.text,
        executor=body.executor,
        co_executors=list(body.co_executors),
        deadline=body.deadline,
        urgency=body.urgency,
        parent=body.parent,
        assignment=body.assignment,
        answer=body.answer,
    )
    try:
        prepared = await build_notice(
            state.store, state.hub.policy, caller.participant, message_id, request
        )
    except NoticeRefused as refused:
        status = 404 if refused.code == "unknown_document" else 409
        raise Problem(status, refused.code, refused.reason) from None
    return NoticeDraft(
        document=message_id,
        recipient=prepared.recipient,
        payload=to_bytes(notice_element(prepared.notice)).decode("utf-8"),
        notes=prepared.notes,
    )
