"""``hub users``: who may log in to the managers' page — create, list, password, disable.

Passwords are read from standard input (``--password-stdin``), never from the command line
(where ``ps`` and the shell's history would show them); or asked for twice at a terminal.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

import click

from hub.cli.support import Rejected, config_option, deployment_config


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise click.UsageError("give the password with --password-stdin (or run at a terminal)")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@click.group()
def users() -> None:
    """The managers' page's users: create, list, password, disable."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["manager", "admin", "auditor"]))
@click.option("--department", help="a manager's department (whose documents they see)")
@click.option("--display-name", default="", help="as the page greets them: Иванова А.А.")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--reason", default="", help="why, for the audit log")
@config_option
def create(
    name: str, role: str, department: str | None, display_name: str, password_stdin: bool,
    reason: str, config_path: str,
) -> None:  # fmt: skip
    """A new user NAME who logs in at /ui/login with a password."""
    from hub.errors import HubError
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator
    from hub.ops.users import create_user

    config = deployment_config(config_path)
    password = _password(password_stdin)
    who = operator()

    async def run() -> Any:
        async with opened_store(config) as store:
            user = await create_user(
                store, name, role, password, department, display_name, created_by=who
            )
            detail = json.dumps({"role": role, "department": department}, ensure_ascii=False)
            await store.audit(who, "cli", "user.create", name, reason, detail)
            return user

    try:
        user = asyncio.run(run())
    except HubError as exc:
        raise Rejected(exc.problems) from None
    scope = f", department {user.department}" if user.department else ""
    click.echo(f"user {user.name} ({user.role}{scope}) created")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@config_option
def list_users(as_json: bool, config_path: str) -> None:
    """Every user: role, department, locked or disabled (never the password)."""
    from hub.ops.connection import opened_store

    config = deployment_config(config_path)

    async def run() -> list[Any]:
        async with opened_store(config) as store:
            return await store.users()

    records = asyncio.run(run())
    if as_json:
        rows = [{k: v for k, v in asdict(u).items() if k != "hash"} for u in records]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for u in records:
        state = (
            f"disabled {u.disabled_at}" if u.disabled_at
            else f"locked until {u.locked_until}" if u.locked_until else "active"
        )  # fmt: skip
        click.echo(
            f"{u.name:<16} {u.role:<8} {u.department or '-':<16} {state:<12} {u.display_name}"
        )


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@config_option
def password(name: str, password_stdin: bool, config_path: str) -> None:
    """A new password for NAME (unlocks it; its sessions end)."""
    from hub.errors import HubError
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator
    from hub.ops.users import set_password

    config = deployment_config(config_path)
    secret = _password(password_stdin)

    async def run() -> None:
        async with opened_store(config) as store:
            await set_password(store, name, secret)
            await store.audit(operator(), "cli", "user.password", name, "", "{}")

    try:
        asyncio.run(run())
    except HubError as exc:
        raise Rejected(exc.problems) from None
    click.echo(f"password of {name} changed")


@users.command("disable")
@click.argument("name")
@click.option("--reason", default="", help="why, for the audit log")
@config_option
def disable(name: str, reason: str, config_path: str) -> None:
    """Disable NAME for good (its sessions end at once)."""
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator

    config = deployment_config(config_path)

    async def run() -> bool:
        async with opened_store(config) as store:
            done = await store.disable_user(name)
            if done:
                await store.audit(operator(), "cli", "user.disable", name, reason, "{}")
            return done

    if not asyncio.run(run()):
        raise Rejected([f"no enabled user {name}"])
    click.echo(f"{name} disabled")
