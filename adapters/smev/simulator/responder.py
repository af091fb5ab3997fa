"""Automatic answers from the simulated agency.

A responder is any callable ``responder(request_content, message_type)`` returning the response
payload (the element to put under MessagePrimaryContent), or None to leave the request in the
provider queue for GetRequest. It may be a coroutine function. It may also return a
``RequestRejected`` or ``RequestStatus`` element (types namespace), which then replaces
MessagePrimaryContent. An optional ``delay_for(message_type) -> float`` method delays the answer.

``FileResponder`` is the declarative form used by ``hub smev-sim --responder FILE``: a YAML or
JSON mapping from the request's root element in Clark notation to what to answer::

    "{urn://example/extract/1.0}ExtractRequest":
      file: extract-response.xml   # relative to this file
      delay: 0.5                   # seconds, optional
    "{urn://example/ping/1.0}Ping": pong.xml        # short form: just the file
    "{urn://example/secret/1.0}Secret":
      reject: ACCESS_DENIED        # ACCESS_DENIED | NO_DATA | UNKNOWN_REQUEST_DESCRIPTION | FAILURE
      description: not for you
    "*": fallback.xml              # any other type (optional)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from adapters.smev.errors import ResponderConfigError, XmlInputError
from adapters.smev.parsing import parse_xml
from adapters.smev.simulator.messages import request_rejected

ResponderResult = etree._Element | None
Responder = Callable[[etree._Element, str], ResponderResult | Awaitable[ResponderResult]]

REJECT_CODES = ("ACCESS_DENIED", "NO_DATA", "UNKNOWN_REQUEST_DESCRIPTION", "FAILURE")
WILDCARD = "*"


@dataclass(frozen=True)
class ResponseRule:
    file: Path | None = None
    delay: float = 0.0
    reject: str | None = None
    description: str = ""


def _rule(key: str, value: Any, base: Path) -> ResponseRule:
    if isinstance(value, str):
        value = {"file": value}
    if not isinstance(value, dict):
        raise ResponderConfigError(f"{key}: expected a file name or a mapping, got {value!r}")
    unknown = set(value) - {"file", "delay", "reject", "description"}
    if unknown:
        raise ResponderConfigError(f"{key}: unknown keys {', '.join(sorted(map(str, unknown)))}")
    delay = value.get("delay", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ResponderConfigError(f"{key}: delay must be a non-negative number of seconds")
    reject = value.get("reject")
    file = value.get("file")
    if (reject is None) == (file is None):
        raise ResponderConfigError(f"{key}: give exactly one of 'file' or 'reject'")
    if reject is not None:
        if reject not in REJECT_CODES:
            raise ResponderConfigError(
                f"{key}: reject must be one of {', '.join(REJECT_CODES)} (got {reject!r})"
            )
        return ResponseRule(
            delay=float(delay), reject=str(reject), description=str(value.get("description", ""))
        )
    path = (base / str(file)).resolve()
    try:
        parse_xml(path.read_bytes())
    except OSError as exc:
        raise ResponderConfigError(f"{key}: {path}: {exc.strerror or exc}") from exc
    except XmlInputError as exc:
        raise ResponderConfigError(f"{key}: {path}: {exc}") from exc
    return ResponseRule(file=path, delay=float(delay))


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not (
        key == WILDCARD or (key.startswith("{") and "}" in key and not key.endswith("}"))
    ):
        raise ResponderConfigError(
            f"{key!r}: keys must be request root elements in Clark notation, "
            "'{namespace}LocalName', or '*'"
        )
    return key


class FileResponder:
    """Answers from files (re-read on every answer, so they can be edited while running)."""

    def __init__(self, rules: Mapping[str, ResponseRule]) -> None:
        self.rules = dict(rules)

    @classmethod
    def from_file(cls, path: Path) -> FileResponder:
        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ResponderConfigError(f"{path}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ResponderConfigError(f"{path}: {exc}") from exc
        if not isinstance(data, dict) or not data:
            raise ResponderConfigError(f"{path}: expected a non-empty mapping of request types")
        base = path.resolve().parent
        return cls({_check_key(key): _rule(key, value, base) for key, value in data.items()})

    def rule_for(self, message_type: str) -> ResponseRule | None:
        return self.rules.get(message_type) or self.rules.get(WILDCARD)

    def delay_for(self, message_type: str) -> float:
        rule = self.rule_for(message_type)
        return 0.0 if rule is None else rule.delay

    def __call__(self, request_content: etree._Element, message_type: str) -> ResponderResult:
        rule = self.rule_for(message_type)
        if rule is None:
            return None
        if rule.reject is not None:
            return request_rejected(rule.reject, rule.description or rule.reject)
        assert rule.file is not None
        return parse_xml(rule.file.read_bytes()).getroot()
