"""Version records: what changed between two rule sets, and what each version is recorded with."""

from __future__ import annotations

from pathlib import Path

from hub.routing import diff_summary, load_rules
from hub.store.sqlite import SqliteStore as Store

from .conftest import RULE, record_rules_version, write


def test_diff_summary(rules_dir: Path, tmp_path: Path) -> None:
    write(rules_dir, "r.yaml", (RULE % "keep") + "participants: {dept.a: {}}\n")
    write(rules_dir, "s.yaml", "rules: [{name: gone, reject: old}, {name: edit, reject: v1}]")
    old = load_rules(rules_dir)
    assert diff_summary(None, old) == "3 rules, 1 participants, 0 groups, 0 access rights"
    write(rules_dir, "s.yaml", "rules: [{name: edit, reject: v2}, {name: new, reject: x}]")
    write(rules_dir, "a.yaml", "access: {rights: [{name: r, senders: x.y, recipients: y.z}]}")
    new = load_rules(rules_dir)
    assert diff_summary(old, new) == (
        "rules added: new; rules removed: gone; rules changed: edit; "
        "access rights added: r; access default: none → deny"
    )
    write(tmp_path / "same", "r.yaml", (RULE % "keep") + "participants: {dept.a: {}}\n# note\n")
    write(
        tmp_path / "same", "s.yaml", "rules: [{name: gone, reject: old}, {name: edit, reject: v1}]"
    )
    assert "layout only" in diff_summary(old, load_rules(tmp_path / "same"))


async def test_record_rules_version(rules_dir: Path, tmp_path: Path) -> None:
    write(rules_dir, "r.yaml", RULE % "one")
    one = load_rules(rules_dir)
    write(rules_dir, "r.yaml", RULE % "two")
    two = load_rules(rules_dir)
    store = await Store.open(tmp_path / "hub.sqlite")
    try:
        await record_rules_version(store, one, None, "t1")
        await record_rules_version(store, one, None, "t1b")  # a restart
        await record_rules_version(store, two, one, "t2")
        await record_rules_version(store, one, two, "t3")  # a revert
        rows = await store.rules_versions()
    finally:
        await store.close()
    assert [(r.version, r.applied_at, r.summary) for r in rows] == [
        (two.version, "t2", f"replaced {one.version}: rules added: two; rules removed: one"),
        (one.version, "t3", f"replaced {two.version}: rules added: one; rules removed: two"),
    ]
