"""XPath conditions on the payload: namespaces declared in the rule, compiled once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from lxml import etree

from hub.routing import RulesError

from .conftest import MEMO_NS, header, load, memo

URGENT = f"""
    rules:
      - name: urgent-memo
        priority: 10
        match:
          xpath: "m:Urgency = 'urgent' and m:Author/m:Department/m:ParticipantId = $nothing"
          namespaces: {{m: "{MEMO_NS}"}}
        deliver: [{{adapter: internal, address: dept.land}}]
      - name: rest
        deliver: [{{adapter: internal, address: "{{recipient}}"}}]
    """


def test_xpath_on_the_payload(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml=f"""
            rules:
              - name: urgent
                priority: 10
                match:
                  xpath: "m:Urgency = 'urgent'"
                  namespaces: {{m: "{MEMO_NS}"}}
                deliver: [{{adapter: internal, address: dept.land}}]
              - name: from-finance-by-payload
                priority: 5
                match:
                  xpath: "m:Author/m:Department/m:ParticipantId[. = 'dept.finance']"
                  namespaces: {{m: "{MEMO_NS}"}}
                deliver: [{{adapter: internal, address: dept.finance}}]
              - name: counted
                priority: 3
                match:
                  xpath: "count(m:References/m:Reference)"
                  namespaces: {{m: "{MEMO_NS}"}}
                deliver: [{{adapter: internal, address: dept.culture}}]
            """,
    )
    payload = memo()
    assert rules.route(header(), payload).rule == "urgent"
    urgency = payload.find(f"{{{MEMO_NS}}}Urgency")
    assert urgency is not None
    urgency.text = "normal"
    assert rules.route(header(), payload).rule == "from-finance-by-payload"
    participant = payload.find(f".//{{{MEMO_NS}}}ParticipantId")
    assert participant is not None
    participant.text = "dept.land"
    assert rules.route(header(), payload).rule == "counted"
    for reference in payload.findall(f".//{{{MEMO_NS}}}Reference"):
        reference.getparent().remove(reference)  # type: ignore[union-attr]
    assert rules.route(header(), payload).code == "no_route"


def test_without_payload_an_xpath_rule_does_not_match(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml="""
            rules:
              - {name: x, priority: 1, match: {xpath: "true()"}, reject: never}
              - {name: rest, deliver: [{adapter: internal, address: "{recipient}"}]}
            """,
    )
    assert rules.route(header()).rule == "rest"
    assert rules.route(header(), etree.Element("p")).rule == "x"
    step = rules.explain(header()).steps[0]
    assert step.result == "no match" and "no payload" in step.detail


@pytest.mark.parametrize(
    ("xpath", "namespaces", "problem"),
    [
        ("m:Urgency[", "{m: 'urn:x'}", "Invalid expression"),
        ("q:Urgency", "{m: 'urn:x'}", "Undefined namespace prefix"),
        ("frobnicate(1)", "{}", "Unregistered function"),
        ("$undeclared", "{}", "Undefined variable"),
    ],
)
def test_xpath_errors_are_rule_errors_with_lines(
    rules_dir: Path, xpath: str, namespaces: str, problem: str
) -> None:
    with pytest.raises(RulesError) as caught:
        load(
            rules_dir,
            r_yaml=f"""
                rules:
                  - name: fine
                    deliver: [{{adapter: internal, address: dept.land}}]
                  - name: broken
                    match:
                      namespaces: {namespaces}
                      xpath: "{xpath}"
                    deliver: [{{adapter: internal, address: dept.land}}]
                """,
        )
    (line,) = caught.value.problems
    assert line.startswith(f"{rules_dir / 'r.yaml'}:7: rules.1.match.xpath:")
    assert problem in line


def test_namespaces_without_xpath(rules_dir: Path) -> None:
    with pytest.raises(RulesError, match="namespaces without xpath"):
        load(
            rules_dir,
            r_yaml="rules: [{name: x, match: {namespaces: {m: urn:x}}, reject: no way}]",
        )


def test_compiled_once_per_thread(rules_dir: Path) -> None:
    from hub.routing import compiled as routing

    rules = load(rules_dir, r_yaml=URGENT.replace(" = $nothing", ""))
    payload = memo()
    rules.route(header(), payload)
    cache = routing._XPATH_CACHE.compiled
    compiled = dict(cache)
    rules.route(header(), payload)
    assert cache == compiled and all(
        a is b for a, b in zip(cache.values(), compiled.values(), strict=True)
    )
    seen: list[str | None] = []
    thread = threading.Thread(target=lambda: seen.append(rules.route(header(), memo()).rule))
    thread.start()
    thread.join()
    assert seen == ["urgent-memo"]


def test_warns_about_absolute_xpath(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        r_yaml="rules: [{name: abs, match: {xpath: '//x'}, deliver: [{adapter: internal, "
        "address: dept.land}]}]",
    )
    assert any("document root" in w for w in rules.warnings())
