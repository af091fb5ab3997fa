"""Validation against the vendored SMEV 3 1.3 schemas (``xsd/smev3``), local files only.

lxml (libxml2) decides whether an element is valid; when it is not, ``xmlschema`` is asked for
the errors because its messages name the element path. Both schemas are built once per process
from the files next to each other, so every ``xs:import`` resolves locally; nothing is fetched.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import xmlschema
from lxml import etree

from adapters.smev.simulator.ns import FAULTS_NS, TYPES_NS

log = logging.getLogger(__name__)

TYPES_XSD = "smev-message-exchange-types-1.3.xsd"
FAULTS_XSD = "smev-message-exchange-faults-1.3.xsd"
WSDL = "smev-message-exchange-service-1.3.wsdl"
SCHEMA_FILES = (
    WSDL,
    TYPES_XSD,
    "smev-message-exchange-basic-1.3.xsd",
    FAULTS_XSD,
    "smev-message-exchange-routing-1.3.xsd",
    "smev-message-exchange-directive-1.3.xsd",
)


def schema_dir() -> Path:
    """``xsd/smev3`` in a checkout, or ``hub/_data/xsd/smev3`` in an installed wheel."""
    top = Path(__file__).resolve().parents[3]
    for candidate in (top / "xsd" / "smev3", top / "hub" / "_data" / "xsd" / "smev3"):
        if (candidate / TYPES_XSD).is_file():
            return candidate
    raise FileNotFoundError("the SMEV 3 schemas (xsd/smev3) are missing from this installation")


@dataclass(frozen=True)
class ValidationIssue:
    message: str
    line: int  # -1 when unknown (SMEV's errorPosition convention)

    def __str__(self) -> str:
        return self.message if self.line < 0 else f"line {self.line}: {self.message}"


@functools.lru_cache(maxsize=1)
def lxml_schema() -> etree.XMLSchema:
    """The types + faults schemas (and their imports) as one lxml XMLSchema."""
    directory = schema_dir()
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        f'<xs:import namespace="{TYPES_NS}" schemaLocation="{(directory / TYPES_XSD).as_uri()}"/>'
        f'<xs:import namespace="{FAULTS_NS}" schemaLocation="{(directory / FAULTS_XSD).as_uri()}"/>'
        "</xs:schema>"
    )
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    document = etree.fromstring(
        wrapper.encode("utf-8"), parser, base_url=(directory / "wrapper.xsd").as_uri()
    )
    return etree.XMLSchema(document)


@functools.lru_cache(maxsize=1)
def _xmlschema() -> xmlschema.XMLSchema:
    directory = schema_dir()
    return xmlschema.XMLSchema(
        [str(directory / TYPES_XSD), str(directory / FAULTS_XSD)], allow="local"
    )


def validate(element: etree._Element) -> list[ValidationIssue]:
    """Problems of ``element`` (a SOAP Body child) against the 1.3 schemas; [] when valid."""
    schema = lxml_schema()
    if schema.validate(element):
        return []
    entries = cast("Iterable[Any]", schema.error_log)  # iterable; lxml-stubs omit __iter__
    lxml_issues = [ValidationIssue(str(entry.message), int(entry.line) or -1) for entry in entries]
    try:
        readable = [
            ValidationIssue(
                f"{error.path}: {error.reason or error.message}" if error.path else error.message,
                error.sourceline if isinstance(error.sourceline, int) else -1,
            )
            for error in _xmlschema().iter_errors(element)
        ]
    except Exception:  # xmlschema is only used for nicer messages; never fail on it
        log.debug("xmlschema could not explain a validation failure", exc_info=True)
        readable = []
    return readable or lxml_issues
