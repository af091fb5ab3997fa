"""Schema registry: every .xsd under a directory, indexed by targetNamespace.

lxml validates on the hot path (about 90x faster than xmlschema); xmlschema is used only after
lxml has said no, to turn the failure into readable, path-qualified problems. Imports and
includes resolve from local files only: never over the network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from envelopes.codec import ENVELOPE_NS, content_of, payload_of
from envelopes.errors import (
    EnvelopeError,
    PayloadValidationError,
    SchemaValidationError,
    UnknownMessageTypeError,
)

log = logging.getLogger(__name__)

XSD_NS = "http://www.w3.org/2001/XMLSchema"
MAX_PROBLEMS = 10
# Past these, a failure is explained from lxml's error log instead of xmlschema's: xmlschema
# repeats the whole element in each error it makes, so an element with n unknown attributes
# costs it O(n²) (2,000 attributes: 30 s of CPU), and it is ~90x slower than lxml overall.
EXPLAIN_MAX_ATTRIBUTES_PER_ELEMENT = 32
EXPLAIN_MAX_NODES = 20_000


class _LocalOnlyResolver(etree.Resolver):
    """Refuses every schema location outside the registry's directory."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root.resolve()

    def resolve(  # type: ignore[override]
        self, system_url: str, public_id: str, context: Any
    ) -> Any:
        if "://" in system_url and not system_url.startswith("file://"):
            raise EnvelopeError(f"schema import {system_url!r} is not local; refusing to fetch it")
        path = Path(system_url.removeprefix("file://")).resolve()
        if not path.is_relative_to(self.root):
            raise EnvelopeError(f"schema import {system_url!r} lies outside {self.root}")
        return self.resolve_filename(str(path), context)  # type: ignore[attr-defined]


@dataclass
class _Entry:
    namespace: str
    path: Path
    lxml_schema: etree.XMLSchema
    readable: Any = None  # xmlschema.XMLSchema, built on first failure
    roots: frozenset[str] = field(default_factory=frozenset)


def _localname(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class SchemaRegistry:
    """Schemas by target namespace, loaded once at start.

    Several directories may be given: a namespace is taken from the first one that has it
    (so ``SchemaRegistry(payloads_dir, shipped_hub_dir)`` adds the envelope's own schema to a
    folder of payload schemas, and a folder with its own copy keeps it).
    """

    def __init__(self, directory: str | Path, *more: str | Path) -> None:
        self.directory = Path(directory)
        self.directories = [self.directory, *(Path(d) for d in more)]
        self._entries: dict[str, _Entry] = {}
        for folder in self.directories:
            self._load(folder)
        if ENVELOPE_NS not in self._entries:
            raise EnvelopeError(
                f"schema directory {self.directory} has no envelope schema ({ENVELOPE_NS})"
            )

    @staticmethod
    def _parser(directory: Path) -> etree.XMLParser:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        parser.resolvers.add(_LocalOnlyResolver(directory))
        return parser

    def _load(self, directory: Path) -> None:
        if not directory.is_dir():
            raise EnvelopeError(f"schema directory {directory} does not exist")
        by_namespace: dict[str, list[Path]] = {}
        included: set[Path] = set()
        docs: dict[Path, etree._ElementTree] = {}
        for path in sorted(directory.rglob("*.xsd")):
            try:
                doc = etree.parse(str(path), self._parser(directory))
            except etree.XMLSyntaxError as exc:
                raise EnvelopeError(f"schema {path}: not well-formed: {exc.msg}") from None
            docs[path] = doc
            root = doc.getroot()
            namespace = root.get("targetNamespace", "")
            by_namespace.setdefault(namespace, []).append(path)
            for inc in root.iterfind(f"{{{XSD_NS}}}include"):
                location = inc.get("schemaLocation")
                if location:
                    included.add((path.parent / location).resolve())
        for namespace, paths in by_namespace.items():
            if namespace in self._entries:  # an earlier directory has it: that one wins
                continue
            mains = [p for p in paths if p.resolve() not in included]
            if len(mains) != 1:
                raise EnvelopeError(
                    f"namespace {namespace!r} is the target of several schemas: "
                    + ", ".join(str(p) for p in mains)
                )
            path = mains[0]
            try:
                schema = etree.XMLSchema(docs[path])
            except etree.XMLSchemaParseError as exc:
                raise EnvelopeError(f"schema {path}: {exc}") from None
            roots = frozenset(
                el.get("name", "") for el in docs[path].getroot().iterfind(f"{{{XSD_NS}}}element")
            )
            self._entries[namespace] = _Entry(namespace, path, schema, roots=roots)

    @property
    def namespaces(self) -> list[str]:
        return sorted(self._entries)

    def message_types(self) -> list[str]:
        """Every {namespace}root a payload may be (the envelope's own namespace excluded)."""
        return sorted(
            f"{{{e.namespace}}}{name}"
            for e in self._entries.values()
            if e.namespace != ENVELOPE_NS
            for name in e.roots
        )

    def path_of(self, namespace: str) -> Path:
        return self._entries[namespace].path

    def _entry_for(self, element: etree._Element) -> _Entry:
        namespace = etree.QName(element).namespace or ""
        entry = self._entries.get(namespace)
        if entry is None or namespace == ENVELOPE_NS:
            raise UnknownMessageTypeError(
                f"Envelope/Content/Payload: unknown message type {element.tag!r}: "
                f"no schema is registered for namespace {namespace!r}"
            )
        return entry

    def validate_envelope(self, root: etree._Element) -> None:
        """Check the envelope structure, then the payload against its own schema."""
        envelope = self._entries[ENVELOPE_NS]
        content_of(root)  # names a wrong root element plainly, before the schema's wording
        if not envelope.lxml_schema.validate(root):
            raise SchemaValidationError(*self._problems(envelope, root, "Envelope"))
        payload = payload_of(content_of(root))
        self.validate_payload(payload)

    def validate_payload(self, payload: etree._Element) -> None:
        entry = self._entry_for(payload)
        if _localname(str(payload.tag)) not in entry.roots:
            raise UnknownMessageTypeError(
                f"Envelope/Content/Payload: unknown message type {payload.tag!r}: "
                f"{entry.path.name} declares no root element {_localname(str(payload.tag))!r}"
            )
        if not entry.lxml_schema.validate(payload):
            first, problems = self._problems(entry, payload, "Envelope/Content/Payload")
            raise PayloadValidationError(first, problems)

    def _problems(
        self, entry: _Entry, element: etree._Element, prefix: str
    ) -> tuple[str, list[str]]:
        """Readable problems for an element lxml rejected: xmlschema's paths, lxml's as backup."""
        problems: list[str] = []
        try:
            if not _cheap_to_explain(element):
                raise _TooCostly
            if entry.readable is None:
                import xmlschema

                path = entry.path.resolve()  # a relative path would be joined to base_url twice
                entry.readable = xmlschema.XMLSchema(
                    str(path), base_url=str(path.parent), allow="sandbox"
                )
            for error in entry.readable.iter_errors(element):
                where = str(error.path or "")
                if prefix != "Envelope":
                    where = prefix + where
                problems.append(f"{_strip_ns(where)}: {error.reason or error.message}")
                if len(problems) >= MAX_PROBLEMS:
                    break
        except _TooCostly:
            log.debug("an lxml rejection too large for xmlschema to explain; lxml's log is used")
        except Exception:  # the readable report is a nicety; lxml's verdict stands
            log.debug("xmlschema could not explain an lxml rejection", exc_info=True)
        if not problems:
            for lx in list(entry.lxml_schema.error_log):  # type: ignore[call-overload]
                problems.append(f"{prefix} line {lx.line}: {_strip_ns(lx.message)}")
                if len(problems) >= MAX_PROBLEMS:
                    break
        if not problems:
            problems = [f"{prefix}: does not match its schema {entry.path.name}"]
        return problems[0], problems


class _TooCostly(Exception):
    """The rejected element is too large for xmlschema's explanation (see the limits above)."""


def _cheap_to_explain(element: etree._Element) -> bool:
    """Linear in the element: few enough nodes and no element crowded with attributes."""
    nodes = 0
    for node in element.iter():
        attributes = len(node.attrib)
        if attributes > EXPLAIN_MAX_ATTRIBUTES_PER_ELEMENT:
            return False
        nodes += 1 + attributes
        if nodes > EXPLAIN_MAX_NODES:
            return False
    return True


def _short(tag: Any) -> str:
    return _localname(str(tag))


def _strip_ns(text: str) -> str:
    """'{urn:x}Name' → 'Name', so reasons read like paths."""
    import re

    return re.sub(r"\{[^{}]*\}", "", text)
