"""Invalid rule files: every problem names the file, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.routing import RulesError, load_rules

from .conftest import write

OK = "deliver: [{adapter: internal, address: dept.land}]"

CASES: list[tuple[str, dict[str, str], list[tuple[str, int, str]]]] = [
    (
        "yaml syntax",
        {"a.yaml": "rules:\n  - name: x\n    match: {sender: [dept.a\n"},
        [("a.yaml", 4, "not valid YAML")],
    ),
    (
        "unknown key",
        {"a.yaml": f"rules:\n  - name: x\n    {OK}\n  - name: y\n    when: 12\n    {OK}\n"},
        [("a.yaml", 5, "rules.1.when: Extra inputs are not permitted")],
    ),
    (
        "duplicate key",
        {"a.yaml": f"rules:\n  - name: x\n    priority: 1\n    priority: 2\n    {OK}\n"},
        [("a.yaml", 4, "key 'priority' appears twice (first on line 3)")],
    ),
    (
        "duplicate rule name across files",
        {
            "a.yaml": f"rules:\n  - name: x\n    {OK}\n",
            "b.yaml": f"\nrules:\n  - name: x\n    {OK}\n",
        },
        [("b.yaml", 3, "rule 'x' is declared twice (first at")],
    ),
    (
        "no action",
        {"a.yaml": "rules:\n  - name: x\n    match: {sender: dept.a}\n"},
        [("a.yaml", 2, "rules.0: a rule needs an action")],
    ),
    (
        "deliver and reject",
        {"a.yaml": f"rules:\n  - name: x\n    reject: nope\n    {OK}\n"},
        [("a.yaml", 2, "either delivers or rejects")],
    ),
    (
        "unknown group",
        {"a.yaml": f"rules:\n  - name: x\n    match:\n      sender: '@nobody'\n    {OK}\n"},
        [("a.yaml", 4, "rule 'x': unknown group '@nobody' (groups: none declared)")],
    ),
    (
        "group cycle",
        {"g.yaml": "groups:\n  a: {members: ['@b']}\n  b:\n    members: ['@a']\n"},
        [("g.yaml", 2, "group 'a': cycle: @a → @b → @a")],
    ),
    (
        "bad regex",
        {"a.yaml": f"rules:\n  - name: x\n    match:\n      recipient: 're:dept.(x'\n    {OK}\n"},
        [("a.yaml", 4, "not a regular expression")],
    ),
    (
        "group in message_type",
        {"a.yaml": f"rules:\n  - name: x\n    match: {{message_type: '@memo'}}\n    {OK}\n"},
        [("a.yaml", 3, "groups name participants")],
    ),
    (
        "unknown placeholder",
        {"a.yaml": "rules:\n  - name: x\n    deliver:\n      - {adapter: smev, address: '{to}'}\n"},
        [("a.yaml", 4, "unknown placeholder {to}")],
    ),
    (
        "attribute access in a template",
        {
            "a.yaml": "rules:\n  - name: x\n    deliver:\n      - adapter: smev\n"
            "        address: '{recipient.__class__}'\n"
        },
        [("a.yaml", 4, "unknown placeholder")],
    ),
    (
        "internal address",
        {"a.yaml": "rules:\n  - name: x\n    deliver: [{adapter: internal, address: Finance}]\n"},
        [("a.yaml", 3, "not a participant id")],
    ),
    (
        "bad duration",
        {"a.yaml": f"rules:\n  - name: x\n    settings:\n      max_delay: 5 weeks\n    {OK}\n"},
        [("a.yaml", 4, "'5 weeks' is not a duration")],
    ),
    (
        "base delay above max delay",
        {
            "a.yaml": "rules:\n  - name: x\n    settings: {base_delay: 2h, max_delay: 1m}\n"
            f"    {OK}\n"
        },
        [("a.yaml", 3, "base_delay is longer than max_delay")],
    ),
    (
        "settings without deliver",
        {"a.yaml": "rules:\n  - name: x\n    reject: no thanks\n    settings: {ttl: 1d}\n"},
        [("a.yaml", 2, "'settings' only applies to a rule that delivers")],
    ),
    (
        "unknown kind",
        {"a.yaml": f"rules:\n  - name: x\n    match: {{kind: [request, answer]}}\n    {OK}\n"},
        [("a.yaml", 3, "'answer' matches no kind")],
    ),
    (
        "priority out of range",
        {"a.yaml": f"rules:\n  - name: x\n    match: {{priority: 12}}\n    {OK}\n"},
        [("a.yaml", 3, "priority 12 is outside 0-9")],
    ),
    (
        "boolean name",
        {"a.yaml": f"rules:\n  - name: off\n    {OK}\n"},
        [("a.yaml", 2, "quote the value")],
    ),
    (
        "bad participant id",
        {"p.yaml": "participants:\n  dept.finance: {}\n  Finance: {name: x}\n"},
        [("p.yaml", 3, "participants.Finance")],
    ),
    (
        "bad fingerprint",
        {"p.yaml": "participants:\n  dept.finance:\n    certificates:\n      - sha256: abc\n"},
        [("p.yaml", 4, "not a SHA-256 fingerprint")],
    ),
    (
        "missing pem",
        {"p.yaml": "participants:\n  dept.finance:\n    certificates:\n      - pem: nope.pem\n"},
        [("p.yaml", 4, "certificate nope.pem: No such file")],
    ),
    (
        "access default twice",
        {
            "a.yaml": "access: {default: deny}\n",
            "b.yaml": "\naccess:\n  default: allow\n",
        },
        [("b.yaml", 3, "the access default is declared twice")],
    ),
    (
        "access right with unknown group",
        {
            "a.yaml": "access:\n  rights:\n    - name: r\n      senders: '@x'\n"
            "      recipients: y.z\n"
        },
        [("a.yaml", 4, "access right 'r': unknown group '@x'")],
    ),
    (
        "not a mapping",
        {"a.yaml": "- name: x\n"},
        [("a.yaml", 1, "(file): Input should be a valid dictionary")],
    ),
    (
        "problems in two files at once",
        {
            "a.yaml": "rules:\n  - name: x\n    reject: 12\n",
            "b.yaml": "rules:\n  - {name: y, priority: high, reject: no}\n",
        },
        [
            ("a.yaml", 3, "rules.0.reject: Input should be a valid string"),
            ("b.yaml", 2, "rules.0.priority: Input should be a valid integer"),
            ("b.yaml", 2, "rules.0.reject"),
        ],
    ),
]


@pytest.mark.parametrize(("title", "files", "expected"), CASES, ids=[c[0] for c in CASES])
def test_invalid(
    rules_dir: Path,
    title: str,
    files: dict[str, str],
    expected: list[tuple[str, int, str]],
) -> None:
    for name, text in files.items():
        (rules_dir / name).write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(rules_dir)
    problems = caught.value.problems
    assert len(problems) == len(expected), problems
    for problem, (file, line, fragment) in zip(problems, expected, strict=True):
        assert problem.startswith(f"{rules_dir / file}:{line}: "), problem
        assert fragment in problem, problem


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="does not exist"):
        load_rules(tmp_path / "nowhere")


def test_pem_of_another_participant(rules_dir: Path, pki: object) -> None:
    from tests.conftest import Pki

    assert isinstance(pki, Pki)
    write(
        rules_dir,
        "p.yaml",
        f"""
        participants:
          dept.finance:
            certificates:
              - pem: {pki["agency.tax"].cert_path}
        """,
    )
    with pytest.raises(RulesError) as caught:
        load_rules(rules_dir)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{rules_dir / 'p.yaml'}:4: certificate ")
    assert "belongs to agency.tax, not dept.finance" in problem
