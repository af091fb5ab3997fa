"""The catalogue, the registry, the dashboard and the alert rules agree; the rules pass promtool."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "hub.json"
ALERTS = MONITORING / "prometheus" / "alerts.yml"
ALERT_TESTS = MONITORING / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
# series Prometheus makes itself, not the hub
PROMETHEUS_OWN = {"up"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}
_NAME = re.compile(r"\b(hub_[a-z0-9_]+|up)\b(?!\s*\()")


def exposed_names() -> set[str]:
    """Every sample name the hub's registry can expose."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + s for s in SUFFIXES[family.type])
    return names


def catalogue_names() -> list[str]:
    text = (MONITORING / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `(hub_[a-z0-9_]+)` \|", text, flags=re.MULTILINE)


def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append((f"variable {variable['name']}", query["query"]))
    return found


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    return set(_NAME.findall(without_strings))


def test_catalogue_lists_exactly_the_registry() -> None:
    families = {f.name: f.type for f in Metrics().registry.collect()}
    listed = catalogue_names()
    assert len(listed) == len(set(listed)), "a metric is listed twice"
    expected = {name + ("_total" if kind == "counter" else "") for name, kind in families.items()}
    assert set(listed) == expected


def test_metric_names_and_labels_are_bounded() -> None:
    for family in Metrics().registry.collect():
        assert family.name.startswith("hub_"), family.name
    text = (MONITORING / "metrics.py").read_text(encoding="utf-8")
    assert "message_id" not in text.split('"""', 2)[2]


def test_dashboard_uses_existing_metrics() -> None:
    exposed = exposed_names() | PROMETHEUS_OWN
    exprs = dashboard_exprs()
    assert len(exprs) > 20
    used: set[str] = set()
    for title, expr in exprs:
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= exposed, f"{title}: unknown {sorted(names - exposed)} in {expr!r}"
        used |= names
    required = {
        "hub_messages_received_total",
        "hub_messages_rejected_total",
        "hub_end_to_end_seconds_bucket",
        "hub_stage_seconds_bucket",
        "hub_queue_depth",
        "hub_oldest_undelivered_seconds",
        "hub_dead_letters_current",
        "hub_retries_scheduled_total",
        "hub_circuit_breaker_state",
        "hub_certificate_expiry_days",
    }
    assert required <= used


def test_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


def test_alerts_use_existing_metrics() -> None:
    exposed = exposed_names() | PROMETHEUS_OWN
    rules = alert_rules()
    names = {r["alert"] for r in rules}
    assert {
        "HubDown",
        "HubNotReady",
        "HubDeadLettersGrowing",
        "HubOldestUndeliveredTooOld",
        "HubDeliveryErrorRatioHigh",
        "HubCircuitBreakerOpen",
        "HubCertificateExpiresSoon",
        "HubRulesReloadRefused",
    } <= names
    for rule in rules:
        used = metric_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= exposed, f"{rule['alert']}: unknown {sorted(used - exposed)}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


# ------------------------------------------------------------------------------------ promtool
def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("promtool is missing, and CI requires it (apt-get install prometheus)")
    pytest.skip("promtool is not installed (apt-get install prometheus)")


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_promtool_alert_unit_tests() -> None:
    output = run(promtool(), "test", "rules", str(ALERT_TESTS))
    assert "SUCCESS" in output


def test_promtool_checks_rules_and_config() -> None:
    tool = promtool()
    run(tool, "check", "rules", str(ALERTS))
    run(tool, "check", "config", str(PROMETHEUS_CONFIG))


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    tool = promtool()
    rules = []
    for i, (_, expr) in enumerate(dashboard_exprs()):
        if expr.startswith("label_values("):
            continue
        concrete = (
            expr.replace("$__rate_interval", "1m")
            .replace("$__range", "1h")
            .replace("$job", ".*")
            .replace("$instance", ".*")
        )
        rules.append({"record": f"dashboard:query_{i}", "expr": concrete})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run(tool, "check", "rules", str(path))
