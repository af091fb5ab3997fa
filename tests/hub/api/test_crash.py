"""kill -9 while envelopes come in over HTTP: nothing answered 2xx is lost, and every envelope
reaches its recipient once the client has resubmitted what got no answer. Copies in the inbox
queue are possible around the crash (at-least-once, as over AMQP); each MessageId is taken once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scenarios import kill_during_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


async def test_kill_9_during_http_submissions_loses_nothing_answered(
    broker_url: str, tmp_path: Path
) -> None:
    counts = await kill_during_http(tmp_path / "deploy", broker_url, n=600)
    assert counts.sent == 600
    assert counts.lost == 0, counts.line()
    assert counts.delivered == 600, counts.line()
    assert counts.duplicated <= 64, counts.line()  # only what was in flight at the kill
