"""Retention while the hub runs, on every backend: ``hub store prune`` takes the finished
messages and leaves the held ones, and messages sent during the prune all arrive."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from click.testing import CliRunner, Result

from hub.cli import main
from tests.hub.harness import Deployment, running_hub, submit, wait_for_state
from tests.hub.pipeline.test_pipeline import take_inbox


async def cli(args: list[str]) -> Result:
    """The command, as an operator runs it beside the hub (its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, main, args)


async def test_prune_while_the_hub_runs(deployment: Deployment, tmp_path: Path) -> None:
    config = str(deployment.config_path)
    async with running_hub(deployment) as hub:
        old = [deployment.envelope("dept.finance", "dept.culture") for _ in range(6)]
        for _, body in old:
            await submit(hub, body)
        for message_id, _ in old:
            await wait_for_state(hub.store, message_id, {"delivered"})
        taken = await take_inbox(deployment, "dept.culture", tmp_path / "c1", expect=len(old))
        assert len(taken) == len(old)
        for message_id, _ in old:
            await wait_for_state(hub.store, message_id, {"acknowledged"})
        held = old[0][0]
        hold = await cli(["store", "hold", held, "--reason", "запрос суда", "--config", config])
        assert hold.exit_code == 0, hold.stderr
        unknown = await cli(["store", "hold", "nope", "--reason", "x", "--config", config])
        assert unknown.exit_code == 1 and "nope: no such message" in unknown.stderr

        # new messages on their way while the prune runs
        new = [deployment.envelope("dept.finance", "dept.culture") for _ in range(20)]
        for _, body in new:
            await submit(hub, body)
        tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
        pruned = await cli(["store", "prune", "--before", tomorrow, "--batch", "10", "--pause",
                            "0", "--reason", "проверка", "--config", config])  # fmt: skip
        assert pruned.exit_code == 0, pruned.stderr
        arrived = await take_inbox(deployment, "dept.culture", tmp_path / "c2", wait=20,
                                   expect=len(new))  # fmt: skip
        assert sorted(i.message_id for i in arrived) == sorted(m for m, _ in new)
        for message_id, _ in old[1:]:
            assert await hub.store.get_message(message_id) is None
        assert await hub.store.get_message(held) is not None
        assert "pruned in" in pruned.stdout and "kept" in pruned.stdout
        actions = [e.action for e in await hub.store.audit_log()]
        assert "store.prune" in actions and "store.hold" in actions
        holds = await cli(["store", "holds", "--json", "--config", config])
        assert '"reason": "запрос суда"' in holds.stdout
