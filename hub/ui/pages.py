"""The pages: log in and out, the overview, the documents (list, search, one document, its
attachments), the execution summary with its charts. What a page may show is what the API
would give the same caller (``Caller.parties``), through the same store queries."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.api.auth import Caller
from hub.api.state import ApiState, api_state
from hub.execution.report import Summary, groups
from hub.ops.reports import execution_summary
from hub.ops.users import LoginRefused, log_in
from hub.records import DayFigures, DocumentQuery
from hub.ui import charts
from hub.ui.document import attachment, document_view
from hub.ui.i18n import COOKIE, LANGUAGES
from hub.ui.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Viewer,
    check_csrf,
    is_secure,
    login_token,
    session_key,
    start_session,
    viewer_of,
)
from hub.ui.views import page, words_for

router = APIRouter(prefix="/ui", include_in_schema=False)
State = Annotated[ApiState, Depends(api_state)]
Seen = Annotated[Viewer, Depends(viewer_of)]
VIEWS = ("all", "on_control", "due_soon", "overdue", "executed_late", "executed", "not_registered")
PAGE = 50


def _next(target: str | None) -> str:
    """Where to go after login: a page of /ui/ only (never another site)."""
    if not target or not target.startswith("/ui/") or target.startswith("//"):
        return "/ui/"
    return target


# ------------------------------------------------------------------------------ log in / out
@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> Response:
    response = Response()
    token = login_token(request, response)
    out = page(request, "login.html", token=token, next=_next(next), error="", username="",
               secure=is_secure(request))  # fmt: skip
    for header, value in response.headers.items():
        if header == "set-cookie":
            out.headers.append(header, value)
    return out


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    state: State,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ui/",
) -> Response:
    t = words_for(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    check_csrf(csrf, expected)
    address = request.client.host if request.client else "?"
    wait = state.limiter.retry_after(f"login:{address}")
    error = ""
    if wait is not None:
        error = t._("Too many attempts from your address; try again in a minute.")
    else:
        ui = state.config.ui
        try:
            user = await log_in(
                state.store,
                username.strip(),
                password,
                ui.lockout_failures,
                dt.timedelta(minutes=ui.lockout_minutes),
            )
        except LoginRefused as refused:
            if refused.reason == "locked":
                error = t._("Too many wrong passwords: this user is locked until %(until)s.") % {
                    "until": t.f.moment(refused.until)
                }
            else:
                error = t._("Wrong user name or password.")
        else:
            response = RedirectResponse(_next(next), status_code=303)
            await start_session(state, user, response)
            return response
    out = page(request, "login.html", token=expected, next=_next(next), error=error,
               username=username, secure=is_secure(request), status_code=401)  # fmt: skip
    return out


@router.post("/logout")
async def logout(request: Request, state: State, csrf: Annotated[str, Form()] = "") -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await state.store.session(session_key(cookie))
        if session is not None:
            check_csrf(csrf, session.csrf)
            await state.store.end_session(session.id)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    return response


@router.get("/lang/{language}")
async def choose_language(language: str, next: str | None = None) -> Response:
    response = RedirectResponse(_next(next) if next != "/ui/login" else "/ui/login", 303)
    if language in LANGUAGES:
        response.set_cookie(COOKIE, language, max_age=365 * 86400, path="/ui", samesite="lax")
    return response


# ------------------------------------------------------------------------------ the overview
def _scope(caller: Caller) -> tuple[str, ...]:
    return caller.parties


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, viewer: Seen, state: State) -> Response:
    policy = state.hub.policy
    today = policy.today()
    due_until = today + dt.timedelta(days=state.config.ui.due_days)
    parties = _scope(viewer.caller)
    counts = await state.store.document_counts(parties, today, due_until)
    overdue = await state.store.search_documents(
        DocumentQuery(today=today, parties=parties, direction="incoming" if parties else "any",
                      view="overdue", limit=10)
    )  # fmt: skip
    recent = await state.store.search_documents(
        DocumentQuery(today=today, parties=parties, limit=15)
    )
    return page(request, "overview.html", viewer, section="home", counts=counts,
                overdue=overdue, recent=recent, today=today, due_until=due_until)  # fmt: skip


@router.get("/fragments/overdue", response_class=HTMLResponse)
async def overdue_fragment(request: Request, viewer: Seen, state: State) -> Response:
    """The overdue list alone (the live overview replaces its own with it)."""
    today = state.hub.policy.today()
    parties = _scope(viewer.caller)
    overdue = await state.store.search_documents(
        DocumentQuery(today=today, parties=parties, direction="incoming" if parties else "any",
                      view="overdue", limit=10)
    )  # fmt: skip
    return page(request, "_overdue.html", viewer, overdue=overdue, today=today)


# ------------------------------------------------------------------------------ documents
def _cursor(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    parts = tuple(urllib.parse.unquote(p) for p in value.split("~"))
    return parts if all(parts) else None


def _counterparts(state: ApiState, text: str) -> tuple[str, ...]:
    """The participants a search text names: by id or by the administration's name for them
    (``[names]``), any part, any case («культур» names the culture department)."""
    wanted = text.casefold()
    if len(wanted) < 3:
        return ()
    known = set(state.config.names) | set(state.config.departments)
    known |= set(state.hub.rules.participants)
    names = state.config.names
    found = (p for p in known if wanted in p.casefold() or wanted in names.get(p, "").casefold())
    return tuple(sorted(found))[:50]


@router.get("/documents", response_class=HTMLResponse)
async def documents(
    request: Request,
    viewer: Seen,
    state: State,
    q: str = "",
    view: str = "all",
    direction: str = "any",
    department: str = "",
    executor: str = "",
    after: Annotated[str | None, Query()] = None,
) -> Response:
    today = state.hub.policy.today()
    caller = viewer.caller
    parties = _scope(caller)
    if department:
        if not caller.may_read_department(department):
            return page(request, "refused.html", viewer, status_code=403)
        parties = (department,)
    view = view if view in VIEWS else "all"
    direction = direction if direction in ("any", "incoming", "outgoing") else "any"
    text = q.strip()
    search = {
        "counterparts": _counterparts(state, text),
        "today": today,
        "parties": parties,
        "direction": direction,
        "text": text or None,
        "view": view,
        "due_until": today + dt.timedelta(days=state.config.ui.due_days),
        "executor": executor or None,
        "limit": PAGE + 1,
    }
    try:
        query = DocumentQuery(**search, after=_cursor(after))  # type: ignore[arg-type]
    except ValueError:  # a cursor of another view (an edited address): from the start
        query = DocumentQuery(**search)  # type: ignore[arg-type]
    rows = await state.store.search_documents(query)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    following = None
    if more and rows:
        key = query.following(rows[-1]).after or ()
        following = "~".join(urllib.parse.quote(p, safe="") for p in key)
    params = {"q": q, "view": view, "direction": direction, "department": department,
              "executor": executor}  # fmt: skip
    return page(request, "documents.html", viewer, section="documents", rows=rows, q=q,
                view=view, direction=direction, department=department, executor=executor,
                views=VIEWS, following=following, today=today,
                params={k: v for k, v in params.items() if v})  # fmt: skip


@router.get("/documents/{message_id}", response_class=HTMLResponse)
async def document(request: Request, message_id: str, viewer: Seen, state: State) -> Response:
    row = await state.store.get_message(message_id)
    if row is None or not viewer.caller.may_read(row):
        return page(request, "refused.html", viewer, status_code=404, message_id=message_id)
    words = words_for(request)
    today = state.hub.policy.today()
    view = await document_view(state, row, words, today)
    return page(request, "document.html", viewer, section="documents", doc=view, today=today)


@router.get("/documents/{message_id}/attachments/{index}")
async def download(message_id: str, index: int, viewer: Seen, state: State) -> Response:
    row = await state.store.get_message(message_id)
    if row is None or not viewer.caller.may_read(row):
        return Response(status_code=404)
    found = await attachment(state, row, index)
    if found is None:
        return Response("the attachment is missing or its digest does not match", 404)
    name = found.ref.file_name
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
    return Response(
        found.content,
        media_type=found.ref.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{urllib.parse.quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Digest": f"sha-256={found.ref.sha256.hex()}",
        },
    )


# ------------------------------------------------------------------------------ the summary
async def _summary(state: ApiState, caller: Caller, period_from: str, period_to: str) -> Summary:
    """The summary of ``hub report execution`` (the same function) as the caller may see it:
    a manager's department's, everyone's for the others."""
    department = caller.parties[0] if caller.parties else None
    return await execution_summary(
        state.store, state.hub.policy, department, _period(period_from), _period(period_to),
        state.config.names,
    )  # fmt: skip


async def _last_30_days(state: ApiState, parties: tuple[str, ...]) -> list[DayFigures]:
    policy = state.hub.policy
    today = policy.today()
    return await state.store.daily_figures(
        parties, today - dt.timedelta(days=29), today, policy.timezone
    )


@router.get("/summary", response_class=HTMLResponse)
async def summary(
    request: Request,
    viewer: Seen,
    state: State,
    period_from: Annotated[str, Query(alias="from")] = "",
    period_to: Annotated[str, Query(alias="to")] = "",
) -> Response:
    result = await _summary(state, viewer.caller, period_from, period_to)
    figures = await _last_30_days(state, viewer.caller.parties)
    chart_text = charts.text_alternative(figures, words_for(request))
    return page(request, "summary.html", viewer, section="summary", summary=result,
                groups=groups, figures=figures, period_from=period_from,
                period_to=period_to, chart_text=chart_text)  # fmt: skip


def _period(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/summary.xlsx")
async def summary_xlsx(
    request: Request,
    viewer: Seen,
    state: State,
    period_from: Annotated[str, Query(alias="from")] = "",
    period_to: Annotated[str, Query(alias="to")] = "",
) -> Response:
    from hub.execution.report import render
    from hub.ui.views import language

    result = await _summary(state, viewer.caller, period_from, period_to)
    body = render(result, "xlsx", language(request), state.hub.policy.timezone)
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="svodka.xlsx"'},
    )


@router.get("/charts/{name}.svg")
async def chart(request: Request, name: str, viewer: Seen, state: State) -> Response:
    figures = await _last_30_days(state, viewer.caller.parties)
    words = words_for(request)
    svg = charts.render(name, figures, words)
    if svg is None:
        return Response(status_code=404)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
