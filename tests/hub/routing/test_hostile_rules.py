"""What the fuzzers found in the rule-file reader (issue 20), each kept fixed by its class.

A recursive alias, nesting thousands deep and a 5,000-digit integer raised (RecursionError,
ValueError) instead of a RulesError; nested aliases expanded exponentially; the lint of
``hub routes check`` was quadratic (cubic, in fact) in the number of rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.routing import RulesError, load_rules
from hub.routing.bounded_yaml import MAX_DEPTH, MAX_EXPANDED_NODES, MAX_INT_DIGITS
from hub.routing.compiled import CompiledRule


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


OK = "deliver: [{adapter: internal, address: dept.land}]"


def laughs(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


CASES = {
    "recursive alias": ("rules: &r\n  - *r\n", "an alias refers to a node containing it"),
    "recursive mapping": ("x: &m {y: *m}\n", "an alias refers to a node containing it"),
    "deep flow": ("rules: " + "[" * 5_000 + "]" * 5_000 + "\n", "nest"),
    "deep block": ("".join("  " * i + "-\n" for i in range(MAX_DEPTH + 5)), "nest"),
    "deep mapping": ("".join("  " * i + f"k{i}:\n" for i in range(3_000)), "nest"),
    "5,000 digits": (
        f"rules:\n  - name: x\n    priority: {'9' * 5_000}\n    {OK}\n",
        f"at most {MAX_INT_DIGITS}",
    ),
    "hex digits": (f"rules:\n  - name: x\n    priority: 0x{'f' * 5_000}\n    {OK}\n", "number"),
    "alias fan-out": (laughs(9), f"more than {MAX_EXPANDED_NODES} nodes"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_yaml_is_a_rules_error_naming_file_and_cause(tmp_path: Path, name: str) -> None:
    text, cause = CASES[name]
    write(tmp_path, {"a.yaml": text})
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path)
    assert "a.yaml" in str(caught.value) and cause in str(caught.value)


def test_aliases_within_the_bounds_still_work(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": "rules:\n  - name: x\n    deliver: &d [{adapter: internal, address: "
            "dept.land}]\n  - name: y\n    priority: 5\n    match: {sender: dept.finance}\n"
            "    deliver: *d\n"
        },
    )
    assert [r.name for _, r in load_rules(tmp_path).rules] == ["y", "x"]


def test_the_lint_compares_few_pairs_of_rules_naming_their_senders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400 rules, each for its own sender: the lint compared all 80,000 pairs (1.2 s); it now
    compares only the rules that could cover each other, and still finds the shadowed one."""
    rules = "".join(
        f"  - name: r{i}\n    priority: {1000 - i}\n    match: {{sender: dept.s{i}}}\n    {OK}\n"
        for i in range(400)
    )
    shadowed = f"  - name: late\n    priority: 1\n    match: {{sender: dept.s7}}\n    {OK}\n"
    write(tmp_path, {"a.yaml": "rules:\n" + rules + shadowed})
    ruleset = load_rules(tmp_path)
    calls = 0
    covers = CompiledRule.covers

    def counting(self: CompiledRule, other: CompiledRule) -> bool:
        nonlocal calls
        calls += 1
        return covers(self, other)

    monkeypatch.setattr(CompiledRule, "covers", counting)
    warnings = ruleset.warnings()
    assert any("'late' can never match" in w and "'r7'" in w for w in warnings)
    assert calls <= 2 * 401
