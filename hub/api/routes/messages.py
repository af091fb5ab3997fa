"""Submitting envelopes, reading messages and their receipts, pulling the inbox, who am I."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from hub.api.auth import Caller, authenticate, require
from hub.api.leases import LeaseExpired
from hub.api.models import (
    Certificate,
    InboxItem,
    InboxPage,
    LeaseOut,
    Me,
    MessagePage,
    MessageSummary,
    Reason,
    Submitted,
    Trace,
)
from hub.api.problems import Problem, ProblemModel
from hub.api.state import ApiState, api_state
from hub.archive.entries import RECEIPT, signed_id
from hub.ops.certificates import certificates_of
from hub.ops.submit import submit
from hub.ops.tokens import Role
from hub.ops.trace import trace_of
from hub.queues import UNPARSED_PREFIX, header_facts
from hub.records import Ingested, MessageQuery, MessageRow

log = logging.getLogger("hub.api")
router = APIRouter()
Auth = Annotated[Caller, Depends(authenticate)]
State = Annotated[ApiState, Depends(api_state)]
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ProblemModel, "content": {"application/problem+json": {}}}
    for code in (400, 401, 403, 404, 413, 422, 429)
}
MAX_WAIT = 60.0


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing it (413) as soon as it is over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, "too_large", f"the body is {declared} bytes; at most {limit} allowed")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/envelopes",
    status_code=202,
    response_model=Submitted,
    responses={**ERRORS, 200: {"model": Submitted, "description": "decided within ?wait"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
    summary="Submit one signed envelope",
)
async def submit_envelope(
    request: Request,
    caller: Auth,
    state: State,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT, description="seconds to wait")] = 0,
) -> JSONResponse:
    """Submit a signed envelope (``application/xml``) whose Sender is the caller. The answer
    comes once the hub has decided it and the decision is on record (durable: what a crash
    cannot undo), with the state and the rejection reasons as the receipt says them: 202, or
    200 with ``wait``. When the hub cannot decide it at once (it is stopping, say) the
    envelope is queued: 202 with state ``queued``, or with ``wait`` the decision as soon as it
    is made within that many seconds."""
    require(caller, Role.PARTICIPANT)
    body = await read_body(request, state.max_body(caller.participant))
    if not body.strip():
        raise Problem(422, "invalid_request", "the body is empty: send one signed envelope")
    facts = header_facts(body)
    message_id, sender, _ = facts
    if sender not in ("-", caller.participant):
        log.warning("%s tried to submit an envelope from %s", caller.name, sender)
        await state.store.audit(
            caller.name, caller.role.value, "envelope.forbidden", message_id,
            f"Sender is {sender}", json.dumps({"sender": sender}),
        )  # fmt: skip
        raise Problem(
            403,
            "forbidden",
            f"{caller.participant} may submit only envelopes it sends (Sender is {sender})",
        )
    submission = str(uuid.uuid4())
    headers = {"message-id": message_id, "submission-id": submission, "source": "api",
               "sender": sender}  # fmt: skip
    # the caller is authenticated: what the broker's user_id check vouches for over AMQP
    properties = {"user_id": caller.participant}
    if not message_id.startswith(UNPARSED_PREFIX):
        properties["message_id"] = message_id
    outcome = await state.hub.ingest_here(body, headers, properties)
    if outcome is not None:  # decided here and on record
        out = await _decided(state, outcome, current=bool(wait))
        return JSONResponse(out.model_dump(), status_code=200 if wait else 202)
    # not decided here (the hub is stopping, or its batch failed): queued, retried from there
    if wait:
        state.decisions.expect(submission)
    try:
        await submit(state.transport, body, "api", submission, facts)
    except BaseException:
        state.decisions.forget(submission)
        raise
    result = await state.decisions.wait(state.store, submission, wait) if wait else None
    if result is None:
        out = Submitted(
            message_id=message_id, state="queued", links={"self": f"/v1/messages/{message_id}"}
        )
        return JSONResponse(out.model_dump(), status_code=202)
    reasons: list[Reason] = []
    if result.state == "rejected":
        row = await state.store.get_message(result.message_id)
        code = (row.reason or "").split(":", 1)[0] if row and row.reason else "rejected"
        if result.reason and result.reason.startswith("conflict"):
            code = "conflict"
        reasons = [Reason(code=code, text=text) for text in (result.reason or "").split("; ")]
    out = Submitted(
        message_id=result.message_id,
        state=result.state,
        reasons=reasons,
        links={"self": f"/v1/messages/{result.message_id}"},
    )
    return JSONResponse(out.model_dump(), status_code=200 if wait else 202)


async def _decided(state: ApiState, outcome: Ingested, current: bool) -> Submitted:
    """What became of a submission decided here: its decision (with ``current``: the state it
    has reached since, delivered say), or for one the hub had already (the same envelope
    again), where that message stands now."""
    p = outcome.processed
    links = {"self": f"/v1/messages/{p.message_id}"}
    if outcome.status == "conflict":
        why = f"conflict: MessageId {p.message_id} was already submitted with other content"
        return Submitted(
            message_id=p.message_id,
            state="rejected",
            reasons=[Reason(code="conflict", text=why)],
            links=links,
        )
    if outcome.status == "new" and p.state != "accepted":
        reasons = [Reason(code=p.code or str(p.state), text=text) for text in p.reasons]
        return Submitted(message_id=p.message_id, state=p.state, reasons=reasons, links=links)
    if outcome.status == "new" and not current:
        return Submitted(message_id=p.message_id, state=p.state, links=links)
    row = await state.store.get_message(p.message_id)  # delivered at once, or as it stands
    now = row.state if row is not None else p.state
    reasons = []
    if row is not None and row.reason and now in ("rejected", "expired", "failed"):
        code, _, text = row.reason.partition(": ")
        reasons = [Reason(code=code, text=text or code)]
    return Submitted(message_id=p.message_id, state=now, reasons=reasons, links=links)


async def readable(state: ApiState, caller: Caller, message_id: str) -> MessageRow:
    row = await state.store.get_message(message_id)
    if row is None or not caller.may_read(row):
        raise Problem(
            404, "not_found", f"no message {message_id} that {caller.participant} may read"
        )
    return row


@router.get("/v1/messages/{message_id}", response_model=Trace, responses=ERRORS)
async def get_message(message_id: str, caller: Auth, state: State) -> Trace:
    """A message's way through the hub: the same JSON as ``hub trace ID --json``."""
    await readable(state, caller, message_id)
    data = await trace_of(state.store, message_id, state.hub.policy.today())
    if data is None:  # pragma: no cover - it was there a moment ago
        raise Problem(404, "not_found", f"no message {message_id}")
    return Trace.model_validate(data)


@router.get(
    "/v1/messages/{message_id}/receipt",
    responses={**ERRORS, 200: {"content": {"application/xml": {}}}},
    response_class=Response,
)
async def get_receipt(message_id: str, caller: Auth, state: State) -> Response:
    """A signed receipt saying where the caller's message stands now (the sender's own)."""
    row = await readable(state, caller, message_id)
    if not caller.reads_everything and row.sender != caller.participant:
        raise Problem(403, "forbidden", "receipts go to a message's sender")
    pool = state.hub.pool
    receipt_state = {"routed": "accepted", "delivering": "accepted", "retry_scheduled": "accepted",
                     "acknowledged": "delivered", "answered": "delivered",
                     "dead_lettered": "failed"}.get(row.state, row.state)  # fmt: skip
    reasons = [(receipt_state, row.reason)] if row.reason else []
    body = (
        await pool.sign_receipt(
            row.sender or "", message_id, receipt_state, row.digest, [], reasons
        )
        if pool is not None and row.sender
        else None
    )
    if body is None:
        raise Problem(404, "not_found", f"{row.sender} has no inbox here: no receipt for it")
    await state.store.archive_emitted(
        RECEIPT, signed_id(body), message_id, row.sender or "", receipt_state, body
    )  # on the archive's record, as every receipt the hub signs and hands out
    return Response(body, media_type="application/xml")


def _cursor(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    try:
        received_at, _, message_id = (
            base64.urlsafe_b64decode(value.encode()).decode().partition("|")
        )
    except (ValueError, UnicodeDecodeError):
        raise Problem(422, "invalid_request", "cursor: not a cursor this API gave") from None
    if not message_id:
        raise Problem(422, "invalid_request", "cursor: not a cursor this API gave")
    return received_at, message_id


def _date(value: dt.date | None, zone: dt.tzinfo, end: bool = False) -> str | None:
    """The first (or last) moment of a day in the hub's time zone, as the store writes times."""
    if value is None:
        return None
    moment = dt.datetime.combine(value, dt.time.max if end else dt.time.min, zone)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


@router.get("/v1/messages", response_model=MessagePage, responses=ERRORS)
async def search_messages(
    caller: Auth,
    state: State,
    message_state: Annotated[str | None, Query(alias="state")] = None,
    counterpart: Annotated[str | None, Query(description="the other party")] = None,
    message_type: Annotated[str | None, Query(alias="type")] = None,
    kind: str | None = None,
    received_from: Annotated[dt.date | None, Query(alias="from")] = None,
    received_to: Annotated[dt.date | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> MessagePage:
    """The caller's messages (sent or received; a manager: its department's; an auditor or
    admin: all), newest first, by state, counterpart, type, kind and date (``from``/``to``,
    days in the hub's time zone, both included); ``next`` pages on."""
    zone = state.hub.policy.timezone
    rows = await state.store.search_messages(
        MessageQuery(
            parties=caller.parties,
            state=message_state,
            counterpart=counterpart,
            message_type=message_type,
            kind=kind,
            received_from=_date(received_from, zone),
            received_to=_date(received_to, zone, end=True),
            after=_cursor(cursor),
            limit=limit,
        )
    )
    items = [
        MessageSummary(
            message_id=r.message_id,
            state=r.state,
            sender=r.sender,
            recipient=r.recipient,
            message_type=r.message_type,
            kind=r.kind,
            correlation_id=r.correlation_id,
            received_at=r.received_at,
            updated_at=r.updated_at,
            reason=r.reason,
        )
        for r in rows
    ]
    last = rows[-1] if len(rows) == limit else None
    following = (
        base64.urlsafe_b64encode(f"{last.received_at}|{last.message_id}".encode()).decode()
        if last
        else None
    )
    return MessagePage(items=items, next=following)


@router.get("/v1/inbox", response_model=InboxPage, responses=ERRORS)
async def take_inbox(
    caller: Auth,
    state: State,
    max_items: Annotated[int, Query(alias="max", ge=1, le=100)] = 10,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0,
) -> InboxPage:
    """Take up to ``max`` messages of the caller's inbox, each held under a lease: acknowledge
    each (``POST /v1/inbox/{message_id}/ack``) before its lease ends, or it is handed out
    again. Waits up to ``wait`` seconds for the first one."""
    require(caller, Role.PARTICIPANT)
    leases = await state.leases.take(caller.participant, max_items, wait)
    now = time.monotonic()
    return InboxPage(
        items=[
            InboxItem(
                message_id=lease.message_id,
                sender=lease.sender,
                kind=lease.kind,
                type=lease.message_type,
                lease=LeaseOut(id=lease.id, expires_in=round(max(0.0, lease.expires - now), 3)),
                envelope=lease.body.decode("utf-8", errors="replace"),
            )
            for lease in leases
        ]
    )


@router.post(
    "/v1/inbox/{message_id}/ack",
    status_code=204,
    response_class=Response,
    responses={**ERRORS, 409: ERRORS[403]},
)
async def ack_inbox(
    message_id: str,
    caller: Auth,
    state: State,
    lease: Annotated[
        str | None, Query(description="the lease id the item came with: settle only that lease")
    ] = None,
) -> Response:
    """Acknowledge a message taken from the inbox: it is settled, and ``acknowledged`` goes
    on its timeline (as ``hub inbox`` records it). With ``lease`` (recommended when several
    pullers share a participant) only that lease is settled; 409 if it has ended."""
    require(caller, Role.PARTICIPANT)
    try:
        held = await state.leases.ack(caller.participant, message_id, lease)
    except LeaseExpired:
        raise Problem(
            409,
            "conflict",
            f"the lease on {message_id} has ended: the message is handed out again",
        ) from None
    if not held:
        raise Problem(404, "not_found", f"{caller.participant} holds no lease on {message_id}")
    return Response(status_code=204)


@router.get("/v1/me", response_model=Me, responses=ERRORS)
async def me(caller: Auth, state: State) -> Me:
    """Who the caller is, and its participant's certificates (with their expiry)."""
    return Me(
        participant=caller.participant,
        role=caller.role.value,
        department=caller.department,
        via=caller.via,
        certificates=[Certificate(**c) for c in certificates_of(state.config, caller.participant)],
    )
