"""Access rights: who may send which message types to whom; everything else is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.routing import RuleSet

from .conftest import MEMO_TYPE, NOTICE_TYPE, header, load

ROUTES = """
    rules:
      - name: everything
        deliver: [{adapter: internal, address: "{recipient}"}]
      - name: renamed
        priority: 10
        match: {recipient: agency.oldname}
        rewrite: {recipient: agency.newname}
    """
PARTICIPANTS = """
    groups:
      departments: {members: ['dept.*']}
      agencies: {members: [agency.tax, agency.newname]}
    """
ACCESS = f"""
    access:
      rights:
        - name: departments-exchange
          senders: '@departments'
          recipients: '@departments'
        - name: memos-to-agencies
          senders: [dept.finance]
          recipients: '@agencies'
          message_types: '{MEMO_TYPE}'
          kinds: request
        - name: agencies-answer
          senders: '@agencies'
          recipients: '@departments'
          kinds: [response, error]
    """


@pytest.fixture
def rules(rules_dir: Path) -> RuleSet:
    return load(rules_dir, routes_yaml=ROUTES, participants_yaml=PARTICIPANTS, access_yaml=ACCESS)


@pytest.mark.parametrize(
    ("sender", "recipient", "message_type", "kind", "right"),
    [
        ("dept.finance", "dept.culture", NOTICE_TYPE, "notice", "departments-exchange"),
        ("dept.finance", "agency.tax", MEMO_TYPE, "request", "memos-to-agencies"),
        ("agency.tax", "dept.land", MEMO_TYPE, "response", "agencies-answer"),
        ("dept.finance", "agency.oldname", MEMO_TYPE, "request", "memos-to-agencies"),
    ],
)
def test_allowed(
    rules: RuleSet, sender: str, recipient: str, message_type: str, kind: str, right: str
) -> None:
    decision = rules.route(header(sender, recipient, message_type, kind))
    assert not decision.rejected, decision.rejection
    assert decision.access == right


@pytest.mark.parametrize(
    ("sender", "recipient", "message_type", "kind"),
    [
        ("dept.land", "agency.tax", MEMO_TYPE, "request"),  # not dept.finance
        ("dept.finance", "agency.tax", NOTICE_TYPE, "request"),  # not a memo
        ("dept.finance", "agency.tax", MEMO_TYPE, "notice"),  # not a request
        ("agency.tax", "dept.land", MEMO_TYPE, "request"),  # agencies only answer
        ("agency.tax", "agency.newname", MEMO_TYPE, "response"),  # between agencies
        ("dept.land", "agency.oldname", MEMO_TYPE, "request"),  # checked after the rewrite
    ],
)
def test_denied_with_a_reason(
    rules: RuleSet, sender: str, recipient: str, message_type: str, kind: str
) -> None:
    decision = rules.route(header(sender, recipient, message_type, kind))
    assert decision.rejected and decision.code == "access_denied"
    assert decision.rule == "everything" and not decision.destinations
    reason = decision.rejection or ""
    assert reason.startswith(f"access denied: no access right lets {sender} send {message_type}")
    assert f"({kind})" in reason and "default is deny" in reason and "access.yaml:1" in reason


def test_rewritten_recipient_is_named(rules: RuleSet) -> None:
    decision = rules.route(header("dept.land", "agency.oldname"))
    assert "to agency.newname" in (decision.rejection or "")
    assert decision.recipient == "agency.newname"


def test_default_allow(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        routes_yaml=ROUTES,
        access_yaml="""
            access:
              default: allow
              rights: []
            """,
    )
    decision = rules.route(header("agency.x", "agency.y"))
    assert not decision.rejected and decision.access is not None
    assert decision.access.startswith("default: allow")


def test_no_access_section_allows_everything_routed(rules_dir: Path) -> None:
    rules = load(rules_dir, routes_yaml=ROUTES)
    assert rules.access is None
    assert rules.route(header("agency.x", "agency.y")).access == "no access rights declared"


def test_rights_from_several_files_accumulate(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        routes_yaml=ROUTES,
        a_yaml="access: {rights: [{name: one, senders: dept.a, recipients: dept.b}]}",
        b_yaml="access: {rights: [{name: two, senders: dept.b, recipients: dept.a}]}",
    )
    assert rules.route(header("dept.a", "dept.b")).access == "one"
    assert rules.route(header("dept.b", "dept.a")).access == "two"
    assert rules.route(header("dept.a", "dept.c")).code == "access_denied"


def test_check_access_directly(rules: RuleSet) -> None:
    assert rules.check_access("dept.finance", "dept.land", MEMO_TYPE, "request") == (
        True,
        "departments-exchange",
    )
    allowed, reason = rules.check_access("agency.tax", "agency.tax", MEMO_TYPE, "request")
    assert not allowed and "access denied" in reason


def test_rule_rejection_comes_before_access(rules_dir: Path) -> None:
    rules = load(
        rules_dir,
        routes_yaml="rules: [{name: closed, reject: maintenance}]",
        access_yaml=ACCESS,
        participants_yaml=PARTICIPANTS,
    )
    decision = rules.route(header("agency.x", "agency.y"))
    assert decision.code == "route_rejected" and "maintenance" in (decision.rejection or "")
