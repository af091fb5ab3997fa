"""Loading the rules folder: YAML with line numbers, validation, and the rule set it makes.

:func:`rule_files` lists what is read, :func:`load_rules` reads and checks it all (YAML syntax,
duplicate keys, the models of :mod:`hub.routing.language`, names declared twice, certificate
files and their fingerprints) and raises one :class:`~hub.routing.language.RulesError` naming
every problem with its file and line; :func:`check_rules` is the same as a
:class:`CheckReport` with warnings (``hub routes check``). :func:`content_digest` is the hash
of what was read, which the watcher (:mod:`hub.routing.watch`) compares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from envelopes.pki import participant_ids
from hub.routing.bounded_yaml import YamlBoundsError, read_yaml
from hub.routing.language import (
    Access,
    AccessRight,
    Group,
    Loc,
    Participant,
    Rule,
    RuleFile,
    RulesError,
)
from hub.routing.ruleset import RuleSet


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
        node, data = read_yaml(text)
    except YamlBoundsError as exc:
        problems.append(f"{path}: {exc}")
        return None
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
