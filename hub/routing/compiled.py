"""Compiled rules: the models of :mod:`hub.routing.language` turned into fast matchers.

Patterns with their groups expanded (and whether one pattern set covers another, for the
"can never match" warning), XPath compiled once per thread, header conditions, address
templates, and the compiled rules and access rights a :class:`~hub.routing.ruleset.RuleSet`
routes with. :class:`Compiler` builds them and collects every :class:`Problem` it finds
(an unknown or cyclic group) instead of stopping at the first.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import string
import threading
from dataclasses import dataclass
from typing import Any

from lxml import etree

from envelopes.model import Header
from hub.routing.language import (
    AccessRight,
    Group,
    Loc,
    PriorityRange,
    RouteSettings,
    Rule,
    compile_pattern,
    pattern_list,
)

_WILDCARDS = re.compile(r"[*?\[]")


def _pattern_covers(broad: str, narrow: str) -> bool:
    """True when every value ``narrow`` matches is matched by ``broad`` (never a false yes)."""
    if broad == narrow or broad == "*":
        return True
    if narrow.startswith("re:"):
        return False
    if not _WILDCARDS.search(narrow):
        return compile_pattern(broad).fullmatch(narrow) is not None
    if broad.startswith("re:"):
        return False
    if broad.endswith("*") and not _WILDCARDS.search(broad[:-1]):
        return narrow.startswith(broad[:-1])
    if broad.startswith("*") and not _WILDCARDS.search(broad[1:]):
        return narrow.endswith(broad[1:])
    return False


@dataclass(frozen=True)
class _Patterns:
    written: tuple[str, ...]  # as in the file (groups not expanded): for messages
    expanded: tuple[str, ...]
    compiled: tuple[re.Pattern[str], ...]

    def matches(self, value: str) -> bool:
        return any(p.fullmatch(value) for p in self.compiled)

    def covers(self, other: _Patterns) -> bool:
        return all(any(_pattern_covers(b, n) for b in self.expanded) for n in other.expanded)

    def __str__(self) -> str:
        return self.written[0] if len(self.written) == 1 else "[" + ", ".join(self.written) + "]"


def _covers(broad: _Patterns | None, narrow: _Patterns | None) -> bool:
    return broad is None or (narrow is not None and broad.covers(narrow))


_XPATH_CACHE = threading.local()


def _xpath(key: tuple[str, tuple[tuple[str, str], ...]]) -> etree.XPath:
    """A compiled XPath, once per thread (lxml's XPath objects neither pickle nor share)."""
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], etree.XPath] | None = getattr(
        _XPATH_CACHE, "compiled", None
    )
    if cache is None:
        cache = _XPATH_CACHE.compiled = {}
    compiled = cache.get(key)
    if compiled is None:
        compiled = cache[key] = etree.XPath(key[0], namespaces=dict(key[1]))
    return compiled


def _truthy(result: Any) -> bool:
    if isinstance(result, bool):
        return result
    if isinstance(result, int | float):
        return result == result and result != 0  # NaN is false
    return bool(result)


def _text(value: Any) -> str | None:
    """A header value as the text that header conditions match."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class _HeaderCondition:
    name: str
    absent: bool  # the field must be absent
    patterns: _Patterns | None  # the field must be present and match

    def __str__(self) -> str:
        return f"{self.name} absent" if self.absent else f"{self.name} = {self.patterns}"


@dataclass(frozen=True)
class _Template:
    parts: tuple[tuple[str, str | None], ...]  # (literal, placeholder)

    @classmethod
    def of(cls, text: str) -> _Template:
        return cls(tuple((lit, name) for lit, name, _, _ in string.Formatter().parse(text)))

    def render(self, values: dict[str, str]) -> str:
        return "".join(lit + (values[name] if name else "") for lit, name in self.parts)


@dataclass(frozen=True)
class _Target:
    adapter: str
    address: _Template
    settings: RouteSettings


@dataclass(frozen=True)
class CompiledRule:
    name: str
    origin: str
    priority: int
    enabled: bool
    sender: _Patterns | None
    recipient: _Patterns | None
    message_type: _Patterns | None
    kind: _Patterns | None
    priorities: frozenset[int] | None
    test: bool | None
    header: tuple[_HeaderCondition, ...]
    xpath: tuple[str, tuple[tuple[str, str], ...]] | None
    rewrite: str | None
    reject: str | None
    targets: tuple[_Target, ...]
    settings: RouteSettings | None

    @property
    def terminal(self) -> bool:
        return self.reject is not None or bool(self.targets)

    def mismatch(
        self,
        header: Header,
        recipient: str,
        payload: etree._Element | None,
        explain: bool,
    ) -> str | None:
        """None if the rule matches; otherwise why not (only spelled out when explaining)."""
        for name, patterns, value in (
            ("sender", self.sender, header.sender),
            ("recipient", self.recipient, recipient),
            ("message_type", self.message_type, header.message_type),
            ("kind", self.kind, header.kind.value),
        ):
            if patterns is not None and not patterns.matches(value):
                return f"{name} {value!r} is not {patterns}" if explain else name
        if self.priorities is not None and header.priority not in self.priorities:
            return (
                f"priority {header.priority} is not in {sorted(self.priorities)}"
                if explain
                else "priority"
            )
        if self.test is not None and header.test != self.test:
            return f"test is {str(header.test).lower()}" if explain else "test"
        for condition in self.header:
            text = _text(getattr(header, condition.name))
            if condition.absent:
                if text is not None:
                    return f"header {condition.name} is present ({text!r})" if explain else "h"
            elif text is None or condition.patterns is None:
                return f"header {condition.name} is absent" if explain else "h"
            elif not condition.patterns.matches(text):
                return f"header {condition.name} {text!r} is not {condition.patterns}"
        if self.xpath is not None:
            if payload is None:
                return "no payload to evaluate the XPath on"
            try:
                result = _xpath(self.xpath)(payload)
            except etree.XPathError as exc:
                return f"XPath {self.xpath[0]!r} failed: {exc}"
            if not _truthy(result):
                return f"XPath {self.xpath[0]!r} is false" if explain else "xpath"
        return None

    def covers(self, other: CompiledRule) -> bool:
        """Does every message that ``other`` matches also match this rule?"""
        if not (
            _covers(self.sender, other.sender)
            and _covers(self.recipient, other.recipient)
            and _covers(self.message_type, other.message_type)
            and _covers(self.kind, other.kind)
        ):
            return False
        if self.priorities is not None and not (
            other.priorities is not None and other.priorities <= self.priorities
        ):
            return False
        if self.test is not None and self.test != other.test:
            return False
        if not set(self.header) <= set(other.header):
            return False
        return self.xpath is None or self.xpath == other.xpath


@dataclass(frozen=True)
class CompiledRight:
    name: str
    origin: str
    senders: _Patterns
    recipients: _Patterns
    message_types: _Patterns
    kinds: _Patterns | None

    def allows(self, sender: str, recipient: str, message_type: str, kind: str) -> bool:
        return (
            self.senders.matches(sender)
            and self.recipients.matches(recipient)
            and self.message_types.matches(message_type)
            and (self.kinds is None or self.kinds.matches(kind))
        )


@dataclass(frozen=True)
class Problem:
    key: str  # origins key: rule:NAME, group:NAME, right:NAME, participant:ID, access
    loc: Loc  # below the origin
    message: str


class Compiler:
    """Compiles the models of one rule set; ``problems`` collects what is wrong with them.

    Groups are resolved first (nested groups expanded), as rules and rights refer to them;
    ``lines`` gives each item's "file:line" (origins keys: rule:NAME, right:NAME) for messages.
    """

    def __init__(self, groups: dict[str, Group], lines: dict[str, str]) -> None:
        self.groups = groups
        self.lines = lines
        self.problems: list[Problem] = []
        self.group_patterns = self._resolve_groups()

    def _resolve_groups(self) -> dict[str, tuple[str, ...]]:
        resolved: dict[str, tuple[str, ...]] = {}

        def expand(name: str, trail: tuple[str, ...]) -> tuple[str, ...]:
            if name in resolved:
                return resolved[name]
            if name in trail:
                cycle = " → ".join(f"@{g}" for g in (*trail, name))
                self.problems.append(Problem(f"group:{trail[0]}", ("members",), f"cycle: {cycle}"))
                return ()
            patterns: list[str] = []
            for member in self.groups[name].members:
                if not member.startswith("@"):
                    patterns.append(member)
                elif member[1:] not in self.groups:
                    self.problems.append(
                        Problem(f"group:{name}", ("members",), f"unknown group {member!r}")
                    )
                else:
                    patterns.extend(expand(member[1:], (*trail, name)))
            resolved[name] = tuple(dict.fromkeys(patterns))
            return resolved[name]

        for name in self.groups:
            expand(name, ())
        return resolved

    def _patterns(self, value: str | list[str] | None, key: str, loc: Loc) -> _Patterns | None:
        if value is None:
            return None
        written = tuple(pattern_list(value))
        expanded: list[str] = []
        for pattern in written:
            if not pattern.startswith("@"):
                expanded.append(pattern)
            elif pattern[1:] in self.group_patterns:
                expanded.extend(self.group_patterns[pattern[1:]])
            else:
                known = ", ".join("@" + g for g in sorted(self.groups)) or "none declared"
                self.problems.append(
                    Problem(key, loc, f"unknown group {pattern!r} (groups: {known})")
                )
        compiled = tuple(compile_pattern(p) for p in expanded)
        return _Patterns(written, tuple(expanded), compiled)

    def rule(self, rule: Rule) -> CompiledRule:
        key = f"rule:{rule.name}"
        m = rule.match

        def patterns(name: str) -> _Patterns | None:
            return self._patterns(getattr(m, name), key, ("match", name))

        priorities: frozenset[int] | None = None
        if isinstance(m.priority, int):
            priorities = frozenset([m.priority])
        elif isinstance(m.priority, list):
            priorities = frozenset(m.priority)
        elif isinstance(m.priority, PriorityRange):
            priorities = frozenset(range(m.priority.min, m.priority.max + 1))
        header = []
        for name, condition in m.header.items():
            if condition is None:
                header.append(_HeaderCondition(name, True, None))
                continue
            if isinstance(condition, bool | int):
                condition = _text(condition) or ""
            header.append(
                _HeaderCondition(
                    name,
                    False,
                    self._patterns(condition, key, ("match", "header", name)),
                )
            )
        base = rule.settings or RouteSettings()
        return CompiledRule(
            name=rule.name,
            origin=self.lines.get(key, "?"),
            priority=rule.priority,
            enabled=rule.enabled,
            sender=patterns("sender"),
            recipient=patterns("recipient"),
            message_type=patterns("message_type"),
            kind=patterns("kind"),
            priorities=priorities,
            test=m.test,
            header=tuple(header),
            xpath=(m.xpath, tuple(sorted(m.namespaces.items()))) if m.xpath else None,
            rewrite=rule.rewrite.recipient if rule.rewrite else None,
            reject=rule.reject,
            targets=tuple(
                _Target(t.adapter, _Template.of(t.address), base.merged(t.settings))
                for t in rule.deliver
            ),
            settings=rule.settings,
        )

    def right(self, right: AccessRight) -> CompiledRight:
        key = f"right:{right.name}"

        def patterns(name: str) -> _Patterns:
            compiled = self._patterns(getattr(right, name), key, (name,))
            assert compiled is not None
            return compiled

        return CompiledRight(
            name=right.name,
            origin=self.lines.get(key, "?"),
            senders=patterns("senders"),
            recipients=patterns("recipients"),
            message_types=patterns("message_types"),
            kinds=self._patterns(right.kinds, key, ("kinds",)),
        )
