"""Errors as ``application/problem+json`` (RFC 9457), each with a stable ``code``.

The codes are the rejection classes of docs/envelope.md and docs/execution.md, plus the API's
own: ``unauthorized``, ``forbidden``, ``not_found``, ``too_large``, ``rate_limited``,
``invalid_request``, ``conflict``, ``timeout``, ``unavailable`` and ``internal`` (for which the
caller gets no detail at all: the log has it, under the ``instance`` id).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("hub.api")

MEDIA_TYPE = "application/problem+json"
TITLES = {
    "unauthorized": "Authentication required",
    "forbidden": "Not allowed",
    "not_found": "Not found",
    "too_large": "Request too large",
    "rate_limited": "Too many requests",
    "invalid_request": "Invalid request",
    "conflict": "Conflict",
    "timeout": "Timed out",
    "unavailable": "Unavailable",
    "internal": "Internal error",
}
_STATUS_CODES = {
    500: "internal",
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "invalid_request",
    409: "conflict",
    413: "too_large",
    415: "invalid_request",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
    504: "timeout",
}


class ProblemModel(BaseModel):
    """An error (RFC 9457)."""

    type: str = Field(description="urn:interagency-hub:problem:<code>")
    title: str
    status: int
    code: str = Field(description="stable: a rejection class or an API error code")
    detail: str = ""
    instance: str = ""
    problems: list[str] = Field(default_factory=list, description="one line per problem")


class Problem(Exception):
    """Raised by a route: becomes a problem+json response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str = "",
        problems: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.problems = problems or ([detail] if detail else [])
        self.headers = headers or {}


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str = "",
    problems: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:interagency-hub:problem:{code}",
        "title": TITLES.get(code, "Rejected"),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": request.url.path,
        "problems": problems if problems is not None else ([detail] if detail else []),
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Every error the app can produce, as problem+json; never a stack trace."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.code, exc.detail, exc.problems, exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "invalid_request")
        detail = str(exc.detail) if exc.detail else TITLES.get(code, "")
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(request, exc.status_code, code, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
            for error in exc.errors()
        ]
        return problem_response(request, 422, "invalid_request", problems[0], problems)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("API %s %s failed (incident %s)", request.method, request.url.path, incident,
                  exc_info=exc)  # fmt: skip
        return problem_response(
            request,
            500,
            "internal",
            f"the hub could not complete the request (incident {incident})",
        )


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Every error response in the OpenAPI document as the API sends it: problem+json, the
    ProblemModel schema (FastAPI would list its own validation-error JSON and
    ``application/json``)."""
    problem = {"schema": {"$ref": "#/components/schemas/ProblemModel"}}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in ("500", "504"):  # anywhere: a fault (incident id), the time limit
                responses.setdefault(status, {"description": TITLES[_STATUS_CODES.get(
                    int(status), "internal")]})  # fmt: skip
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {MEDIA_TYPE: problem}
                    if response.get("description") in (None, "", "Validation Error"):
                        response["description"] = TITLES.get(
                            _STATUS_CODES.get(int(status), "invalid_request"), "Error"
                        )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.setdefault("ProblemModel", ProblemModel.model_json_schema(
        ref_template="#/components/schemas/{model}"))  # fmt: skip
    return spec
