"""Crash and outage safety: kill -9 under load, a cut broker connection, a destination down."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scenarios import broker_cut, destination_down, kill_and_restart

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


async def test_kill_9_under_load_then_restart_delivers_everything_once(
    broker_url: str, tmp_path: Path
) -> None:
    counts = await kill_and_restart(tmp_path / "deploy", broker_url, n=2000)
    assert counts.sent == 2000
    assert counts.lost == 0, counts.line()
    assert counts.delivered == 2000, counts.line()


@pytest.mark.rabbitmq
async def test_a_cut_broker_connection_heals_by_itself_and_loses_nothing(
    broker_url: str, tmp_path: Path
) -> None:
    if not broker_url:
        pytest.skip("the embedded transport has no broker connection to cut")
    counts = await broker_cut(tmp_path / "deploy", broker_url, n=300, seconds=4)
    assert counts.lost == 0, counts.line()
    assert counts.delivered == 300


async def test_a_destination_down_for_a_while_gets_everything_once_back(
    broker_url: str, tmp_path: Path
) -> None:
    counts = await destination_down(tmp_path / "deploy", broker_url, n=60, seconds=6)
    assert counts.lost == 0, counts.line()
    assert counts.duplicated == 0, counts.line()
