"""Which event loop `hub serve` runs on."""

from __future__ import annotations

import asyncio
import os

import pytest
from pydantic import ValidationError

from hub.config import HubConfig
from hub.service import run_loop


def loop_module(event_loop: str) -> str:
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    run_loop(main(), event_loop)
    return seen[0]


def test_uvloop_by_default_and_asyncio_on_request() -> None:
    pytest.importorskip("uvloop")
    assert loop_module(HubConfig().event_loop).startswith("uvloop")
    assert loop_module("asyncio").startswith("asyncio")


def test_an_unknown_event_loop_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="event_loop"):
        HubConfig(event_loop="tokio")  # type: ignore[arg-type]


async def test_the_async_tests_run_on_the_loop_the_hub_runs_on() -> None:
    """tests/conftest.py: uvloop unless HUB_TEST_EVENT_LOOP=asyncio."""
    module = type(asyncio.get_running_loop()).__module__
    wanted = "asyncio" if os.environ.get("HUB_TEST_EVENT_LOOP") == "asyncio" else "uvloop"
    if wanted == "uvloop":
        pytest.importorskip("uvloop")
    assert module.startswith(wanted)
