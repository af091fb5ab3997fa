"""Routing rules: which destination(s) a message goes to, or why it is refused.

Rules live in YAML files under ``routing_rules/``; each file holds ``rules:`` (a list). A rule
matches on header fields (exact values or shell-style patterns such as ``dept.*``) and either
delivers to destinations or rejects with a reason. Rules are tried by descending ``priority``,
then by file and position; the first match decides. Address templates may use ``{recipient}``,
``{sender}`` and ``{message_type}``.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envelopes.model import Header
from hub.abc import Destination


class RulesError(Exception):
    """A rule file cannot be used; the message names the file, line and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Pattern = str | list[str]


class Match(_Strict):
    sender: Pattern | None = None
    recipient: Pattern | None = None
    message_type: Pattern | None = None
    kind: Pattern | None = None

    def matches(self, header: Header) -> bool:
        values = {
            "sender": header.sender,
            "recipient": header.recipient,
            "message_type": header.message_type,
            "kind": header.kind.value,
        }
        for name, value in values.items():
            pattern = getattr(self, name)
            if pattern is None:
                continue
            patterns = [pattern] if isinstance(pattern, str) else pattern
            if not any(fnmatch.fnmatchcase(value, p) for p in patterns):
                return False
        return True


class Target(_Strict):
    adapter: str = Field(min_length=1)
    address: str = Field(min_length=1)


class Rule(_Strict):
    name: str = Field(min_length=1)
    priority: int = 0
    match: Match = Field(default_factory=Match)
    deliver: list[Target] = Field(default_factory=list)
    reject: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Rule:
        if bool(self.deliver) == bool(self.reject):
            raise ValueError("a rule needs exactly one action: 'deliver' (a list) or 'reject'")
        return self


class RuleFile(_Strict):
    rules: list[Rule]


@dataclass(frozen=True)
class Decision:
    """What routing decided, and which rule decided it."""

    destinations: tuple[Destination, ...] = ()
    rule: str | None = None
    rejection: str | None = None

    @property
    def rejected(self) -> bool:
        return self.rejection is not None


@dataclass
class RuleSet:
    """An immutable, validated set of rules with the hash that names its version."""

    rules: list[tuple[str, Rule]] = field(default_factory=list)
    version: str = "empty"

    def route(self, header: Header) -> Decision:
        for _, rule in self.rules:
            if not rule.match.matches(header):
                continue
            if rule.reject:
                return Decision(rule=rule.name, rejection=f"rule {rule.name!r}: {rule.reject}")
            values = {
                "recipient": header.recipient,
                "sender": header.sender,
                "message_type": header.message_type,
            }
            destinations = tuple(
                Destination(t.adapter, t.address.format(**values)) for t in rule.deliver
            )
            return Decision(destinations=destinations, rule=rule.name)
        return Decision(
            rejection=f"no routing rule matches sender {header.sender!r}, recipient "
            f"{header.recipient!r}, type {header.message_type!r}"
        )

    def adapters(self) -> set[str]:
        return {t.adapter for _, r in self.rules for t in r.deliver}


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a pydantic error location in YAML text."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    for key in loc:
        if node is None:
            return None
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        else:
            break
    return node.start_mark.line + 1 if node is not None else None


def load_rules(directory: str | Path) -> RuleSet:
    """Read and validate every ``*.yaml``/``*.yml`` in directory; RulesError on any problem."""
    folder = Path(directory)
    if not folder.is_dir():
        raise RulesError(f"{folder}: routing rules folder does not exist")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    digest = hashlib.sha256()
    collected: list[tuple[int, int, str, Rule]] = []
    problems: list[str] = []
    for file_index, path in enumerate(files):
        text = path.read_text(encoding="utf-8")
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problems.append(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}")
            continue
        try:
            parsed = RuleFile.model_validate(data if data is not None else {"rules": []})
        except ValidationError as exc:
            for error in exc.errors():
                line = _line_of(text, tuple(error["loc"]))
                where = f"{path}:{line}" if line else str(path)
                key = ".".join(str(p) for p in error["loc"])
                problems.append(f"{where}: {key}: {error['msg']}")
            continue
        for position, rule in enumerate(parsed.rules):
            collected.append((-rule.priority, file_index * 10000 + position, path.name, rule))
    if problems:
        raise RulesError("\n".join(problems))
    collected.sort(key=lambda item: (item[0], item[1]))
    names = [rule.name for *_, rule in collected]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RulesError(f"{folder}: rule names must be unique; repeated: {', '.join(duplicates)}")
    return RuleSet(
        rules=[(file, rule) for _, _, file, rule in collected],
        version=digest.hexdigest()[:12],
    )
