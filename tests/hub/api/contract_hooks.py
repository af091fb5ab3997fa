"""schemathesis hooks for the contract run (``SCHEMATHESIS_HOOKS``): ``wait`` is how long a
request may block, not what it returns; capped so that the run stays short."""

from __future__ import annotations

import contextlib
from typing import Any

import schemathesis


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.query and "wait" in case.query:
        with contextlib.suppress(TypeError, ValueError):  # not a number: the API refuses it
            case.query["wait"] = min(float(case.query["wait"]), 0.2)
