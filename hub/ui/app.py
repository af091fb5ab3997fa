"""The managers' page inside the API's application: its routes, its static files, and what
happens when a page needs a login (the login form) or a form lacks its CSRF token (403)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hub.ui import admin, live, pages
from hub.ui.session import CsrfRefused, LoginRequired
from hub.ui.views import page

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Serve the page under ``/ui/`` of ``app``."""
    app.include_router(pages.router)
    app.include_router(admin.router)
    app.include_router(live.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.url.path in ("/ui/live",) or request.url.path.startswith("/ui/fragments/"):
            return Response(status_code=401)  # a script asked: it reloads the page
        from urllib.parse import quote

        return RedirectResponse(f"/ui/login?next={quote(here, safe='')}", status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        return page(request, "refused.html", None, status_code=403, csrf=True)

    @app.get("/ui", include_in_schema=False)
    async def _root() -> Response:
        return RedirectResponse("/ui/", status_code=308)
