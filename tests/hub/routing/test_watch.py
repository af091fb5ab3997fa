"""Hot reload: the file watch, reload requests, and reloads under traffic."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub.cli.routes import routes
from hub.pipeline.hub import Hub
from hub.pipeline.presence import StoreReloadRequests
from hub.queues import INBOUND_QUEUE
from hub.routing import load_rules
from hub.routing import watch as rules_watch
from hub.routing.watch import RulesWatcher
from monitoring import instrument, metrics_of

from .conftest import RULE, Deployment, write


class FakeHub:
    """What the watcher needs of a hub: reload_rules and the rules in force."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rules = load_rules(folder)
        self.calls = 0

    async def reload(self) -> bool:
        self.calls += 1
        try:
            self.rules = load_rules(self.folder)
        except Exception:
            return False
        return True


class Requests:
    """Reload requests as the store hands them to one node: pending until answered."""

    def __init__(self) -> None:
        self.pending: str | None = None
        self.answers: dict[str, dict[str, Any]] = {}

    def ask(self, request_id: str) -> str:
        self.pending = request_id
        return request_id

    async def take(self) -> str | None:
        return self.pending

    async def answer(self, request_id: str, answer: dict[str, Any]) -> None:
        self.answers[request_id] = answer
        if self.pending == request_id:
            self.pending = None


def watcher(hub: FakeHub, requests: Requests | None = None, settle: float = 0) -> RulesWatcher:
    return RulesWatcher(
        hub.folder,
        hub.reload,
        lambda: hub.rules.version,
        lambda: hub.rules.sources,
        lambda: hub.rules.source_digest,
        requests=requests,
        settle=settle,
    )


async def test_watcher_reloads_on_change_only(rules_dir: Path) -> None:
    write(rules_dir, "r.yaml", RULE % "one")
    hub = FakeHub(rules_dir)
    watch = watcher(hub)
    assert await watch.poll() is None  # the files are what the rules in force were built from
    write(rules_dir, "r.yaml", RULE % "two")
    assert await watch.poll() == "applied" and hub.rules.rules[0][1].name == "two"
    assert await watch.poll() is None and hub.calls == 1
    write(rules_dir, "r.yaml", "rules: [{name: broken}]")
    assert await watch.poll() == "refused" and hub.rules.rules[0][1].name == "two"
    assert await watch.poll() is None and hub.calls == 2  # refused once, not every second
    write(rules_dir, "r.yaml", RULE % "two")
    assert await watch.poll() is None and hub.calls == 2  # back to the rules in force
    (rules_dir / "r.yaml").unlink()
    assert await watch.poll() == "applied" and hub.rules.rules == []
    await hub.reload()  # as SIGHUP would: the watcher does not reload the same files again
    write(rules_dir, "r.yaml", RULE % "three")
    await hub.reload()
    assert await watch.poll() is None and hub.calls == 5


async def test_watcher_waits_for_writes_to_settle(rules_dir: Path) -> None:
    write(rules_dir, "r.yaml", RULE % "one")
    hub = FakeHub(rules_dir)
    watch = watcher(hub, settle=0.05)
    await watch.poll()

    async def keep_writing() -> None:
        await asyncio.sleep(0.02)
        write(rules_dir, "r.yaml", RULE % "three")

    write(rules_dir, "r.yaml", RULE % "two")
    writer = asyncio.create_task(keep_writing())
    assert await watch.poll() is None  # changed again while settling: look next time
    await writer
    assert await watch.poll() == "applied" and hub.rules.rules[0][1].name == "three"


async def test_watcher_answers_reload_requests(rules_dir: Path) -> None:
    write(rules_dir, "r.yaml", RULE % "one")
    hub = FakeHub(rules_dir)
    requests = Requests()
    watch = watcher(hub, requests)
    await watch.poll()
    request = requests.ask("first")
    assert await watch.poll() == "unchanged"
    answer = requests.answers[request]
    assert answer["id"] == request and answer["result"] == "unchanged"
    assert answer["version"] == hub.rules.version and answer["error"] is None
    assert requests.pending is None and await watch.poll() is None  # answered once
    write(rules_dir, "r.yaml", "rules: [{name: x, reject: 7}]")
    request = requests.ask("second")
    assert await watch.poll() == "refused"
    answer = requests.answers[request]
    assert answer["id"] == request and answer["result"] == "refused"
    assert "r.yaml:1: rules.0.reject: Input should be a valid string" in answer["error"]


async def test_watcher_follows_certificate_files(rules_dir: Path, tmp_path: Path) -> None:
    from envelopes.pki import new_participant

    pem = tmp_path / "finance.pem"
    write(
        rules_dir, "p.yaml", f"participants: {{dept.finance: {{certificates: [{{pem: {pem}}}]}}}}"
    )
    _, cert_path = new_participant("dept.finance", tmp_path / "pki")
    shutil.copy(cert_path, pem)
    hub = FakeHub(rules_dir)
    watch = watcher(hub)
    await watch.poll()
    first = hub.rules.version
    _, cert_path = new_participant("dept.finance", tmp_path / "pki")  # a renewed certificate
    shutil.copy(cert_path, pem)
    assert await watch.poll() == "applied" and hub.rules.version != first


# ---------------------------------------------------------------------- a running hub
def _route_file(version: int) -> str:
    """Version k: rule route-vk; even versions fan out to dept.land as well."""
    targets = "[{adapter: internal, address: '{recipient}'}"
    if version % 2 == 0:
        targets += ", {adapter: internal, address: dept.land}"
    return (
        "rules:\n"
        f"  - name: route-v{version}\n"
        "    match: {recipient: '@departments'}\n"
        f"    deliver: {targets}]\n"
    )


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(".tmp-" + path.name)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _expected_versions(deployment: Deployment, scratch: Path) -> dict[str, tuple[str, int]]:
    """Version hash → (rule name, destinations per message) for each version we will write."""
    expected: dict[str, tuple[str, int]] = {}
    shutil.copytree(deployment.rules, scratch)
    for k in (1, 2, 3, 4):
        (scratch / "default.yaml").write_text(_route_file(k), encoding="utf-8")
        expected[load_rules(scratch).version] = (f"route-v{k}", 2 if k % 2 == 0 else 1)
    return expected


@pytest.fixture
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules_watch, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(rules_watch, "SETTLE", 0.02)


async def _wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting for the hub")


async def test_hot_reload_under_traffic(
    deployment: Deployment, tmp_path: Path, fast_watch: None
) -> None:
    expected = _expected_versions(deployment, tmp_path / "scratch")
    default = deployment.rules / "default.yaml"
    _replace(default, _route_file(1))
    senders = ["dept.finance", "dept.culture"]
    bodies = [deployment.envelope(senders[i % 2], senders[(i + 1) % 2]) for i in range(160)]
    hub = Hub(deployment.config)
    instrument(hub)
    await hub.start()
    try:
        assert expected[hub.rules.version][0] == "route-v1"

        async def publish() -> None:
            for _, body in bodies:
                await hub.transport.publish(INBOUND_QUEUE, body, {"source": "test"})
                await asyncio.sleep(0.01)

        async def rewrite() -> None:
            broken = deployment.rules / "zz-broken.yaml"
            await asyncio.sleep(0.3)
            _replace(default, _route_file(2))
            await asyncio.sleep(0.3)
            broken.write_text("rules: [{name: half, deliver: [{adapter: internal", "utf-8")
            await asyncio.sleep(0.3)
            _replace(default, _route_file(3))  # still refused: the folder as a whole is invalid
            await asyncio.sleep(0.3)
            broken.unlink()
            await asyncio.sleep(0.3)
            _replace(default, _route_file(4))

        await asyncio.gather(publish(), rewrite())

        async def all_settled() -> bool:
            for message_id, _ in bodies:
                row = await hub.store.get_message(message_id)
                # routed is not settled yet: an inline delivery is marked after the publish
                if row is None or row.state in ("received", "accepted", "routed"):
                    return False
            return expected.get(hub.rules.version, ("", 0))[0] == "route-v4"

        await _wait_until(all_settled)
        applied = {r.version for r in await hub.store.rules_versions()}
        assert applied == set(expected), "every valid version applied, and only those"
        used: set[str] = set()
        for message_id, _ in bodies:
            row = await hub.store.get_message(message_id)
            assert row is not None and row.state == "delivered", (message_id, row)
            assert row.rules_version is not None and row.rules_version in applied
            rule, fan_out = expected[row.rules_version]
            used.add(rule)
            routed = [e for e in await hub.store.timeline(message_id) if e.state == "routed"]
            assert len(routed) == 1
            assert re.match(rf"rule '{rule}' \(rules {row.rules_version}\) → ", routed[0].detail)
            assert len(await hub.store.deliveries(message_id)) == fan_out
        assert len(used) >= 3, used  # the traffic really spanned reloads
        value = metrics_of(hub).registry.get_sample_value
        # two invalid states of the folder (broken file; broken file + v3), each refused once
        assert value("hub_rules_reloads_total", {"result": "refused"}) == 2
        assert value("hub_rules_reloads_total", {"result": "applied"}) == 3
    finally:
        await hub.stop()


async def test_routes_reload_command_against_a_running_hub(
    deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rules_watch, "POLL_INTERVAL", 0.05)
    hub = Hub(deployment.config)
    await hub.start()
    try:
        before = hub.rules.version

        def reload() -> tuple[int, str]:
            result = CliRunner().invoke(
                routes, ["reload", "--config", str(deployment.config_path), "--wait", "5"]
            )
            return result.exit_code, result.stdout + result.stderr

        code, out = await asyncio.to_thread(reload)
        assert code == 0 and out.strip() == f"in force: {before} (no change to apply)"
        # replace the file watch by a watcher that only answers requests
        for task in list(hub._tasks):
            if task.get_name() == "rules-watch":
                task.cancel()
        watch = RulesWatcher(
            deployment.rules,
            hub.reload_rules,
            lambda: hub.rules.version,
            requests=StoreReloadRequests(hub.store, hub.node),
            interval=0.05,
            watch_files=False,
        )
        serving = asyncio.create_task(watch.run())
        write(deployment.rules, "extra.yaml", RULE.replace("'{recipient}'", "dept.land") % "x")
        await asyncio.sleep(0.2)
        assert hub.rules.version == before  # nobody watches the files now
        code, out = await asyncio.to_thread(reload)
        serving.cancel()
        assert code == 0, out
        assert out.strip() == f"applied {hub.rules.version} (was {before})"
        assert hub.rules.version != before
    finally:
        await hub.stop()
