"""Matching semantics, priorities, fan-out, rewrites, settings and the pickled form."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from hub.abc import Destination
from hub.routing import RouteSettings, RuleSet, load_rules

from .conftest import MEMO_TYPE, NOTICE_TYPE, header, load

UUID = "3f0c1a52-6a43-4c4e-9d51-8d2a4f0b7e11"
DELIVER = "deliver: [{adapter: internal, address: '{recipient}'}]"


def one_rule(folder: Path, match: str, **extra: str) -> RuleSet:
    body = f"""
        rules:
          - name: r
            match: {match}
            {DELIVER}
        """
    return load(folder, rules_yaml=body, **extra)


@pytest.mark.parametrize(
    ("match", "yes", "no"),
    [
        ("{sender: dept.finance}", {"sender": "dept.finance"}, {"sender": "dept.land"}),
        ("{sender: 'dept.*'}", {"sender": "dept.land"}, {"sender": "agency.tax"}),
        ("{sender: [agency.tax, 'dept.f*']}", {"sender": "agency.tax"}, {"sender": "dept.land"}),
        ("{recipient: 're:dept\\.(culture|land)'}", {}, {"recipient": "dept.finance"}),
        ("{message_type: '*}Memo'}", {}, {"message_type": NOTICE_TYPE}),
        (f"{{message_type: '{MEMO_TYPE}'}}", {}, {"message_type": NOTICE_TYPE}),
        ("{kind: [response, error]}", {"kind": "response"}, {"kind": "request"}),
        ("{kind: 'res*'}", {"kind": "response"}, {"kind": "notice"}),
        ("{priority: 5}", {"priority": 5}, {"priority": 4}),
        ("{priority: [1, 2]}", {"priority": 2}, {}),
        ("{priority: {min: 7}}", {"priority": 9}, {"priority": 6}),
        ("{test: true}", {"test": True}, {"test": False}),
        ("{test: false}", {}, {"test": True}),
        ("{header: {conversation_id: '*'}}", {"conversation_id": UUID}, {}),
        ("{header: {correlation_id: null}}", {}, {"correlation_id": UUID}),
        ("{header: {priority: 3}}", {"priority": 3}, {"priority": 2}),
        ("{header: {test: true}}", {"test": True}, {}),
        ("{header: {created: '2031-*'}}", {"created": "2031-01-01T00:00:00+00:00"}, {}),
        ("{header: {message_id: 're:[0-9a-f-]+'}}", {}, None),
    ],
)
def test_conditions(
    rules_dir: Path, match: str, yes: dict[str, Any], no: dict[str, Any] | None
) -> None:
    rules = one_rule(rules_dir, match)
    assert rules.route(header(**yes)).destinations, f"{match} should match {yes}"
    if no is not None:
        decision = rules.route(header(**no))
        assert decision.rejected and decision.code == "no_route", f"{match} matched {no}"


def test_all_conditions_must_hold(rules_dir: Path) -> None:
    rules = one_rule(rules_dir, "{sender: dept.finance, kind: request, test: false}")
    assert rules.route(header()).destinations
    assert not rules.route(header(kind="notice")).destinations
    assert not rules.route(header(sender="dept.land")).destinations


def test_groups_nested_and_patterns(rules_dir: Path) -> None:
    rules = one_rule(
        rules_dir,
        "{sender: '@city', recipient: '@departments'}",
        groups_yaml="""
            groups:
              departments: {members: ['dept.*']}
              federal: {members: [agency.tax, agency.rosreestr]}
              city: {members: ['@departments', city.mayor]}
            """,
    )
    assert rules.group_members("@city") == ("dept.*", "city.mayor")
    assert rules.in_group("dept.land", "departments")
    assert rules.route(header(sender="city.mayor")).destinations
    assert rules.route(header(sender="dept.land")).destinations
    assert not rules.route(header(sender="agency.tax")).destinations


def test_priority_then_file_then_position(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        a_yaml=f"""
            rules:
              - {{name: a-low, priority: 1, {DELIVER}}}
              - {{name: a-first-at-zero, {DELIVER}}}
              - {{name: a-second-at-zero, {DELIVER}}}
            """,
        b_yaml=f"""
            rules:
              - {{name: b-high, priority: 10, match: {{kind: notice}}, {DELIVER}}}
              - {{name: b-zero, {DELIVER}}}
            """,
    )
    order = [rule.name for _, rule in rules.rules]
    assert order == ["b-high", "a-low", "a-first-at-zero", "a-second-at-zero", "b-zero"]
    assert rules.route(header(kind="notice")).rule == "b-high"
    assert rules.route(header()).rule == "a-low"


def test_reject_with_reason(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml=f"""
            rules:
              - name: no-tests
                priority: 5
                match: {{test: true}}
                reject: test messages stay home
              - {{name: rest, {DELIVER}}}
            """,
    )
    decision = rules.route(header(test=True))
    assert decision.rejected and decision.code == "route_rejected" and decision.rule == "no-tests"
    assert decision.rejection == "rule 'no-tests': test messages stay home"
    assert rules.route(header()).destinations == (Destination("internal", "dept.culture"),)


def test_no_route_names_the_message(rules_dir: Path) -> None:
    rules = one_rule(rules_dir, "{recipient: dept.land}")
    decision = rules.route(header(recipient="dept.culture"))
    assert decision.code == "no_route" and decision.rule is None
    assert "dept.culture" in (decision.rejection or "")


def test_fan_out_templates_and_dedup(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml="""
            rules:
              - name: fan
                match: {recipient: dept.culture}
                deliver:
                  - {adapter: internal, address: "{recipient}"}
                  - {adapter: internal, address: dept.land}
                  - {adapter: smev, address: "MNEMO_{kind}"}
                  - {adapter: email, address: archive@city.example}
                  - {adapter: internal, address: dept.culture}
            """,
    )
    decision = rules.route(header())
    assert decision.destinations == (
        Destination("internal", "dept.culture"),
        Destination("internal", "dept.land"),
        Destination("smev", "MNEMO_request"),
        Destination("email", "archive@city.example"),
    )
    assert rules.adapters() == {"internal", "smev", "email"}


def test_rewrite_then_later_rules_see_the_new_recipient(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml="""
            rules:
              - name: renamed
                priority: 100
                match: {recipient: dept.landcommittee}
                rewrite: {recipient: dept.land}
              - name: to-land
                match: {recipient: dept.land}
                deliver: [{adapter: internal, address: "{recipient}"},
                          {adapter: internal, address: "{original_recipient}"}]
            """,
    )
    decision = rules.route(header(recipient="dept.landcommittee"))
    assert decision.rule == "to-land" and decision.matched == ("renamed", "to-land")
    assert decision.recipient == "dept.land"
    assert decision.destinations == (
        Destination("internal", "dept.land"),
        Destination("internal", "dept.landcommittee"),
    )
    untouched = rules.route(header(recipient="dept.land"))
    assert untouched.recipient is None and untouched.matched == ("to-land",)


def test_rewrite_with_deliver_and_no_route_after_rewrite(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml=f"""
            rules:
              - name: moved-and-delivered
                match: {{recipient: agency.old}}
                rewrite: {{recipient: agency.new}}
                {DELIVER}
              - name: only-rewrite
                match: {{recipient: agency.gone}}
                rewrite: {{recipient: agency.nowhere}}
            """,
    )
    decision = rules.route(header(recipient="agency.old"))
    assert decision.destinations == (Destination("internal", "agency.new"),)
    assert decision.recipient == "agency.new"
    lost = rules.route(header(recipient="agency.gone"))
    assert lost.code == "no_route" and lost.recipient == "agency.nowhere"
    assert "rewritten from 'agency.gone'" in (lost.rejection or "")


def test_settings_rule_and_target_merge(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml="""
            rules:
              - name: slow-agency
                settings: {max_attempts: 20, base_delay: 5s, max_delay: 1h, ttl: 3d, priority: 7}
                deliver:
                  - {adapter: smev, address: EGRN}
                  - {adapter: email, address: a@b.example, settings: {max_attempts: 3, max_age: 2h}}
            """,
    )
    decision = rules.route(header())
    assert decision.settings == RouteSettings(
        max_attempts=20, base_delay=5, max_delay=3600, ttl=3 * 86400, priority=7
    )
    smev, email = decision.destinations
    assert decision.settings_for(smev).max_attempts == 20
    assert decision.settings_for(email).max_attempts == 3
    assert decision.settings_for(email).max_age == 7200
    assert decision.settings_for(email).ttl == 3 * 86400
    assert decision.as_dict()["destinations"][1]["settings"]["max_attempts"] == 3


def test_disabled_rule_is_skipped(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml=f"""
            rules:
              - {{name: 'off', priority: 9, enabled: false, reject: closed}}
              - {{name: 'on', {DELIVER}}}
            """,
    )
    assert rules.route(header()).rule == "on"
    steps = rules.explain(header()).steps
    assert [(s.rule, s.result) for s in steps] == [("off", "disabled"), ("on", "decided")]


def test_explain_records_every_rule(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml=f"""
            rules:
              - {{name: urgent, priority: 5, match: {{priority: 9}}, {DELIVER}}}
              - {{name: memo, priority: 3, match: {{message_type: '*}}Memo'}}, {DELIVER}}}
              - {{name: everything, {DELIVER}}}
            """,
    )
    explanation = rules.explain(header())
    assert [(s.rule, s.result) for s in explanation.steps] == [
        ("urgent", "no match"),
        ("memo", "decided"),
        ("everything", "also matches"),
    ]
    assert "priority None" in explanation.steps[0].detail
    assert explanation.steps[1].origin.endswith("r.yaml:3")
    assert explanation.decision == rules.route(header())


def test_version_is_content_hash(rules_dir: Path) -> None:
    first = one_rule(rules_dir, "{}")
    again = load_rules(rules_dir)
    assert first.version == again.version and len(first.version) == 12
    (rules_dir / "rules.yaml").write_text(
        (rules_dir / "rules.yaml").read_text() + "# a comment\n", encoding="utf-8"
    )
    assert load_rules(rules_dir).version != first.version


def test_hidden_and_lock_files_are_ignored(rules_dir: Path) -> None:
    rules = one_rule(rules_dir, "{}")
    (rules_dir / ".#rules.yaml").write_text("not: [valid", encoding="utf-8")
    (rules_dir / "schema.json").write_text("{}", encoding="utf-8")
    assert load_rules(rules_dir).version == rules.version


def test_pickled_once_and_restored_once(rules_dir: Path) -> None:
    rules = one_rule(
        rules_dir,
        "{xpath: 'm:Urgency', namespaces: {m: 'urn:interagency-hub:payload:memo:1.0'}}",
    )
    data = pickle.dumps(rules)
    assert pickle.dumps(rules) == data  # computed once
    restored = pickle.loads(data)
    assert pickle.loads(data) is restored  # one unpickling per process and version
    assert restored.version == rules.version
    from .conftest import memo

    assert restored.route(header(), memo()).destinations


def test_empty_rule_set_routes_nothing() -> None:
    decision = RuleSet().route(header())
    assert decision.code == "no_route"
    assert RuleSet().check_certificate("dept.finance", b"whatever") is None


def test_shipped_rules_route_departments_only() -> None:
    from hub.scaffold import shipped

    rules = load_rules(shipped("routing_rules"))
    assert rules.route(header()).destinations == (Destination("internal", "dept.culture"),)
    assert rules.route(header(recipient="agency.tax")).code == "no_route"
    assert rules.access is not None and rules.access.default == "deny"
