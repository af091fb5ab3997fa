"""``hub tokens``: bearer tokens for the HTTP API — create (shown once), list, revoke."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

import click

from hub.cli.support import Rejected, config_option, deployment_config

ROLES = ("participant", "manager", "admin", "auditor")


@click.group()
def tokens() -> None:
    """API tokens: create (shown once), list, revoke."""


@tokens.command("create")
@click.argument("participant")
@click.option("--role", type=click.Choice(ROLES), default="participant", show_default=True)
@click.option("--department", help="a manager's department (default: PARTICIPANT)")
@click.option("--label", default="", help="what the token is for (shown by list)")
@click.option("--reason", default="", help="why, for the audit log")
@config_option
def create(
    participant: str, role: str, department: str | None, label: str, reason: str,
    config_path: str,
) -> None:  # fmt: skip
    """A new token for PARTICIPANT; the token is printed once, alone on the last line."""
    from hub.errors import HubError
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator
    from hub.ops.tokens import Role, api_key, create_token

    config = deployment_config(config_path)
    who = operator()

    async def run() -> tuple[Any, str]:
        async with opened_store(config) as store:
            record, token = await create_token(
                store, api_key(config), participant, Role(role), department, label, who
            )
            detail = json.dumps({"role": role, "department": record.department})
            await store.audit(who, "cli", "token.create", record.id, reason, detail)
            return record, token

    try:
        record, token = asyncio.run(run())
    except HubError as exc:
        raise Rejected(exc.problems) from None
    click.echo(
        f"token {record.id} for {record.participant} ({record.role}"
        + (f", department {record.department}" if record.department else "")
        + "); keep it: it is not shown again",
        err=True,
    )
    click.echo(token)


@tokens.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
def list_tokens(config_path: str, as_json: bool) -> None:
    """Every token: id, participant, role, department, created, revoked (never the token)."""
    from hub.ops.connection import opened_store

    config = deployment_config(config_path)

    async def run() -> list[Any]:
        async with opened_store(config) as store:
            return await store.tokens()

    records = asyncio.run(run())
    if as_json:
        rows = [{k: v for k, v in asdict(r).items() if k != "hash"} for r in records]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in records:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "live"
        click.echo(
            f"{r.id}  {r.participant:<16} {r.role:<11} {r.department or '-':<16} "
            f"{r.created_at}  {state}  {r.label}"
        )


@tokens.command("revoke")
@click.argument("token_id")
@click.option("--reason", default="", help="why, for the audit log")
@config_option
def revoke(token_id: str, reason: str, config_path: str) -> None:
    """Revoke a token for good (requests with it get 401 from then on)."""
    from hub.ops.connection import opened_store
    from hub.ops.dead_letters import operator

    config = deployment_config(config_path)

    async def run() -> bool:
        async with opened_store(config) as store:
            done = await store.revoke_token(token_id)
            if done:
                await store.audit(operator(), "cli", "token.revoke", token_id, reason, "{}")
            return done

    if not asyncio.run(run()):
        raise Rejected([f"no live token {token_id}"])
    click.echo(f"{token_id} revoked")
