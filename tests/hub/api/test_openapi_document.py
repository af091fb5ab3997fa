"""docs/openapi.json is what the code generates (and a running hub serves), and it says what
the API really sends: every error as problem+json, every operation behind the token scheme."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from hub.api.openapi import document, to_json
from tests.hub.api.support import Api

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_docs_openapi_json_is_current() -> None:
    on_disk = (DOCS / "openapi.json").read_text(encoding="utf-8")
    assert on_disk == to_json(document()), (
        "docs/openapi.json is stale: python -m hub.api.openapi > docs/openapi.json"
    )


def test_every_error_is_problem_json_and_every_operation_needs_a_caller() -> None:
    spec = document()
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security") == [{"token": []}], f"{method} {path}"
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (
                        f"{method} {path} {status}"
                    )
            assert {"401", "500"} <= set(operation["responses"]), f"{method} {path}"


async def test_a_running_hub_serves_the_same_document(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as http:
        served = (await http.get("/openapi.json")).json()
        assert served == json.loads(to_json(document()))
        page = await http.get("/docs")
        assert page.status_code == 200 and "swagger" in page.text.lower()
