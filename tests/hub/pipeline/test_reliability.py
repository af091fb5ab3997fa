"""Retries, circuit breakers, dead letters, expiry and poison messages, on both transports."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.store import Store
from monitoring import metrics_of
from tests.hub.harness import (
    Deployment,
    FlakyAdapter,
    route_agencies_to,
    running_hub,
    submit,
    tune_retries,
    wait_for_state,
)


async def states_of(store: Store, message_id: str) -> list[str]:
    return [e.state for e in await store.timeline(message_id)]


async def cli(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_transient_failures_are_retried_with_every_attempt_on_the_timeline(
    deployment: Deployment,
) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment, threshold=100)
    flaky = FlakyAdapter()
    flaky.mode = "down"
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        message_id, body = deployment.envelope(recipient="agency.remote")
        await submit(hub, body)
        while len(flaky.attempts) < 2:
            await asyncio.sleep(0.05)
        flaky.mode = "up"
        await wait_for_state(hub.store, message_id, {"delivered"}, timeout=30)
        timeline = await hub.store.timeline(message_id)
    retries = [e for e in timeline if e.state == "retry_scheduled"]
    assert len(retries) >= 2
    assert all("connection refused by remote.example" in e.detail for e in retries)
    assert "attempt 1 failed" in retries[0].detail
    assert flaky.delivered == [message_id]


async def test_a_permanent_failure_dead_letters_at_once_and_the_sender_is_told(
    deployment: Deployment, tmp_path: Path
) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment)
    flaky = FlakyAdapter()
    flaky.mode = "refuse"
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        message_id, body = deployment.envelope(recipient="agency.remote")
        await submit(hub, body)
        await wait_for_state(hub.store, message_id, {"dead_lettered"})
        states = await states_of(hub.store, message_id)
        config = str(deployment.config_path)
        code, out, _ = await cli("dlq", "list", "--config", config)
        from hub.ops import inbox as ops_inbox

        receipts = await ops_inbox.inbox(deployment.config, "dept.finance", tmp_path / "r", None, 2)
    assert len(flaky.attempts) == 1
    assert "failed" in states and states[-1] == "dead_lettered"
    assert code == 0 and message_id in out and "550 no such mailbox" in out
    assert [r.kind for r in receipts].count("receipt") == 2  # accepted, then failed
    failed = [r for r in receipts if b"<r:State>failed</r:State>" in r.path.read_bytes()]
    assert len(failed) == 1 and b"550 no such mailbox" in failed[0].path.read_bytes()


async def test_retries_run_out_then_replay_from_the_dead_letters_delivers(
    deployment: Deployment,
) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment, max_attempts=2, threshold=100)
    flaky = FlakyAdapter()
    flaky.mode = "down"
    config = str(deployment.config_path)
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        message_id, body = deployment.envelope(recipient="agency.remote")
        await submit(hub, body)
        await wait_for_state(hub.store, message_id, {"dead_lettered"}, timeout=30)
        code, out, _ = await cli("dlq", "show", message_id, "--config", config)
        assert code == 0 and "gave up after 2 attempts" in out
        flaky.mode = "up"
        code, out, _ = await cli(
            "dlq", "replay", message_id, "--reason", "remote is back", "--config", config
        )
        assert code == 0 and f"{message_id} replayed to flaky:remote.example" in out
        await wait_for_state(hub.store, message_id, {"delivered"}, timeout=30)
        timeline = await hub.store.timeline(message_id)
        code, out, _ = await cli("dlq", "list", "--config", config)
    replayed = [e for e in timeline if e.state == "replayed"]
    assert len(replayed) == 1 and "remote is back" in replayed[0].detail
    assert "@" in replayed[0].detail  # who
    assert message_id not in out


async def test_discard_is_recorded_with_who_and_why(deployment: Deployment) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment)
    flaky = FlakyAdapter()
    flaky.mode = "refuse"
    config = str(deployment.config_path)
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        message_id, body = deployment.envelope(recipient="agency.remote")
        await submit(hub, body)
        await wait_for_state(hub.store, message_id, {"dead_lettered"})
        code, _, _ = await cli(
            "dlq", "discard", message_id, "--reason", "sent on paper instead", "--config", config
        )
        missing, _, err = await cli("dlq", "discard", "nope", "--reason", "x", "--config", config)
        row = await hub.store.get_message(message_id)
        timeline = await hub.store.timeline(message_id)
    assert code == 0 and missing == 1 and "no dead letter nope" in err
    assert row is not None and row.state == "discarded"
    assert "sent on paper instead" in timeline[-1].detail


async def test_an_open_breaker_stops_the_hammering_and_everything_arrives_once_back(
    deployment: Deployment,
) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment, threshold=2, probe_interval=1.0, max_attempts=50, max_delay=1.0)
    flaky = FlakyAdapter()
    flaky.mode = "down"
    config = str(deployment.config_path)
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        sent = [deployment.envelope(recipient="agency.remote") for _ in range(10)]
        for _, body in sent:
            await submit(hub, body)
        await asyncio.sleep(4)
        attempts_while_down = len(flaky.attempts)
        gauge = metrics_of(hub).registry.get_sample_value(
            "hub_circuit_breaker_state", {"adapter": "flaky", "destination": "remote.example"}
        )
        code, out, _ = await cli("status", "--config", config)
        flaky.mode = "up"
        for message_id, _ in sent:
            await wait_for_state(hub.store, message_id, {"delivered"}, timeout=40)
    # 10 messages over 4 s with retries every <= 1 s would be ~40 attempts without a breaker
    assert attempts_while_down < 15
    assert gauge in (1.0, 2.0)
    assert code == 0 and "flaky:remote.example" in out
    assert sorted(flaky.delivered) == sorted(m for m, _ in sent)


async def test_a_message_past_its_expiry_is_not_delivered_and_the_sender_is_told(
    deployment: Deployment, tmp_path: Path
) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment, threshold=100, max_attempts=50)
    flaky = FlakyAdapter()
    flaky.mode = "down"
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        message_id, body = deployment.envelope(recipient="agency.remote", expires_in=2)
        await submit(hub, body)
        await wait_for_state(hub.store, message_id, {"expired"}, timeout=30)
        flaky.mode = "up"
        await asyncio.sleep(1.5)
        from hub.ops import inbox as ops_inbox

        receipts = await ops_inbox.inbox(deployment.config, "dept.finance", tmp_path / "r", None, 1)
    assert flaky.delivered == []
    assert any(b"<r:State>expired</r:State>" in r.path.read_bytes() for r in receipts)


async def test_a_poison_message_is_dead_lettered_not_redelivered_forever(
    deployment: Deployment,
) -> None:
    route_agencies_to(deployment, "flaky", "remote.example")
    tune_retries(deployment)
    flaky = FlakyAdapter()
    flaky.mode = "crash"
    async with running_hub(deployment, {"flaky": flaky}) as hub:
        message_id, body = deployment.envelope(recipient="agency.remote")
        await submit(hub, body)
        await wait_for_state(hub.store, message_id, {"dead_lettered"}, timeout=60)
        timeline = await hub.store.timeline(message_id)
    assert 2 <= len(flaky.attempts) <= 10
    assert "poison" in timeline[-1].detail


async def test_a_batch_with_a_poison_envelope_still_delivers_the_others(
    deployment: Deployment, monkeypatch: object
) -> None:
    import hub.pipeline.processor as processor

    original = processor.Processor.process

    def process(self: processor.Processor, body: bytes, *args: object) -> processor.Processed:
        if b"POISON" in body:
            raise MemoryError("the worker blew up on this one")
        return original(self, body, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(processor.Processor, "process", process)  # type: ignore[attr-defined]
    async with running_hub(deployment) as hub:
        good = [deployment.envelope() for _ in range(5)]
        bodies = [b for _, b in good]
        bodies.insert(2, bodies[0].replace(b"<hub:Payload>", b"<hub:Payload><!--POISON-->", 1))
        for body in bodies:
            await submit(hub, body)
        for message_id, _ in good:
            await wait_for_state(hub.store, message_id, {"delivered"}, timeout=30)
        for _ in range(300):
            dead = [(d.error,) for d in await hub.store.dead_letters()]
            if dead:
                break
            await asyncio.sleep(0.1)
    assert dead and "poison" in dead[0][0]
