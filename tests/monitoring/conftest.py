"""An embedded hub on a temporary deployment (``hub init``'s layout), and envelopes to send it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from lxml import etree

from adapters.internal import InternalAdapter
from envelopes.codec import new_envelope, to_bytes
from envelopes.parsing import parse_xml
from envelopes.signatures import Signer
from hub.abc import OutboundMessage, Outcome
from hub.config import HubConfig, load_config
from hub.pipeline.hub import Hub
from hub.queues import INBOUND_QUEUE
from hub.scaffold import init_deployment, shipped
from hub.testing import ScriptedAdapter
from monitoring import instrument, metrics_of
from monitoring.collector import Collector

DEPARTMENTS = ["dept.finance", "dept.culture", "dept.land"]
SENDER = "dept.finance"
RECIPIENT = "dept.culture"
MEMO_TYPE = "{urn:interagency-hub:payload:memo:1.0}Memo"


def flaky_adapter() -> ScriptedAdapter:
    """A queued (not inline) adapter: first attempt transient, then permanent failure."""

    def script(message: OutboundMessage) -> Outcome:
        if message.attempt == 1:
            return Outcome.transient("try later")
        return Outcome.permanent("refused for good")

    return ScriptedAdapter(script=script, breakers={"remote.example": 2})


class Deployment:
    def __init__(
        self, directory: Path, config: HubConfig, hub: Hub, flaky: ScriptedAdapter
    ) -> None:
        self.directory = directory
        self.config = config
        self.hub = hub
        self.flaky = flaky
        self.collector = Collector(hub, metrics_of(hub), interval=60, min_interval=0)
        self.pki = directory / "pki"
        self.memo = parse_xml((shipped("xsd") / "examples" / "memo.xml").read_bytes())

    def envelope(
        self,
        payload: etree._Element | None = None,
        *,
        expires_at: dt.datetime | None = None,
        sign_as: str = SENDER,
    ) -> bytes:
        payload = self.memo if payload is None else payload
        now = dt.datetime.now(dt.UTC)
        _, root = new_envelope(
            SENDER,
            RECIPIENT,
            payload,
            created=now - dt.timedelta(minutes=5) if expires_at else now,
            expires_at=expires_at,
        )
        key, cert = self.pki / f"{sign_as}.key.pem", self.pki / f"{sign_as}.pem"
        Signer.from_files(str(key), str(cert)).sign(root)
        return to_bytes(root)

    async def publish(self, body: bytes, source: str = "test") -> None:
        await self.hub.transport.publish(INBOUND_QUEUE, body, {"source": source})

    def value(self, name: str, **labels: str) -> float:
        """A sample's value, 0 when the series does not exist (yet)."""
        found = metrics_of(self.hub).registry.get_sample_value(name, labels)
        return 0.0 if found is None else found


async def wait_for(check: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the hub")
        await asyncio.sleep(0.02)


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    config = load_config(
        init_deployment(
            tmp_path, DEPARTMENTS, metrics_address="127.0.0.1:0", api_address="127.0.0.1:0"
        )
    )
    config.workers = 0
    config.retry.base_delay = 0.1  # the one retry in these tests comes after the 0.5 s floor
    config.retry.jitter = 0
    flaky = flaky_adapter()
    hub = Hub(config, adapters={"internal": InternalAdapter(), "flaky": flaky})
    instrument(hub)
    await hub.start()
    d = Deployment(tmp_path, config, hub, flaky)
    try:
        yield d
    finally:
        await d.collector.stop()
        await hub.stop()
