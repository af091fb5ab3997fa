"""The rule set: routing and explaining a message, access rights, registered certificates.

A :class:`RuleSet` is immutable and picklable (it travels to the worker processes with every
batch, so its pickled form is computed once and unpickling is cached per process); its
``version`` is the hash of everything it was built from (see :mod:`hub.routing.loader`). Its
answers are a :class:`Decision`, or an :class:`Explanation` made of :class:`Step` s;
:meth:`RuleSet.warnings` is the lint of ``hub routes check``.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Iterable
from dataclasses import InitVar, dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from envelopes.model import Header
from hub.abc import Destination
from hub.routing.compiled import _WILDCARDS, CompiledRight, CompiledRule, Compiler, Problem
from hub.routing.language import (
    Access,
    Group,
    Loc,
    Locate,
    Participant,
    RouteSettings,
    Rule,
    RulesError,
    compile_pattern,
)


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
    source_digest: str = ""  # content_digest of exactly what was read (see hub.routing.watch)
    # where each item was declared: key (rule:NAME, group:NAME, right:NAME, participant:ID,
    # access) → (file name, YAML path) and → "file:line" for messages
    origins: dict[str, tuple[str, Loc]] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)
    locate: InitVar[Locate | None] = None
    _pickled: tuple[str, bytes] | None = field(default=None, init=False, repr=False, compare=False)
    _group_patterns: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _compiled: tuple[CompiledRule, ...] = field(default=(), init=False, repr=False, compare=False)
    _rights: tuple[CompiledRight, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self, locate: Locate | None) -> None:
        positions: dict[str, int] = {}
        for file, rule in self.rules:
            index = positions.get(file, 0)
            positions[file] = index + 1
            self.origins.setdefault(f"rule:{rule.name}", (file, ("rules", index)))
        for key, (file, _) in self.origins.items():
            self.lines.setdefault(key, file)
        self._pickled = None
        compiler = Compiler(self.groups, self.lines)
        self._group_patterns = compiler.group_patterns
        self._compiled = tuple(compiler.rule(r) for _, r in self.rules)
        self._rights = tuple(compiler.right(r) for r in (self.access.rights if self.access else []))
        if compiler.problems:
            raise RulesError([self._where(p, locate) for p in compiler.problems])

    # -- messages about problems found while compiling
    def _where(self, problem: Problem, locate: Locate | None) -> str:
        file, loc = self.origins.get(problem.key, ("?", ()))
        where = locate(file, loc + problem.loc) if locate else file
        kind, _, name = problem.key.partition(":")
        what = {"right": "access right"}.get(kind, kind)
        return f"{where}: {what} {name!r}: {problem.message}"

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
        return any(compile_pattern(p).fullmatch(participant) for p in self.group_members(group))

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

            def note(result: str, detail: str, rule: CompiledRule = rule) -> None:
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
        self, rule: CompiledRule, header: Header, recipient: str, matched: tuple[str, ...]
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
        # rewrites_before[i]: enabled rewriting rules among compiled[:i] (so "is there one
        # between" is a subtraction, not a scan: the pass was cubic in the number of rules)
        rewrites_before = [0]
        for rule in compiled:
            rewrites_before.append(rewrites_before[-1] + (rule.enabled and bool(rule.rewrite)))
        # Earlier terminal rules indexed by the literal senders they name: a rule naming only
        # literal senders can cover another only if it names that one's first sender, so
        # most pairs are never compared (the pass was quadratic: 400 rules took 1.2 s).
        by_sender: dict[str, list[int]] = {}
        wild: list[int] = []  # any sender, or patterns: compared with every later rule
        for index, rule in enumerate(compiled):
            if not rule.enabled:
                continue
            senders = literal_senders(rule)
            candidates = (
                wild if senders is None else sorted({*wild, *by_sender.get(senders[0], [])})
            )
            for earlier_index in candidates:
                earlier = compiled[earlier_index]
                rewrites_between = rewrites_before[index] > rewrites_before[earlier_index]
                if earlier.recipient is not None and rewrites_between:
                    continue
                if earlier.covers(rule):
                    found.append(
                        f"{rule.origin}: rule {rule.name!r} can never match: rule "
                        f"{earlier.name!r} ({earlier.origin}, priority {earlier.priority}) "
                        "matches every message it matches and is tried first"
                    )
                    break
            if rule.terminal:
                if senders is None:
                    wild.append(index)
                else:
                    for sender in senders:
                        by_sender.setdefault(sender, []).append(index)
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


def literal_senders(rule: CompiledRule) -> tuple[str, ...] | None:
    """The senders a rule names, if all are literal ids (no pattern, not any sender)."""
    if rule.sender is None:
        return None
    expanded = rule.sender.expanded
    if not expanded or any(p.startswith("re:") or _WILDCARDS.search(p) for p in expanded):
        return None
    return expanded
