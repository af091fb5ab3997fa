"""``hub tokens``: a token printed once, alone on the last line; listed without its secret;
revoked for good; every step on the audit log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.ops.connection import opened_store
from hub.ops.tokens import api_key, key_file, verify_token
from tests.hub.harness import make_deployment


def test_create_list_revoke(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "deploy")
    config = str(deployment.config_path)
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["tokens", "create", "dept.finance", "--role", "manager", "--label", "1С",
         "--reason", "приказ № 7", "--config", config],
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("hubt_") and len(made.stdout.strip().splitlines()) == 1
    assert "not shown again" in made.stderr
    assert key_file(deployment.config).stat().st_mode & 0o777 == 0o600
    token_id = token.split("_")[1]

    listed = runner.invoke(main, ["tokens", "list", "--json", "--config", config])
    (row,) = json.loads(listed.stdout)
    assert row["id"] == token_id and row["role"] == "manager" and row["label"] == "1С"
    assert row["department"] == "dept.finance"  # a manager's department, by default its own
    assert token not in listed.stdout and "hash" not in row

    async def check() -> tuple[bool, list[str]]:
        async with opened_store(deployment.config) as store:
            live = await verify_token(store, api_key(deployment.config), token) is not None
            actions = [e.action for e in await store.audit_log()]
        return live, actions

    assert asyncio.run(check())[0]
    revoked = runner.invoke(
        main, ["tokens", "revoke", token_id, "--reason", "утерян", "--config", config]
    )
    assert revoked.exit_code == 0 and f"{token_id} revoked" in revoked.stdout
    live, actions = asyncio.run(check())
    assert not live and actions == ["token.revoke", "token.create"]
    again = runner.invoke(main, ["tokens", "revoke", token_id, "--config", config])
    assert again.exit_code == 1 and "no live token" in again.stderr
    bad = runner.invoke(main, ["tokens", "create", "not a participant", "--config", config])
    assert bad.exit_code == 1 and "participant id" in bad.stderr
