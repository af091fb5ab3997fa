"""What changed between two rule sets, by name, as the store's rules_versions table records it."""

from __future__ import annotations

from typing import Any

from hub.routing.ruleset import RuleSet


def _changes(old: dict[str, Any], new: dict[str, Any], what: str, parts: list[str]) -> None:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    for verb, names in (("added", added), ("removed", removed), ("changed", changed)):
        if names:
            parts.append(f"{what} {verb}: {', '.join(names)}")


def diff_summary(old: RuleSet | None, new: RuleSet) -> str:
    """What changed between two versions, by name: rules, participants, groups, access rights."""
    if old is None:
        count = len(new.access.rights) if new.access else 0
        return (
            f"{len(new.rules)} rules, {len(new.participants)} participants, "
            f"{len(new.groups)} groups, {count} access rights"
        )

    def rules(rs: RuleSet) -> dict[str, Any]:
        return {r.name: (r.model_dump(), file) for file, r in rs.rules}

    def rights(rs: RuleSet) -> dict[str, Any]:
        return {r.name: r.model_dump() for r in (rs.access.rights if rs.access else [])}

    def participants(rs: RuleSet) -> dict[str, Any]:
        return {
            p: (v.model_dump(), sorted(rs.fingerprints.get(p, ())))
            for p, v in rs.participants.items()
        }

    parts: list[str] = []
    _changes(rules(old), rules(new), "rules", parts)
    _changes(participants(old), participants(new), "participants", parts)
    _changes(
        {k: v.model_dump() for k, v in old.groups.items()},
        {k: v.model_dump() for k, v in new.groups.items()},
        "groups",
        parts,
    )
    _changes(rights(old), rights(new), "access rights", parts)
    before = old.access.default if old.access else "none"
    after = new.access.default if new.access else "none"
    if before != after:
        parts.append(f"access default: {before} → {after}")
    old_order = [r.name for _, r in old.rules if r.name in {x.name for _, x in new.rules}]
    new_order = [r.name for _, r in new.rules if r.name in set(old_order)]
    if not parts and old_order != new_order:
        parts.append("rule order changed")
    return "; ".join(parts) or "no change in rules, participants or access (layout only)"


def version_summary(rules: RuleSet, old: RuleSet | None) -> str:
    """What the store's rules_versions table says of a version coming into force.

    ``loaded at start: ...`` when the hub starts with it (old is None), ``replaced OLD: ...``
    when a reload applies it; the rest is :func:`diff_summary`.
    """
    summary = diff_summary(old, rules)
    return f"loaded at start: {summary}" if old is None else f"replaced {old.version}: {summary}"
