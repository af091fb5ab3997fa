"""``hub routes``: check, explain and reload the routing rules; export their JSON Schema.

Exit status as everywhere in ``hub``: 0 done (explain: the message would be delivered), 1
refused (one line per problem on stderr, naming file and line), 2 usage error.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from envelopes.errors import EnvelopeError
from hub.cli.support import Rejected, config_option, deployment_config
from hub.config import HubConfig, default_config_path
from hub.ops.rules import check_json
from hub.routing import (
    Decision,
    Explanation,
    RulesError,
    check_rules,
    load_rules,
    rules_json_schema,
)


class Refused(Rejected):
    """Exit 1 with one ``error: ...`` line per problem on stderr."""

    prefix = "error"


def _config(path: str) -> HubConfig:
    return deployment_config(path, Refused)


@click.group("routes", context_settings={"help_option_names": ["-h", "--help"]})
def routes() -> None:
    """Routing rules: check, explain, reload, versions, JSON Schema (docs/routing.md)."""


# ------------------------------------------------------------------------------------ check
@routes.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option(
    "--config",
    "config_path",
    help="hub.toml: its rules folder (unless DIRECTORY is given) and its adapters",
)
@click.option("--strict", is_flag=True, help="warnings fail the check too")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def check_command(
    directory: str | None, config_path: str | None, strict: bool, as_json: bool
) -> None:
    """Validate every rule file in DIRECTORY (default: the config's routing_rules).

    Errors name the file, the line and the problem; warnings point at rules that can never
    match, declared participants that no rule delivers to, and adapters hub.toml lacks.
    """
    config: HubConfig | None = None
    if config_path is not None:
        config = _config(config_path)
    elif directory is None and default_config_path().is_file():
        config = _config(str(default_config_path()))
    if directory is not None:
        folder = Path(directory)
    elif config is not None:
        folder = config.path(config.paths.routing_rules)
    else:
        folder = Path("routing_rules")
    report = check_rules(folder, set(config.adapters) if config else None)
    failed = not report.ok or (strict and bool(report.warnings))
    if as_json:
        click.echo(json.dumps(check_json(report), ensure_ascii=False, indent=2))
        if failed:
            sys.exit(1)
        return
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not report.ok:
        raise Refused(report.errors)
    assert report.rules is not None
    rules = report.rules
    rights = len(rules.access.rights) if rules.access else 0
    access = (
        f"{rights} access rights, default {rules.access.default}"
        if rules.access
        else ("no access rights (everything a rule routes is allowed)")
    )
    click.echo(
        f"OK {folder}: {len(rules.rules)} rules, {len(rules.participants)} participants, "
        f"{len(rules.groups)} groups, {access}; version {rules.version}"
        + (f"; {len(report.warnings)} warnings" if report.warnings else "")
    )
    if failed:
        sys.exit(1)


# ---------------------------------------------------------------------------------- explain
def _decision_line(decision: Decision) -> list[str]:
    if decision.rejected or not decision.destinations:
        return [f"reject ({decision.code}): {decision.rejection}"]
    lines = []
    for destination, settings in zip(
        decision.destinations,
        decision.destination_settings or [None] * len(decision.destinations),
        strict=True,
    ):
        extra = settings.as_dict() if settings is not None else {}
        shown = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items()
        )
        lines.append(f"deliver to {destination}" + (f"  [{shown}]" if shown else ""))
    return lines


def _explain_text(data: dict[str, Any], explanation: Explanation) -> str:
    h = data["header"]
    out = [
        f"envelope     {data['file']}",
        f"             {h['message_id']}  {h['sender']} → {h['recipient']}  {h['kind']}  "
        f"{h['message_type']}"
        + (f"  priority {h['priority']}" if h["priority"] is not None else "")
        + ("  TEST" if h["test"] else ""),
        f"schema       {data['schema']['detail']}",
        "signature    "
        + ("verifies: " if data["signature"]["verifies"] else "DOES NOT VERIFY: ")
        + data["signature"]["detail"],
    ]
    if data["certificate"].get("detail"):
        registered = data["certificate"].get("registered")
        mark = "NOT REGISTERED: " if registered is False else ""
        out.append(f"certificate  {mark}{data['certificate']['detail']}")
    if data.get("expired"):
        out.append(f"expiry       ExpiresAt {h['expires_at']} has passed: the hub would expire it")
    out.append(f"rules        version {data['rules_version']} from {data['rules_dir']}")
    width = max((len(s.rule) for s in explanation.steps), default=0)
    for number, step in enumerate(explanation.steps, start=1):
        out.append(
            f"  {number:>2}. {step.result:<12} {step.rule:<{width}}  priority {step.priority:<4} "
            f"{step.origin}"
        )
        out.append(f"      {'':<12} {step.detail}")
    decision = explanation.decision
    if decision.recipient:
        out.append(f"recipient    rewritten to {decision.recipient}")
    if decision.access:
        out.append(f"access       allowed: {decision.access}")
    lines = _decision_line(decision)
    out.append(f"decision     {lines[0]}")
    out.extend(f"             {line}" for line in lines[1:])
    out.append(f"outcome      {data['outcome']} (nothing was sent)")
    return "\n".join(out)


@routes.command("explain")
@click.argument("file", type=click.Path(dir_okay=False))
@config_option
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False),
    help="try another rules folder (default: the config's routing_rules)",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def explain_command(file: str, config_path: str, rules_dir: str | None, as_json: bool) -> None:
    """Show how the hub would route envelope FILE, without sending anything.

    Lists every rule in the order tried, whether it matched (and why not), the access right
    that allowed it and the decision. Exit 0 if the hub would deliver it, 1 if not.
    """
    from hub.ops.rules import explain

    config = _config(config_path)
    try:
        body = Path(file).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{file}: {exc.strerror}", param_hint="FILE") from None
    folder = Path(rules_dir) if rules_dir else config.path(config.paths.routing_rules)
    try:
        rules = load_rules(folder)
    except RulesError as exc:
        raise Refused(exc.problems) from None
    try:
        data, explanation = explain(config, body, rules, str(folder))
    except EnvelopeError as exc:
        raise Refused([f"{file}: {p}" for p in exc.problems], prefix="rejected") from None
    data = {"file": file, **data}
    ok = data["delivered"]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(_explain_text(data, explanation))
    if not ok:
        sys.exit(1)


# ----------------------------------------------------------------------------------- reload
@routes.command("reload")
@config_option
@click.option(
    "--wait",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="seconds to wait for the running hubs' answers",
)
@click.option("--reason", default="", help="why, for the audit log and the archive")
def reload_command(config_path: str, wait: float, reason: str) -> None:
    """Make every running hub node reload its rules now, and say what each did.

    The rules are checked here first; invalid rules are not even offered to the hub (it would
    refuse them and keep the rules in force). The request goes through the store, so it
    reaches every node alive on it; each reloads from its own rules folder and answers.
    """
    from hub.errors import StoreError
    from hub.ops.rules import reload_nodes

    config = _config(config_path)
    folder = config.path(config.paths.routing_rules)
    report = check_rules(folder, set(config.adapters))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not report.ok:
        raise Refused(
            [*report.errors, "not reloaded: the hub keeps the rules in force"], prefix="refused"
        )
    if not config.postgres and not config.database.is_file():
        raise Refused([f"{config.database}: no store yet; is the hub running with {config_path}?"])
    try:
        asked, answers = asyncio.run(reload_nodes(config, wait, reason=reason))
    except StoreError as exc:
        raise Refused(exc.problems) from None
    if not asked:
        raise Refused(
            [f"no running hub on {config.store_location} (is `hub serve --config {config_path}` "
             "running? SIGHUP reloads too)"]
        )  # fmt: skip
    problems = [
        f"{node}: no answer within {wait:g} s (is it still running? SIGHUP reloads too)"
        for node in asked
        if node not in answers
    ]
    refused = False
    for node, answer in sorted(answers.items()):  # by node name: stable output
        name = f"{node}: " if len(asked) > 1 else ""
        version, previous = answer.get("version"), answer.get("previous")
        if answer.get("result") == "refused":
            refused = True
            lines = str(answer.get("error") or "refused").splitlines()
            problems += [f"{name}{line}" for line in lines]
            problems.append(f"{name}the hub keeps rules {version}")
        elif answer.get("result") == "applied":
            click.echo(f"{name}applied {version} (was {previous})")
        else:
            click.echo(f"{name}in force: {version} (no change to apply)")
    if problems:
        raise Refused(problems, prefix="refused" if refused else "error")


# --------------------------------------------------------------------------------- versions
@routes.command("versions")
@config_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def versions_command(config_path: str, as_json: bool) -> None:
    """The rules versions the hub has applied, oldest first, with what each changed."""
    config = _config(config_path)
    if not config.postgres and not config.database.is_file():
        raise Refused([f"{config.database}: no store yet (has the hub run?)"])
    from hub.errors import StoreError
    from hub.ops.rules import rules_versions

    try:
        rows = asyncio.run(rules_versions(config))
    except StoreError as exc:
        raise Refused(exc.problems) from None
    if as_json:
        data = [
            {"version": r.version, "applied_at": r.applied_at, "summary": r.summary} for r in rows
        ]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r.applied_at}  {r.version}  {r.summary}")


# ----------------------------------------------------------------------------------- schema
@routes.command("schema")
@click.option("-o", "--out", default="-", help="output file (default stdout)")
def schema_command(out: str) -> None:
    """The JSON Schema of a rules file (shipped as routing_rules/schema.json)."""
    text = json.dumps(rules_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if out == "-":
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")
