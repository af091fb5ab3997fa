"""``hub routes``: check, explain, reload (without a hub), versions and schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from hub.cli.routes import routes
from hub.routing import rules_json_schema
from hub.scaffold import shipped

from .conftest import Deployment, write


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(routes, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------------------- check
def test_check_shipped_rules_ok() -> None:
    code, out, err = run("check", str(shipped("routing_rules")))
    assert code == 0, err
    assert out.startswith("OK ") and "1 rules" in out and "default deny" in out
    assert err == ""


def test_check_errors_name_file_and_line(rules_dir: Path) -> None:
    write(rules_dir, "a.yaml", "rules:\n  - name: x\n    match: {kind: answer}\n    reject: no\n")
    code, out, err = run("check", str(rules_dir))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines == [
        f"error: {rules_dir / 'a.yaml'}:3: rules.0.match.kind: 'answer' matches no kind "
        "(request, response, notice, receipt, error)",
        f"error: {rules_dir / 'a.yaml'}:4: rules.0.reject: Input should be a valid string "
        "(YAML reads yes/no/on/off/true/false as booleans: quote the value)",
    ]


SHADOWED = """
rules:
  - name: all-departments
    priority: 10
    match: {recipient: 'dept.*'}
    deliver: [{adapter: internal, address: "{recipient}"}]
  - name: culture-only
    priority: 5
    match: {recipient: dept.culture, kind: request}
    deliver: [{adapter: internal, address: dept.culture}]
  - name: culture-by-prefix
    match: {recipient: 'dept.cult*'}
    deliver: [{adapter: internal, address: dept.culture}]
  - name: other-type
    match: {recipient: agency.tax, xpath: 'true()'}
    deliver: [{adapter: smev, address: FNS}]
  - name: agencies
    match: {recipient: 'agency.*'}
    deliver: [{adapter: smev, address: FNS}]
participants:
  dept.land: {}
  agency.tax: {}
  city.mayor: {name: Mayor}
"""


def test_check_warnings(rules_dir: Path) -> None:
    write(rules_dir, "a.yaml", SHADOWED)
    code, out, err = run("check", str(rules_dir))
    assert code == 0 and "3 warnings" in out
    warnings = err.splitlines()
    assert len(warnings) == 3, warnings
    assert warnings[0].startswith(f"warning: {rules_dir / 'a.yaml'}:6: rule 'culture-only' can")
    assert "rule 'all-departments' (" in warnings[0] and "a.yaml:2, priority 10)" in warnings[0]
    assert warnings[1].startswith(f"warning: {rules_dir / 'a.yaml'}:10: rule 'culture-by-prefix'")
    assert warnings[2] == (
        f"warning: {rules_dir / 'a.yaml'}:22: participant city.mayor is declared but no rule "
        "delivers messages addressed to it"
    )
    assert run("check", "--strict", str(rules_dir))[0] == 1
    code, out, _ = run("check", "--json", str(rules_dir))
    data = json.loads(out)
    assert code == 0 and data["ok"] and len(data["warnings"]) == 3
    assert data["rules"] == [
        "all-departments",
        "culture-only",
        "culture-by-prefix",
        "other-type",
        "agencies",
    ]


def test_check_with_config_knows_the_adapters(deployment: Deployment) -> None:
    write(
        deployment.rules,
        "smev.yaml",
        "rules: [{name: fns, match: {recipient: agency.tax}, "
        "deliver: [{adapter: smev, address: FNS}]}]",
    )
    code, out, err = run("check", "--config", str(deployment.config_path))
    assert code == 0 and str(deployment.rules) in out
    assert "delivers through adapter 'smev', which hub.toml does not configure" in err


def test_check_json_errors(rules_dir: Path) -> None:
    write(rules_dir, "a.yaml", "rules: [")
    code, out, _ = run("check", "--json", str(rules_dir))
    data = json.loads(out)
    assert code == 1 and not data["ok"] and "not valid YAML" in data["errors"][0]


# ------------------------------------------------------------------------------- explain
def test_explain_delivered(deployment: Deployment, tmp_path: Path) -> None:
    message_id, body = deployment.envelope("dept.finance", "dept.land")
    file = tmp_path / "m.xml"
    file.write_bytes(body)
    code, out, err = run("explain", str(file), "--config", str(deployment.config_path))
    assert code == 0, out + err
    assert message_id in out
    assert "signature    verifies: signed by dept.finance" in out
    assert "decided      departments-internal" in out
    assert "access       allowed: departments-exchange" in out
    assert "decision     deliver to internal:dept.land" in out
    assert "would be delivered (nothing was sent)" in out
    assert not (deployment.directory / "data" / "hub.sqlite").exists()  # nothing touched


def test_explain_json_rejected(deployment: Deployment, tmp_path: Path) -> None:
    _, body = deployment.envelope("dept.finance", "agency.tax")
    file = tmp_path / "m.xml"
    file.write_bytes(body)
    code, out, _ = run("explain", str(file), "--config", str(deployment.config_path), "--json")
    data = json.loads(out)
    assert code == 1
    assert data["signature"]["verifies"] is True
    assert data["decision"]["outcome"] == "reject" and data["decision"]["code"] == "no_route"
    assert data["steps"] == [
        {
            "rule": "departments-internal",
            "origin": f"{deployment.rules / 'default.yaml'}:8",
            "priority": 0,
            "result": "no match",
            "detail": "recipient 'agency.tax' is not @departments",
        }
    ]
    assert data["outcome"] == "would be rejected: no_route"


def test_explain_says_the_signature_does_not_verify(deployment: Deployment, tmp_path: Path) -> None:
    _, body = deployment.envelope("dept.finance", "dept.culture")
    file = tmp_path / "m.xml"
    file.write_bytes(body.replace("арендной плате".encode(), "аренде".encode(), 1))
    code, out, _ = run("explain", str(file), "--config", str(deployment.config_path))
    assert code == 1
    assert "signature    DOES NOT VERIFY: " in out and "digest mismatch" in out
    assert "decision     deliver to internal:dept.culture" in out  # routing is still shown
    assert "would be rejected before routing" in out


def test_explain_access_denied_and_other_rules_folder(
    deployment: Deployment, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    write(
        other, "r.yaml", "rules: [{name: all, deliver: [{adapter: internal, address: dept.land}]}]"
    )
    write(other, "a.yaml", "access: {rights: [{name: r, senders: agency.x, recipients: dept.x}]}")
    _, body = deployment.envelope("dept.finance", "dept.culture")
    file = tmp_path / "m.xml"
    file.write_bytes(body)
    code, out, _ = run(
        "explain", str(file), "--config", str(deployment.config_path), "--rules", str(other)
    )
    assert code == 1
    assert "would deliver, but access denied: no access right lets dept.finance send" in out
    assert "decision     reject (access_denied): access denied" in out


def test_explain_unregistered_certificate(deployment: Deployment, tmp_path: Path) -> None:
    write(
        deployment.rules,
        "participants.yaml",
        "participants: {dept.finance: {certificates: [{sha256: '%s'}]}}\n"
        "groups: {departments: {members: ['dept.*']}, agencies: {members: ['agency.*']}}\n"
        % ("0" * 64),
    )
    _, body = deployment.envelope("dept.finance", "dept.culture")
    file = tmp_path / "m.xml"
    file.write_bytes(body)
    code, out, _ = run("explain", str(file), "--config", str(deployment.config_path))
    assert code == 1
    assert "certificate  NOT REGISTERED: certificate " in out
    assert "would be rejected: certificate_not_registered" in out


def test_explain_unreadable_envelope(deployment: Deployment, tmp_path: Path) -> None:
    file = tmp_path / "m.xml"
    file.write_bytes(b"<not-an-envelope/>")
    code, _, err = run("explain", str(file), "--config", str(deployment.config_path))
    assert code == 1 and err.startswith(f"rejected: {file}: root element is 'not-an-envelope'")
    code, _, err = run(
        "explain", str(tmp_path / "none.xml"), "--config", str(deployment.config_path)
    )
    assert code == 2


# -------------------------------------------------------------------------------- reload
def test_reload_refuses_invalid_rules_locally(deployment: Deployment) -> None:
    write(deployment.rules, "zz.yaml", "rules: [{name: x}]")
    code, _, err = run("reload", "--config", str(deployment.config_path), "--wait", "0.2")
    assert code == 1
    assert "refused: " in err and "zz.yaml:1" in err
    assert "not reloaded: the hub keeps the rules in force" in err


def test_reload_without_a_running_hub(deployment: Deployment) -> None:
    code, _, err = run("reload", "--config", str(deployment.config_path), "--wait", "0.2")
    assert code == 1 and "no store yet; is the hub running" in err
    asyncio.run(_open_and_close(deployment))  # a store, and nobody on it
    code, _, err = run("reload", "--config", str(deployment.config_path), "--wait", "0.2")
    assert code == 1 and err.startswith("error: no running hub on ")


async def _open_and_close(deployment: Deployment, *beats: str) -> None:
    """Open the deployment's store (made on the way), with a heartbeat of each node in
    ``beats`` (nobody answers for them)."""
    from hub.records import NodeBeat
    from hub.store import open_store

    store = await open_store(deployment.config)
    for node in beats:
        await store.node_seen(NodeBeat(node, "i-1", "2026-12-01T08:00:00+00:00", "0.1.0"))
    await store.close()


def test_reload_names_the_nodes_that_did_not_answer(deployment: Deployment) -> None:
    asyncio.run(_open_and_close(deployment, "hub-1", "hub-2"))
    code, out, err = run("reload", "--config", str(deployment.config_path), "--wait", "0.3")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"error: {node}: no answer within 0.3 s (is it still running? SIGHUP reloads too)"
        for node in ("hub-1", "hub-2")
    ]


# ----------------------------------------------------------------------- versions, schema
async def test_versions(deployment: Deployment) -> None:
    from hub.routing import load_rules
    from hub.store import open_store

    from .conftest import record_rules_version

    store = await open_store(deployment.config)
    first = load_rules(deployment.rules)
    await record_rules_version(store, first, None, "2026-01-01T00:00:00")
    await store.close()
    config = str(deployment.config_path)
    code, out, _ = await asyncio.to_thread(run, "versions", "--config", config)
    assert code == 0
    assert out.startswith(f"2026-01-01T00:00:00  {first.version}  loaded at start: 1 rules")
    code, out, _ = await asyncio.to_thread(run, "versions", "--config", config, "--json")
    assert json.loads(out)[0]["version"] == first.version


def test_shipped_schema_is_current() -> None:
    shipped_schema = json.loads((shipped("routing_rules") / "schema.json").read_text("utf-8"))
    assert shipped_schema == rules_json_schema(), "regenerate: hub routes schema -o ..."
    code, out, _ = run("schema")
    assert code == 0 and json.loads(out) == shipped_schema
