"""Routing rules: where a message goes, who may send what to whom, and why a message is refused.

Every ``*.yaml``/``*.yml`` file of the rules folder (``routing_rules/``) may hold four sections
(docs/routing.md is the reference, ``routing_rules/schema.json`` the JSON Schema for editors):

- ``rules``: ordered by descending ``priority`` (then file name, then position). A rule matches
  on header fields (exact values, shell-style patterns such as ``dept.*``, ``re:`` regular
  expressions, ``@group`` references), on any header value and optionally on an XPath over the
  payload. It delivers to one or more destinations (fan-out), rejects with a reason, and/or
  rewrites the recipient; a rule that only rewrites lets the following rules see the new
  recipient. The first rule that delivers or rejects decides.
- ``participants`` and ``groups``: who exists, with the certificates they sign with.
- ``access``: X-Road style access rights. Once declared, a message a rule would deliver is
  rejected unless some right lets its sender send its type to its (final) recipient.

A :class:`RuleSet` is immutable and picklable (it travels to the worker processes with every
batch, so its pickled form is computed once and unpickling is cached per process); its
``version`` is the hash of everything it was built from.
"""

from __future__ import annotations

import datetime as dt
import enum
import fnmatch
import hashlib
import pickle
import re
import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from envelopes.model import PARTICIPANT_PATTERN, Header, Kind, ParticipantId
from envelopes.pki import participant_ids
from hub.abc import Destination

__all__ = [
    "Access",
    "AccessRight",
    "CheckReport",
    "Decision",
    "Explanation",
    "Group",
    "Match",
    "Participant",
    "RouteSettings",
    "Rule",
    "RuleFile",
    "RuleSet",
    "RulesError",
    "Step",
    "Target",
    "check_rules",
    "content_digest",
    "diff_summary",
    "load_rules",
    "rule_files",
    "rules_json_schema",
    "version_summary",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
GROUP_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
ADAPTER_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
TEMPLATE_FIELDS = (
    "recipient",
    "original_recipient",
    "sender",
    "message_type",
    "kind",
    "message_id",
)
HEADER_FIELDS = tuple(Header.model_fields)
KINDS = tuple(k.value for k in Kind)
_PARTICIPANT = re.compile(PARTICIPANT_PATTERN)
_EMAIL = re.compile(r"^[^@\s{}]+@[^@\s{}]+\.[^@\s{}]+$")
_GROUP_MEMBER = re.compile(r"^(@[a-z][a-z0-9_-]*|[a-z0-9_.*?\[\]!-]+)$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

Loc = tuple[str | int, ...]
Locate = Callable[[str, Loc], str]


class RulesError(Exception):
    """A rule file cannot be used; each line names the file, the line and the problem."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# ------------------------------------------------------------------------------ the language
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        found = _DURATION.match(value)
        if not found:
            raise ValueError(f"{value!r} is not a duration (seconds, or like 30s, 5m, 2h, 1d)")
        return float(found[1]) * _UNITS[found[2]]
    return value


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    Field(gt=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhd]?\s*$"},
            ],
            "description": "seconds, or a number with a unit: 30s, 5m, 2h, 1d",
        }
    ),
]

Patterns = Annotated[
    str | Annotated[list[str], Field(min_length=1)],
    Field(
        description="a value or a list of alternatives; each is an exact value, a shell pattern "
        "(*, ?, [..]), a regular expression after 're:' or, for participants, '@group'"
    ),
]


def _pattern_list(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _check_patterns(value: str | list[str] | None, *, groups: bool) -> None:
    for pattern in _pattern_list(value):
        if not pattern:
            raise ValueError("an empty pattern matches nothing")
        if pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as exc:
                raise ValueError(f"{pattern!r}: not a regular expression ({exc})") from None
        elif pattern.startswith("@"):
            if not groups:
                raise ValueError(f"{pattern!r}: groups name participants, not this field")
            if not re.match(GROUP_PATTERN, pattern[1:]):
                raise ValueError(f"{pattern!r}: not a group name (like @departments)")


def _check_kinds(value: str | list[str] | None) -> None:
    for pattern in _pattern_list(value):
        if not any(_compile_pattern(pattern).fullmatch(k) for k in KINDS):
            raise ValueError(f"{pattern!r} matches no kind ({', '.join(KINDS)})")


def _template_fields(template: str) -> list[str]:
    """The placeholders of an address template; ValueError for anything but plain names."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{template!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(
                f"{template!r}: unknown placeholder {{{name}}} "
                f"(allowed: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
            )
        names.append(name)
    return names


class RouteSettings(_Strict):
    """Per-route delivery settings; anything left out falls back to hub.toml's [retry]."""

    max_attempts: int | None = Field(default=None, ge=1, le=1000)
    base_delay: Duration | None = None
    max_delay: Duration | None = None
    max_age: Duration | None = Field(
        default=None, description="give up retrying this long after the first attempt"
    )
    ttl: Duration | None = Field(
        default=None, description="ExpiresAt default (Created + ttl) when the sender set none"
    )
    priority: int | None = Field(default=None, ge=0, le=9, description="delivery priority")

    @model_validator(mode="after")
    def _delays(self) -> RouteSettings:
        if self.base_delay and self.max_delay and self.base_delay > self.max_delay:
            raise ValueError("base_delay is longer than max_delay")
        return self

    def merged(self, over: RouteSettings | None) -> RouteSettings:
        """These settings with ``over``'s values taking precedence."""
        if over is None:
            return self
        data = self.model_dump(exclude_none=True)
        data.update(over.model_dump(exclude_none=True))
        return RouteSettings.model_validate(data)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Target(_Strict):
    """One destination: a configured adapter and an address (templates allowed)."""

    adapter: str = Field(
        pattern=ADAPTER_PATTERN, description="adapter name in hub.toml: internal, smev, email..."
    )
    address: str = Field(
        min_length=1,
        max_length=512,
        description="department inbox, SMEV mnemonic, email address...; may use {recipient}, "
        "{original_recipient}, {sender}, {message_type}, {kind}, {message_id}",
    )
    settings: RouteSettings | None = None

    @model_validator(mode="after")
    def _address(self) -> Target:
        fields = _template_fields(self.address)
        if self.adapter == "email" and not fields and not _EMAIL.match(self.address):
            raise ValueError(f"address {self.address!r} is not an email address")
        if self.adapter == "internal" and not fields and not _PARTICIPANT.match(self.address):
            raise ValueError(f"address {self.address!r} is not a participant id (internal inbox)")
        return self


class PriorityRange(_Strict):
    min: int = Field(default=0, ge=0, le=9)
    max: int = Field(default=9, ge=0, le=9)

    @model_validator(mode="after")
    def _order(self) -> PriorityRange:
        if self.min > self.max:
            raise ValueError("min is above max")
        return self


HeaderValue = str | list[str] | bool | int | None


class Match(_Strict):
    """Conditions on a message; all given ones must hold. Nothing given matches everything."""

    sender: Patterns | None = None
    recipient: Patterns | None = Field(
        default=None, description="the recipient as rewritten by earlier rules"
    )
    message_type: Patterns | None = Field(
        default=None, description="{namespace}LocalName, e.g. '{urn:...:memo:1.0}Memo' or '*}Memo'"
    )
    kind: Patterns | None = Field(default=None, description=" | ".join(KINDS))
    priority: int | list[int] | PriorityRange | None = Field(
        default=None, description="the header's Priority (0-9); messages without one never match"
    )
    test: bool | None = Field(default=None, description="the header's Test flag")
    header: dict[str, HeaderValue] = Field(
        default_factory=dict,
        description="any Header field (message_id, created, correlation_id, conversation_id, "
        "expires_at, ...): patterns on its text; null = absent, '*' = present",
    )
    namespaces: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][\w.-]*$")], str] = Field(
        default_factory=dict, description="prefixes used in xpath"
    )

    xpath: str | None = Field(
        default=None,
        description="XPath 1.0 evaluated with the payload's root element as context node; "
        "matches if the result is true, a non-empty node set or string, or a non-zero number",
    )

    @field_validator("sender", "recipient")
    @classmethod
    def _participants(cls, value: str | list[str] | None) -> str | list[str] | None:
        _check_patterns(value, groups=True)
        return value

    @field_validator("message_type")
    @classmethod
    def _types(cls, value: str | list[str] | None) -> str | list[str] | None:
        _check_patterns(value, groups=False)
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | list[str] | None) -> str | list[str] | None:
        _check_patterns(value, groups=False)
        _check_kinds(value)
        return value

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        for p in value if isinstance(value, list) else [value] if isinstance(value, int) else []:
            if not 0 <= p <= 9:
                raise ValueError(f"priority {p} is outside 0-9")
        return value

    @field_validator("header")
    @classmethod
    def _header(cls, value: dict[str, HeaderValue]) -> dict[str, HeaderValue]:
        for name, condition in value.items():
            if name not in HEADER_FIELDS:
                raise ValueError(f"{name!r} is not a header field ({', '.join(HEADER_FIELDS)})")
            if isinstance(condition, str | list):
                _check_patterns(condition, groups=False)
        return value

    @field_validator("xpath")
    @classmethod
    def _xpath(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            problem = _xpath_problem(value, info.data.get("namespaces") or {})
            if problem:
                raise ValueError(f"{value!r}: {problem}")
        return value

    @model_validator(mode="after")
    def _namespaces(self) -> Match:
        if self.namespaces and self.xpath is None:
            raise ValueError("namespaces without xpath")
        return self


class Rewrite(_Strict):
    recipient: ParticipantId = Field(description="the recipient's current address")


class Rule(_Strict):
    """A routing rule: conditions and what to do with a message that meets them."""

    name: str = Field(pattern=NAME_PATTERN, description="unique over all files")
    description: str | None = None
    priority: int = Field(
        default=0, ge=-1_000_000, le=1_000_000, description="higher is tried first"
    )
    enabled: bool = True
    match: Match = Field(default_factory=Match)
    rewrite: Rewrite | None = Field(
        default=None, description="alone: rewrite and go on with the next rules"
    )
    deliver: list[Target] = Field(default_factory=list, description="fan-out: one copy each")
    reject: str | None = Field(default=None, min_length=1, description="the reason, for receipts")
    settings: RouteSettings | None = None

    @model_validator(mode="after")
    def _actions(self) -> Rule:
        if self.deliver and self.reject:
            raise ValueError("a rule either delivers or rejects, not both")
        if not (self.deliver or self.reject or self.rewrite):
            raise ValueError("a rule needs an action: 'deliver' (a list), 'reject' or 'rewrite'")
        if self.reject and self.rewrite:
            raise ValueError("a rejecting rule cannot rewrite the recipient")
        if self.settings is not None and not self.deliver:
            raise ValueError("'settings' only applies to a rule that delivers")
        return self


class CertificateRef(_Strict):
    """A certificate the participant signs with: a PEM file or its SHA-256 fingerprint."""

    pem: str | None = Field(default=None, description="path, relative to the rules folder")
    sha256: str | None = Field(
        default=None, description="fingerprint of the DER certificate: 64 hex digits"
    )

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = re.sub(r"[\s:]", "", value).lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digits):
            raise ValueError("not a SHA-256 fingerprint (64 hex digits, colons allowed)")
        return digits

    @model_validator(mode="after")
    def _one(self) -> CertificateRef:
        if (self.pem is None) == (self.sha256 is None):
            raise ValueError("give exactly one of 'pem' and 'sha256'")
        return self


class Participant(_Strict):
    name: str | None = None
    kind: Literal["department", "agency", "hub", "external"] | None = None
    description: str | None = None
    certificates: list[CertificateRef] = Field(
        default_factory=list,
        description="if given, only these certificates may sign for the participant",
    )


class Group(_Strict):
    description: str | None = None
    members: list[str] = Field(
        min_length=1, description="participant ids, patterns such as 'dept.*', or '@group'"
    )

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        for member in value:
            if not _GROUP_MEMBER.match(member):
                raise ValueError(f"{member!r} is not a participant id, pattern or @group")
        return value


class AccessRight(_Strict):
    """Senders may send these message types (and kinds) to these recipients."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    senders: Patterns
    recipients: Patterns
    message_types: Patterns = "*"
    kinds: Patterns | None = None

    @field_validator("senders", "recipients")
    @classmethod
    def _participants(cls, value: str | list[str]) -> str | list[str]:
        _check_patterns(value, groups=True)
        return value

    @field_validator("message_types")
    @classmethod
    def _types(cls, value: str | list[str]) -> str | list[str]:
        _check_patterns(value, groups=False)
        return value

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: str | list[str] | None) -> str | list[str] | None:
        _check_patterns(value, groups=False)
        _check_kinds(value)
        return value


class Access(_Strict):
    default: Literal["deny", "allow"] = Field(
        default="deny", description="what happens to a message no right allows"
    )
    rights: list[AccessRight] = Field(default_factory=list)


class RuleFile(_Strict):
    """One file of the rules folder; every section is optional."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Interagency hub routing rules",
        json_schema_extra={"$comment": "docs/routing.md describes the language"},
    )

    rules: list[Rule] = Field(default_factory=list)
    participants: dict[ParticipantId, Participant] = Field(default_factory=dict)
    groups: dict[Annotated[str, StringConstraints(pattern=GROUP_PATTERN)], Group] = Field(
        default_factory=dict
    )
    access: Access | None = None

    @field_validator("participants", mode="before")
    @classmethod
    def _empty_participants(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {} if v is None else v for k, v in value.items()}
        return value


def rules_json_schema() -> dict[str, Any]:
    """The JSON Schema of a rules file (routing_rules/schema.json), for editors."""
    schema = RuleFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# ------------------------------------------------------------------------------ compilation
def _compile_pattern(pattern: str) -> re.Pattern[str]:
    if pattern.startswith("re:"):
        return re.compile(pattern[3:])
    return re.compile(fnmatch.translate(pattern))


_WILDCARDS = re.compile(r"[*?\[]")


def _pattern_covers(broad: str, narrow: str) -> bool:
    """True when every value ``narrow`` matches is matched by ``broad`` (never a false yes)."""
    if broad == narrow or broad == "*":
        return True
    if narrow.startswith("re:"):
        return False
    if not _WILDCARDS.search(narrow):
        return _compile_pattern(broad).fullmatch(narrow) is not None
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


def _xpath_problem(expression: str, namespaces: dict[str, str]) -> str | None:
    try:
        compiled = etree.XPath(expression, namespaces=namespaces)
        compiled(etree.Element("probe"))
    except etree.XPathError as exc:
        return str(exc) or type(exc).__name__
    return None


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
class _Rule:
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
        self, header: Header, recipient: str, payload: etree._Element | None, explain: bool
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

    def covers(self, other: _Rule) -> bool:
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
class _Right:
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


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Decision:
    """What routing decided, and which rule (and access right) decided it."""

    destinations: tuple[Destination, ...] = ()
    rule: str | None = None
    rejection: str | None = None
    code: str | None = None  # route_rejected | no_route | access_denied (None: deliver)
    recipient: str | None = None  # the recipient as rewritten by the rules; None: unchanged
    settings: RouteSettings | None = None  # the deciding rule's settings
    destination_settings: tuple[RouteSettings, ...] = ()  # per destination, rule + target merged
    access: str | None = None  # the access right that allowed delivery ("default: allow"...)
    matched: tuple[str, ...] = ()  # every rule that matched, in order (rewrites included)

    @property
    def rejected(self) -> bool:
        return self.rejection is not None

    def settings_for(self, destination: Destination) -> RouteSettings:
        """The settings that apply to one destination (empty when nothing is overridden)."""
        for candidate, settings in zip(self.destinations, self.destination_settings, strict=False):
            if candidate == destination:
                return settings
        return self.settings or RouteSettings()

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": "reject" if self.rejected or not self.destinations else "deliver",
            "rule": self.rule,
            "code": self.code,
            "rejection": self.rejection,
            "recipient": self.recipient,
            "access": self.access,
            "matched": list(self.matched),
            "destinations": [
                {"adapter": d.adapter, "address": d.address, "settings": s.as_dict()}
                for d, s in zip(
                    self.destinations,
                    self.destination_settings or [RouteSettings()] * len(self.destinations),
                    strict=True,
                )
            ],
        }


@dataclass(frozen=True)
class Step:
    """One rule's part in an explanation."""

    rule: str
    origin: str  # file:line
    priority: int
    result: str  # matched | rewrote | decided | no match | disabled | also matches
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "origin": self.origin,
            "priority": self.priority,
            "result": self.result,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Explanation:
    steps: tuple[Step, ...]
    decision: Decision

    @property
    def matched(self) -> list[str]:
        return list(self.decision.matched)


@dataclass(frozen=True)
class _Problem:
    key: str  # origins key: rule:NAME, group:NAME, right:NAME, participant:ID, access
    loc: Loc  # below the origin
    message: str


# ---------------------------------------------------------------------------------- rule set
_RESTORED: dict[str, RuleSet] = {}
_RESTORED_LOCK = threading.Lock()


def _restore(key: str, data: bytes) -> RuleSet:
    """Unpickle a rule set, once per process and version (batches carry the same set)."""
    with _RESTORED_LOCK:
        found = _RESTORED.get(key)
    if found is not None:
        return found
    rules = RuleSet(**pickle.loads(data))
    with _RESTORED_LOCK:
        if len(_RESTORED) >= 4:
            _RESTORED.pop(next(iter(_RESTORED)))
        _RESTORED[key] = rules
    return rules


@dataclass
class RuleSet:
    """An immutable, validated set of rules with the hash that names its version."""

    rules: list[tuple[str, Rule]] = field(default_factory=list)
    version: str = "empty"
    participants: dict[str, Participant] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    access: Access | None = None
    fingerprints: dict[str, frozenset[str]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # files outside the folder it depends on (PEM certificates)
    source_digest: str = ""  # content_digest of exactly what was read (see hub.rules_watch)
    # where each item was declared: key (rule:NAME, group:NAME, right:NAME, participant:ID,
    # access) → (file name, YAML path) and → "file:line" for messages
    origins: dict[str, tuple[str, Loc]] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)
    locate: InitVar[Locate | None] = None
    _pickled: tuple[str, bytes] | None = field(default=None, init=False, repr=False, compare=False)
    _group_patterns: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _compiled: tuple[_Rule, ...] = field(default=(), init=False, repr=False, compare=False)
    _rights: tuple[_Right, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self, locate: Locate | None) -> None:
        positions: dict[str, int] = {}
        for file, rule in self.rules:
            index = positions.get(file, 0)
            positions[file] = index + 1
            self.origins.setdefault(f"rule:{rule.name}", (file, ("rules", index)))
        for key, (file, _) in self.origins.items():
            self.lines.setdefault(key, file)
        self._pickled = None
        problems: list[_Problem] = []
        self._group_patterns = self._resolve_groups(problems)
        self._compiled = tuple(self._compile_rule(r, problems) for _, r in self.rules)
        self._rights = tuple(
            self._compile_right(r, problems) for r in (self.access.rights if self.access else [])
        )
        if problems:
            raise RulesError([self._where(p, locate) for p in problems])

    # -- building
    def _where(self, problem: _Problem, locate: Locate | None) -> str:
        file, loc = self.origins.get(problem.key, ("?", ()))
        where = locate(file, loc + problem.loc) if locate else file
        kind, _, name = problem.key.partition(":")
        what = {"right": "access right"}.get(kind, kind)
        return f"{where}: {what} {name!r}: {problem.message}"

    def _resolve_groups(self, problems: list[_Problem]) -> dict[str, tuple[str, ...]]:
        resolved: dict[str, tuple[str, ...]] = {}

        def expand(name: str, trail: tuple[str, ...]) -> tuple[str, ...]:
            if name in resolved:
                return resolved[name]
            if name in trail:
                cycle = " → ".join(f"@{g}" for g in (*trail, name))
                problems.append(_Problem(f"group:{trail[0]}", ("members",), f"cycle: {cycle}"))
                return ()
            patterns: list[str] = []
            for member in self.groups[name].members:
                if not member.startswith("@"):
                    patterns.append(member)
                elif member[1:] not in self.groups:
                    problems.append(
                        _Problem(f"group:{name}", ("members",), f"unknown group {member!r}")
                    )
                else:
                    patterns.extend(expand(member[1:], (*trail, name)))
            resolved[name] = tuple(dict.fromkeys(patterns))
            return resolved[name]

        for name in self.groups:
            expand(name, ())
        return resolved

    def _patterns(
        self, value: str | list[str] | None, key: str, loc: Loc, problems: list[_Problem]
    ) -> _Patterns | None:
        if value is None:
            return None
        written = tuple(_pattern_list(value))
        expanded: list[str] = []
        for pattern in written:
            if not pattern.startswith("@"):
                expanded.append(pattern)
            elif pattern[1:] in self._group_patterns:
                expanded.extend(self._group_patterns[pattern[1:]])
            else:
                known = ", ".join("@" + g for g in sorted(self.groups)) or "none declared"
                problems.append(_Problem(key, loc, f"unknown group {pattern!r} (groups: {known})"))
        compiled = tuple(_compile_pattern(p) for p in expanded)
        return _Patterns(written, tuple(expanded), compiled)

    def _compile_rule(self, rule: Rule, problems: list[_Problem]) -> _Rule:
        key = f"rule:{rule.name}"
        m = rule.match

        def patterns(name: str) -> _Patterns | None:
            return self._patterns(getattr(m, name), key, ("match", name), problems)

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
                    name, False, self._patterns(condition, key, ("match", "header", name), problems)
                )
            )
        base = rule.settings or RouteSettings()
        return _Rule(
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

    def _compile_right(self, right: AccessRight, problems: list[_Problem]) -> _Right:
        key = f"right:{right.name}"

        def patterns(name: str) -> _Patterns:
            compiled = self._patterns(getattr(right, name), key, (name,), problems)
            assert compiled is not None
            return compiled

        return _Right(
            name=right.name,
            origin=self.lines.get(key, "?"),
            senders=patterns("senders"),
            recipients=patterns("recipients"),
            message_types=patterns("message_types"),
            kinds=self._patterns(right.kinds, key, ("kinds",), problems),
        )

    # -- pickling: computed once per set, unpickled once per process
    def __reduce__(self) -> tuple[Any, ...]:
        if self._pickled is None:
            state = {
                "rules": self.rules,
                "version": self.version,
                "participants": self.participants,
                "groups": self.groups,
                "access": self.access,
                "fingerprints": self.fingerprints,
                "sources": self.sources,
                "source_digest": self.source_digest,
                "origins": self.origins,
                "lines": self.lines,
            }
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
            self._pickled = (self.version + ":" + hashlib.sha256(data).hexdigest(), data)
        return (_restore, self._pickled)

    # -- queries
    def adapters(self) -> set[str]:
        return {t.adapter for _, r in self.rules for t in r.deliver}

    def group_members(self, group: str) -> tuple[str, ...]:
        """The ids and patterns a group stands for (nested groups expanded)."""
        return self._group_patterns.get(group.removeprefix("@"), ())

    def in_group(self, participant: str, group: str) -> bool:
        return any(_compile_pattern(p).fullmatch(participant) for p in self.group_members(group))

    def check_certificate(self, participant_id: str, cert: bytes | x509.Certificate) -> str | None:
        """None if the certificate may sign for the participant, else the reason it may not.

        Only participants that declare certificates are checked; others accept any certificate
        the trust store accepts. ``cert`` is DER bytes or a loaded certificate.
        """
        declared = self.fingerprints.get(participant_id)
        if not declared:
            return None
        if isinstance(cert, x509.Certificate):
            der = cert.public_bytes(serialization.Encoding.DER)
        else:
            der = bytes(cert)
        fingerprint = hashlib.sha256(der).hexdigest()
        if fingerprint in declared:
            return None
        try:
            loaded = (
                cert if isinstance(cert, x509.Certificate) else x509.load_der_x509_certificate(der)
            )
            who = (
                f"certificate {loaded.subject.rfc4514_string()!r} "
                f"(serial {loaded.serial_number:x}, SHA-256 {fingerprint})"
            )
        except ValueError:
            who = f"certificate with SHA-256 {fingerprint}"
        where = self.lines.get(f"participant:{participant_id}", "the participants declaration")
        return (
            f"{who} is not registered for {participant_id} ({where} declares "
            f"{len(declared)} other certificate{'s' if len(declared) != 1 else ''})"
        )

    def check_access(
        self, sender: str, recipient: str, message_type: str, kind: str
    ) -> tuple[bool, str]:
        """(allowed, the right or policy that decided) under the access rights."""
        if self.access is None:
            return True, "no access rights declared"
        for right in self._rights:
            if right.allows(sender, recipient, message_type, kind):
                return True, right.name
        where = self.lines.get("access", "access")
        if self.access.default == "allow":
            return True, f"default: allow ({where})"
        return False, (
            f"access denied: no access right lets {sender} send {message_type} ({kind}) to "
            f"{recipient}; the access policy's default is deny ({where})"
        )

    def route(self, header: Header, payload: etree._Element | None = None) -> Decision:
        """Decide for one message; ``payload`` (the payload element) is needed by XPath rules."""
        return self._run(header, payload, None)

    def explain(self, header: Header, payload: etree._Element | None = None) -> Explanation:
        """Decide as :meth:`route` does, recording what every rule made of the message."""
        steps: list[Step] = []
        decision = self._run(header, payload, steps)
        return Explanation(tuple(steps), decision)

    def _run(
        self, header: Header, payload: etree._Element | None, steps: list[Step] | None
    ) -> Decision:
        explain = steps is not None
        recipient = header.recipient
        matched: list[str] = []
        decision: Decision | None = None
        for rule in self._compiled:
            if decision is not None and steps is None:
                break

            def note(result: str, detail: str, rule: _Rule = rule) -> None:
                if steps is not None:
                    steps.append(Step(rule.name, rule.origin, rule.priority, result, detail))

            if not rule.enabled:
                note("disabled", "enabled: false")
                continue
            why = rule.mismatch(header, recipient, payload, explain)
            if decision is not None:
                if why is None:
                    note("also matches", f"but {decision.rule!r} decided first")
                else:
                    note("no match", why)
                continue
            if why is not None:
                note("no match", why)
                continue
            matched.append(rule.name)
            rewrote = ""
            if rule.rewrite is not None and rule.rewrite != recipient:
                rewrote = f"recipient {recipient} → {rule.rewrite}"
                recipient = rule.rewrite
            if rule.reject is not None:
                decision = Decision(
                    rule=rule.name,
                    rejection=f"rule {rule.name!r}: {rule.reject}",
                    code="route_rejected",
                    recipient=recipient if recipient != header.recipient else None,
                    matched=tuple(matched),
                )
                note("decided", f"reject: {rule.reject}")
            elif rule.targets:
                decision = self._deliver(rule, header, recipient, tuple(matched))
                detail = (
                    f"deliver to {', '.join(map(str, decision.destinations))}"
                    if not decision.rejected
                    else f"would deliver, but {decision.rejection}"
                )
                note("decided", "; ".join(filter(None, [rewrote, detail])))
            else:
                note("rewrote", rewrote or f"recipient already {recipient}")
        if decision is None:
            rewritten = (
                f" (rewritten from {header.recipient!r})" if recipient != header.recipient else ""
            )
            decision = Decision(
                rejection=f"no routing rule matches sender {header.sender!r}, recipient "
                f"{recipient!r}{rewritten}, type {header.message_type!r}",
                code="no_route",
                recipient=recipient if recipient != header.recipient else None,
                matched=tuple(matched),
            )
        return decision

    def _deliver(
        self, rule: _Rule, header: Header, recipient: str, matched: tuple[str, ...]
    ) -> Decision:
        rewritten = recipient if recipient != header.recipient else None
        allowed, by = self.check_access(
            header.sender, recipient, header.message_type, header.kind.value
        )
        if not allowed:
            return Decision(
                rule=rule.name,
                rejection=by,
                code="access_denied",
                recipient=rewritten,
                matched=matched,
            )
        values = {
            "recipient": recipient,
            "original_recipient": header.recipient,
            "sender": header.sender,
            "message_type": header.message_type,
            "kind": header.kind.value,
            "message_id": str(header.message_id),
        }
        chosen: dict[Destination, RouteSettings] = {}
        for target in rule.targets:
            destination = Destination(target.adapter, target.address.render(values))
            chosen.setdefault(destination, target.settings)  # fan-out never repeats a target
        return Decision(
            destinations=tuple(chosen),
            rule=rule.name,
            recipient=rewritten,
            settings=rule.settings,
            destination_settings=tuple(chosen.values()),
            access=by,
            matched=matched,
        )

    # -- lint (``hub routes check``)
    def warnings(self, adapters: Iterable[str] | None = None) -> list[str]:
        """Rules that can never match, declared recipients without a route, unknown adapters."""
        found: list[str] = []
        compiled = self._compiled
        for index, rule in enumerate(compiled):
            if not rule.enabled:
                continue
            for earlier_index in range(index):
                earlier = compiled[earlier_index]
                if not (earlier.enabled and earlier.terminal):
                    continue
                rewrites_between = any(
                    r.enabled and r.rewrite for r in compiled[earlier_index:index]
                )
                if earlier.recipient is not None and rewrites_between:
                    continue
                if earlier.covers(rule):
                    found.append(
                        f"{rule.origin}: rule {rule.name!r} can never match: rule "
                        f"{earlier.name!r} ({earlier.origin}, priority {earlier.priority}) "
                        "matches every message it matches and is tried first"
                    )
                    break
        routes = [r for r in compiled if r.enabled and (r.targets or r.rewrite)]
        for participant in self.participants:
            if not any(r.recipient is None or r.recipient.matches(participant) for r in routes):
                where = self.lines.get(f"participant:{participant}", "?")
                found.append(
                    f"{where}: participant {participant} is declared but no rule delivers "
                    "messages addressed to it"
                )
        if adapters is not None:
            known = set(adapters)
            for rule in compiled:
                for target in rule.targets:
                    if target.adapter not in known:
                        found.append(
                            f"{rule.origin}: rule {rule.name!r} delivers through adapter "
                            f"{target.adapter!r}, which hub.toml does not configure "
                            f"(configured: {', '.join(sorted(known)) or 'none'})"
                        )
        for _, model in self.rules:
            xpath = model.match.xpath
            if xpath is not None and xpath.lstrip().startswith("/"):
                found.append(
                    f"{self.lines.get('rule:' + model.name, '?')}: rule {model.name!r}: the "
                    "XPath starts at the document root (the envelope), not at the payload; "
                    "start from the payload's element instead (e.g. 'self::m:Memo[...]', 'm:Child')"
                )
        return found


# ------------------------------------------------------------------------------ loading
def content_digest(parts: Iterable[tuple[str, bytes]]) -> str:
    """Hash of (name, content) pairs: rule files by name, then certificate files by path."""
    digest = hashlib.sha256()
    for name, data in parts:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def rule_files(directory: str | Path) -> list[Path]:
    """The rule files of a folder, in the order they are read (hidden and lock files skipped)."""
    folder = Path(directory)
    found = {*folder.glob("*.yaml"), *folder.glob("*.yml")}
    return sorted(p for p in found if not p.name.startswith((".", "#")) and p.is_file())


def _node_at(node: yaml.Node | None, loc: Loc) -> yaml.Node | None:
    for key in loc:
        if node is None:
            return None
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            found = next(((k, v) for k, v in node.value if k.value == key), None)
            if found is None:
                return node
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return node
            node = node.value[key]
        else:
            break
    return node


def _key_line(node: yaml.Node | None, loc: Loc) -> int | None:
    """The line of loc in the YAML tree (for a mapping value: the line of its key)."""
    if not loc:
        return node.start_mark.line + 1 if node is not None else None
    parent = _node_at(node, loc[:-1])
    key = loc[-1]
    if isinstance(parent, yaml.MappingNode) and isinstance(key, str):
        for k, _ in parent.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    target = _node_at(node, loc)
    return int(target.start_mark.line) + 1 if target is not None else None


def _duplicate_keys(node: yaml.Node | None, where: str, problems: list[str]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    problems.append(
                        f"{where}:{line}: key {key.value!r} appears twice (first on line "
                        f"{seen[key.value]}); YAML would silently keep only the last one"
                    )
                seen.setdefault(key.value, line)
            _duplicate_keys(value, where, problems)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicate_keys(item, where, problems)


@dataclass
class _Source:
    path: Path
    raw: bytes
    node: yaml.Node | None
    parsed: RuleFile | None = None


def _read(path: Path, problems: list[str]) -> _Source | None:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read: {exc}")
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problems.append(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return None
    source = _Source(path, raw, node)
    before = len(problems)
    _duplicate_keys(node, str(path), problems)
    if len(problems) > before:
        return None
    try:
        source.parsed = RuleFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if p != "[key]")
            line = _key_line(node, loc)
            key = ".".join(str(p) for p in error["loc"]) or "(file)"
            msg = error["msg"].removeprefix("Value error, ")
            if error["type"] == "string_type" and isinstance(error.get("input"), bool):
                msg += " (YAML reads yes/no/on/off/true/false as booleans: quote the value)"
            problems.append(f"{path}:{line}: {key}: {msg}" if line else f"{path}: {key}: {msg}")
        return None
    return source


def _fingerprints(
    folder: Path, participant: str, declared: Participant, where: Callable[[int], str]
) -> tuple[set[str], dict[str, bytes], list[str]]:
    """(fingerprints, PEM files read with their content, problems) of one participant."""
    prints: set[str] = set()
    files: dict[str, bytes] = {}
    problems: list[str] = []
    for index, ref in enumerate(declared.certificates):
        if ref.sha256 is not None:
            prints.add(ref.sha256)
            continue
        assert ref.pem is not None
        path = Path(ref.pem) if Path(ref.pem).is_absolute() else folder / ref.pem
        try:
            pem = path.read_bytes()
            certs = x509.load_pem_x509_certificates(pem)
        except OSError as exc:
            problems.append(f"{where(index)}: certificate {ref.pem}: {exc.strerror or exc}")
            continue
        except ValueError:
            problems.append(f"{where(index)}: certificate {ref.pem}: holds no PEM certificate")
            continue
        files[str(path.resolve())] = pem
        for cert in certs:
            bound = participant_ids(cert)
            if participant not in bound:
                owner = ", ".join(bound) or "no participant"
                problems.append(
                    f"{where(index)}: certificate {ref.pem} belongs to {owner}, not {participant}"
                )
                continue
            der = cert.public_bytes(serialization.Encoding.DER)
            prints.add(hashlib.sha256(der).hexdigest())
    return prints, files, problems


def load_rules(directory: str | Path) -> RuleSet:
    """Read and validate every rule file in directory; RulesError names each problem."""
    folder = Path(directory)
    if not folder.is_dir():
        raise RulesError(f"{folder}: routing rules folder does not exist")
    problems: list[str] = []
    sources = [s for s in (_read(p, problems) for p in rule_files(folder)) if s is not None]
    if problems:
        raise RulesError(problems)
    by_name = {s.path.name: s for s in sources}

    def locate(file: str, loc: Loc) -> str:
        source = by_name.get(file)
        line = _key_line(source.node, loc) if source is not None else None
        path = source.path if source is not None else folder / file
        return f"{path}:{line}" if line else str(path)

    origins: dict[str, tuple[str, Loc]] = {}
    participants: dict[str, Participant] = {}
    groups: dict[str, Group] = {}
    seen_access = False
    default: Literal["deny", "allow"] = "deny"
    default_origin: tuple[str, Loc] | None = None
    rights: list[AccessRight] = []
    collected: list[tuple[int, int, str, Rule]] = []

    def declare(key: str, file: str, loc: Loc) -> bool:
        if key in origins:
            first = locate(*origins[key])
            kind, _, name = key.partition(":")
            problems.append(
                f"{locate(file, loc)}: {kind} {name!r} is declared twice (first at {first})"
            )
            return False
        origins[key] = (file, loc)
        return True

    for file_index, source in enumerate(sources):
        parsed, name = source.parsed, source.path.name
        assert parsed is not None
        for position, rule in enumerate(parsed.rules):
            if declare(f"rule:{rule.name}", name, ("rules", position)):
                collected.append((-rule.priority, file_index * 100000 + position, name, rule))
        for pid, participant in parsed.participants.items():
            if declare(f"participant:{pid}", name, ("participants", pid)):
                participants[pid] = participant
        for group_name, group in parsed.groups.items():
            if declare(f"group:{group_name}", name, ("groups", group_name)):
                groups[group_name] = group
        if parsed.access is not None:
            seen_access = True
            origins.setdefault("access", (name, ("access",)))
            if "default" in parsed.access.model_fields_set:
                if default_origin is not None:
                    problems.append(
                        f"{locate(name, ('access', 'default'))}: the access default is declared "
                        f"twice (first at {locate(*default_origin)})"
                    )
                else:
                    default, default_origin = parsed.access.default, (name, ("access", "default"))
            for position, right in enumerate(parsed.access.rights):
                if declare(f"right:{right.name}", name, ("access", "rights", position)):
                    rights.append(right)
    if default_origin is not None:
        origins["access"] = default_origin
    access = Access(default=default, rights=rights) if seen_access else None
    fingerprints: dict[str, frozenset[str]] = {}
    files: dict[str, bytes] = {}
    for pid, participant in participants.items():
        if not participant.certificates:
            continue
        file, loc = origins[f"participant:{pid}"]

        def where(index: int, file: str = file, loc: Loc = loc) -> str:
            return locate(file, (*loc, "certificates", index))

        prints, read, found = _fingerprints(folder, pid, participant, where)
        problems.extend(found)
        files.update(read)
        fingerprints[pid] = frozenset(prints)
    if problems:
        raise RulesError(problems)
    collected.sort(key=lambda item: (item[0], item[1]))
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.path.name.encode() + b"\0" + source.raw + b"\0")
    for pid in sorted(fingerprints):
        digest.update(f"{pid}={','.join(sorted(fingerprints[pid]))}\0".encode())
    return RuleSet(
        rules=[(file, rule) for _, _, file, rule in collected],
        version=digest.hexdigest()[:12],
        participants=participants,
        groups=groups,
        access=access,
        fingerprints=fingerprints,
        sources=tuple(sorted(files)),
        source_digest=content_digest(
            [(s.path.name, s.raw) for s in sources] + sorted(files.items())
        ),
        origins=origins,
        lines={key: locate(*origin) for key, origin in origins.items()},
        locate=locate,
    )


# ------------------------------------------------------------------------------ check, diff
@dataclass
class CheckReport:
    directory: Path
    rules: RuleSet | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_rules(directory: str | Path, adapters: Iterable[str] | None = None) -> CheckReport:
    """Validate a rules folder: errors (unusable) and warnings (usable, but suspicious)."""
    folder = Path(directory)
    try:
        rules = load_rules(folder)
    except RulesError as exc:
        return CheckReport(folder, None, errors=exc.problems)
    return CheckReport(folder, rules, warnings=rules.warnings(adapters))


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
