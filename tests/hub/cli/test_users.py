"""``hub users``: passwords from standard input only, argon2 hashes, clear refusals, every
change on the audit log; a disabled user cannot log in."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.ops.connection import opened_store
from hub.ops.users import LoginRefused, log_in
from tests.hub.harness import make_deployment


def test_create_list_password_disable(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "deploy")
    config = str(deployment.config_path)
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["users", "create", "petrov", "--role", "manager", "--department", "dept.culture",
         "--display-name", "Петров П.П.", "--password-stdin", "--reason", "приказ № 7",
         "--config", config],
        input="верный пароль 1\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert "petrov (manager, department dept.culture) created" in made.stdout

    refused = [
        (["users", "create", "petrov", "--role", "admin"], "pass-word-long", "exists already"),
        (["users", "create", "ivanov", "--role", "manager"], "pass-word-long", "--department"),
        (["users", "create", "ivanov", "--role", "admin"], "short", "too short"),
        (["users", "create", "и в", "--role", "admin"], "pass-word-long", "a user name is"),
    ]
    for args, secret, why in refused:
        done = runner.invoke(main, [*args, "--password-stdin", "--config", config], input=secret)
        assert done.exit_code == 1 and why in done.stderr, (args, done.stderr)

    listed = json.loads(runner.invoke(main, ["users", "list", "--json", "--config", config]).stdout)
    assert [(u["name"], u["role"], u["department"]) for u in listed] == [
        ("petrov", "manager", "dept.culture")
    ]
    assert "hash" not in listed[0] and listed[0]["display_name"] == "Петров П.П."

    changed = runner.invoke(
        main, ["users", "password", "petrov", "--password-stdin", "--config", config],
        input="новый пароль 22\n",
    )  # fmt: skip
    assert changed.exit_code == 0, changed.stderr
    gone = runner.invoke(
        main, ["users", "disable", "petrov", "--reason", "уволен", "--config", config]
    )
    assert gone.exit_code == 0, gone.stderr
    again = runner.invoke(main, ["users", "disable", "petrov", "--config", config])
    assert again.exit_code == 1 and "no enabled user petrov" in again.stderr

    async def check() -> None:
        async with opened_store(deployment.config) as store:
            user = await store.user("petrov")
            assert user is not None and user.hash.startswith("$argon2id$")
            assert "пароль" not in user.hash
            with pytest.raises(LoginRefused):  # disabled: not even the right password
                await log_in(store, "petrov", "новый пароль 22", 5, dt.timedelta(minutes=1))
            actions = [(e.action, e.target, e.reason) for e in await store.audit_log()]
            assert ("user.create", "petrov", "приказ № 7") in actions
            assert ("user.password", "petrov", "") in actions
            assert ("user.disable", "petrov", "уволен") in actions

    asyncio.run(check())


def test_a_password_is_never_an_argument(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "deploy")
    done = CliRunner().invoke(
        main, ["users", "create", "x", "--role", "admin", "--password", "secret-secret",
               "--config", str(deployment.config_path)],
    )  # fmt: skip
    assert done.exit_code == 2 and "No such option" in done.stderr
    # without --password-stdin and without a terminal: told how, nothing made
    done = CliRunner().invoke(
        main, ["users", "create", "x", "--role", "admin", "--config", str(deployment.config_path)],
        input="secret-secret\n",
    )  # fmt: skip
    assert done.exit_code == 2 and "--password-stdin" in done.stderr
