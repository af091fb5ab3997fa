"""The endpoints over real HTTP: /metrics, /healthz, /readyz (ready and not ready), hub serve."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.config import load_config
from hub.scaffold import init_deployment
from hub.service import serve
from monitoring.http import bound_address, start_http
from tests.monitoring.conftest import DEPARTMENTS, Deployment, wait_for


@pytest.fixture
async def base_url(deployment: Deployment) -> AsyncIterator[str]:
    await deployment.collector.start()
    runner = await start_http(deployment.collector, "127.0.0.1", 0)
    host, port = bound_address(runner)
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples by name and labels, but for ``node``: every one must carry it (the same)."""
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    nodes = {s.labels.get("node") for s in samples}
    assert len(nodes) == 1 and None not in nodes, nodes
    return {
        (s.name, frozenset((k, v) for k, v in s.labels.items() if k != "node")): s.value
        for s in samples
    }


async def test_metrics_endpoint(deployment: Deployment, base_url: str) -> None:
    await deployment.publish(deployment.envelope())
    await wait_for(lambda: deployment.value("hub_receipts_sent_total", state="delivered") >= 1)
    status, content_type, text = await _get(base_url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    samples = _samples(text)
    assert samples[("hub_messages_received_total", frozenset({("source", "test")}))] == 1
    assert samples[("hub_ready", frozenset())] == 1
    # refreshed on demand before the scrape: the delivered envelope waits in its inbox
    assert samples[("hub_queue_depth", frozenset({("queue", "inbox.dept.culture")}))] == 1
    assert samples[("hub_messages_by_state", frozenset({("state", "delivered")}))] == 1
    assert ("hub_certificate_expiry_days", frozenset({("certificate", "pki/ca.pem")})) in samples
    assert "# TYPE hub_stage_seconds histogram" in text


async def test_healthz(base_url: str) -> None:
    status, content_type, text = await _get(base_url + "/healthz")
    assert (status, content_type) == (200, "application/json; charset=utf-8")
    assert '"ok"' in text


async def test_readyz_ready(base_url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(base_url + "/readyz") as response:
        assert response.status == 200
        data = await response.json()
    assert data == {
        "ready": True,
        "checks": {
            "transport": True,
            "store": True,
            "adapter:internal": True,
            "adapter:flaky": True,
        },
        "failing": [],
    }


async def test_readyz_names_the_failing_adapter(deployment: Deployment, base_url: str) -> None:
    deployment.flaky.reachable = False
    async with aiohttp.ClientSession() as session, session.get(base_url + "/readyz") as response:
        assert response.status == 503
        data = await response.json()
    assert data["ready"] is False
    assert data["checks"]["adapter:flaky"] is False
    assert data["checks"]["store"] is True
    assert data["failing"] == ["adapter:flaky"]
    _, _, text = await _get(base_url + "/metrics")
    samples = _samples(text)
    assert samples[("hub_ready", frozenset())] == 0
    assert samples[("hub_ready_check", frozenset({("check", "adapter:flaky")}))] == 0
    assert samples[("hub_ready_check", frozenset({("check", "transport")}))] == 1
    deployment.flaky.reachable = True
    status, _, _ = await _get(base_url + "/readyz")
    assert status == 200


async def test_readyz_names_the_store(deployment: Deployment, base_url: str) -> None:
    async def broken(*_: object) -> bool:
        raise OSError("disk gone")

    deployment.hub.store.ping = broken  # type: ignore[method-assign]
    status, _, text = await _get(base_url + "/readyz")
    assert status == 503
    assert '"failing": ["store"]' in text


async def test_hub_serve_logs_the_address_and_serves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(
        init_deployment(
            tmp_path, DEPARTMENTS, metrics_address="127.0.0.1:0", api_address="127.0.0.1:0"
        )
    )
    config.workers = 0
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="hub")
    task = asyncio.create_task(serve(config, stop))
    try:
        pattern = re.compile(r"metrics at (http://127\.0\.0\.1:\d+)/metrics")

        def logged() -> bool:
            return any(pattern.search(r.getMessage()) for r in caplog.records) or task.done()

        await wait_for(logged)
        assert not task.done()
        match = next(m for r in caplog.records if (m := pattern.search(r.getMessage())))
        url = match.group(1)
        status, _, text = await _get(url + "/readyz")
        assert status == 200, text
        status, _, text = await _get(url + "/metrics")
        assert status == 200
        samples = _samples(text)  # every sample with this node's name
        assert samples[("hub_up", frozenset({("transport", "embedded")}))] == 1
        assert samples[("hub_ready", frozenset())] == 1
        assert f'node="{config.node_name}"' in text
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
