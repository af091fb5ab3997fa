"""The OpenAPI document of the HTTP API, generated from the code, as docs/openapi.json holds it.

    python -m hub.api.openapi > docs/openapi.json

A test keeps docs/openapi.json equal to this, so that integrators reading the repository see
what a running hub serves at ``/openapi.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from hub.api.app import build_app


def document() -> dict[str, Any]:
    spec: dict[str, Any] = build_app().openapi()
    return spec


def to_json(spec: dict[str, Any]) -> str:
    return json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def main() -> None:
    sys.stdout.write(to_json(document()))


if __name__ == "__main__":
    main()
