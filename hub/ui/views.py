"""Rendering a page: the Jinja2 environment, the words of the viewer's language, the headers
every page carries (a strict Content-Security-Policy: own scripts and styles only)."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from hub.api.state import ApiState
from hub.ui.i18n import COOKIE, Formats, pick_language, translations
from hub.ui.session import Viewer
from hub.ui.words import Words

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("hub.ui", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def language(request: Request) -> str:
    state: ApiState = request.app.state.api
    return pick_language(
        request.cookies.get(COOKIE),
        request.headers.get("accept-language"),
        state.config.ui.language,
    )


def words_for(request: Request) -> Words:
    state: ApiState = request.app.state.api
    lang = language(request)
    formats = Formats(lang, state.hub.policy.timezone)
    return Words(translations(lang), formats, state.config.names)


def page(
    request: Request,
    template: str,
    viewer: Viewer | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page in the viewer's language."""
    state: ApiState = request.app.state.api
    lang = language(request)
    t = translations(lang)
    words = words_for(request)
    html = (
        environment()
        .get_template(template)
        .render(
            _=t.gettext,
            ngettext=t.ngettext,
            f=words.f,
            words=words,
            lang=lang,
            viewer=viewer,
            hub_id=state.config.id,
            here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            refresh=state.config.ui.refresh,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
