"""The rule file language: what a ``*.yaml`` file of the rules folder may say, checked by pydantic.

Models of the four sections (``rules``, ``participants``, ``groups``, ``access``) with their
validators, what a pattern means (:func:`compile_pattern`: exact value, shell pattern, ``re:``),
and the JSON Schema for editors (:func:`rules_json_schema`, ``routing_rules/schema.json``).
docs/routing.md is the reference. :class:`RulesError` is here, in the lowest module of the
package, so that the rule set and the loader above it can raise it.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import string
from collections.abc import Callable
from typing import Annotated, Any, Literal

from lxml import etree
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from envelopes.model import PARTICIPANT_PATTERN, Header, Kind, ParticipantId
from hub.errors import RulesError as RulesError  # rooted in HubError

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

Loc = tuple[str | int, ...]  # a place in a rule file: the YAML path of a key, as in pydantic errors
Locate = Callable[[str, Loc], str]  # (file name, Loc) → 'path:line', for messages


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


def pattern_list(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """What a pattern of the rule files means: exact, shell-style (fnmatch) or ``re:``.

    Cached: the lint compares every pair of rules, and translating a pattern is most of it.
    """
    if pattern.startswith("re:"):
        return re.compile(pattern[3:])
    return re.compile(fnmatch.translate(pattern))


def _check_patterns(value: str | list[str] | None, *, groups: bool) -> None:
    for pattern in pattern_list(value):
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
    for pattern in pattern_list(value):
        if not any(compile_pattern(pattern).fullmatch(k) for k in KINDS):
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
        default=None,
        description="ExpiresAt default (Created + ttl) when the sender set none",
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
        pattern=ADAPTER_PATTERN,
        description="adapter name in hub.toml: internal, smev, email...",
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


def _xpath_problem(expression: str, namespaces: dict[str, str]) -> str | None:
    try:
        compiled = etree.XPath(expression, namespaces=namespaces)
        compiled(etree.Element("probe"))
    except etree.XPathError as exc:
        return str(exc) or type(exc).__name__
    return None


HeaderValue = str | list[str] | bool | int | None


class Match(_Strict):
    """Conditions on a message; all given ones must hold. Nothing given matches everything."""

    sender: Patterns | None = None
    recipient: Patterns | None = Field(
        default=None, description="the recipient as rewritten by earlier rules"
    )
    message_type: Patterns | None = Field(
        default=None,
        description="{namespace}LocalName, e.g. '{urn:...:memo:1.0}Memo' or '*}Memo'",
    )
    kind: Patterns | None = Field(default=None, description=" | ".join(KINDS))
    priority: int | list[int] | PriorityRange | None = Field(
        default=None,
        description="the header's Priority (0-9); messages without one never match",
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
    medo_uid: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="the body's MEDO GUID: documents to it go out as MEDO packages, packages "
        "from it come in as its documents (docs/medo-adapter.md)",
    )


class Group(_Strict):
    description: str | None = None
    members: list[str] = Field(
        min_length=1,
        description="participant ids, patterns such as 'dept.*', or '@group'",
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
