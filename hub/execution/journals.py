"""Registration numbers: how a journal writes the number it gives a document.

A journal numbers its documents anew each year and writes the number by a template such as
``{index}-{seq}/{yy}`` (``01-12-345/26``: the department's index from the nomenclature of files,
the sequence number, the year). Templates come from configuration, so they are checked once,
when read, and a bad one is a ``ConfigError`` that says what is wrong; formatting never meets
a surprise.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from hub.errors import ConfigError

DEFAULT_TEMPLATE = "{index}-{seq}/{yy}"
DEFAULT_TEMPLATE_NO_INDEX = "{seq}/{yy}"

FIELDS = frozenset({"index", "seq", "yy", "yyyy", "journal"})
"""The fields a template may use: the index, the sequence number, the year (two digits or
four) and the journal's own code."""

# Presentation types that turn a sequence number into something other than decimal digits.
_NOT_DECIMAL = frozenset("bcoxXneEfFgG%")


@dataclass(frozen=True)
class NumberTemplate:
    """A checked template; ``format`` writes one registration number with it."""

    text: str
    fields: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        fields, problems = _check(self.text)
        if problems:
            raise ConfigError([f"number template {self.text!r}: {p}" for p in problems])
        object.__setattr__(self, "fields", fields)

    def format(self, seq: int, year: int, index: str = "", journal: str = "") -> str:
        """The registration number of the ``seq``-th document of ``year``.

        A template that uses ``{index}`` or ``{journal}`` needs it: an empty one would give a
        number such as ``-12/26`` that looks valid and is not, so it is refused.
        """
        if seq < 1:
            raise ValueError(f"a sequence number starts at 1, not {seq}")
        if not 1 <= year <= 9999:
            raise ValueError(f"not a year: {year}")
        values = {"seq": seq, "yy": f"{year % 100:02d}", "yyyy": f"{year:04d}"}
        for name, value in (("index", index), ("journal", journal)):
            if name in self.fields and not value:
                raise ValueError(f"number template {self.text!r} needs {{{name}}}, none given")
            values[name] = value
        return self.text.format_map(values)


def template_for(index: str, template: str | None) -> NumberTemplate:
    """The journal's own template if it has one, else the default for whether it has an
    index (so that a journal without one does not write numbers starting with a dash)."""
    if template is not None:
        return NumberTemplate(template)
    return NumberTemplate(DEFAULT_TEMPLATE if index.strip() else DEFAULT_TEMPLATE_NO_INDEX)


def _check(text: str) -> tuple[frozenset[str], list[str]]:
    """The fields ``text`` uses and what is wrong with it, read with the same parser that
    ``str.format`` uses (nothing is evaluated)."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:  # "Single '}' encountered…", "expected '}' before end of string"
        return frozenset(), [f"unbalanced braces ({e}); write {{{{ or }}}} for a literal brace"]
    problems: list[str] = []
    used: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:  # literal text only
            continue
        if name == "" or name.isdigit():
            problems.append(f"positional field {{{name}}}: name it, one of {_allowed()}")
            continue
        if "." in name or "[" in name:
            problems.append(f"field {{{name}}}: attribute and index access are not allowed")
            continue
        if name not in FIELDS:
            problems.append(f"unknown field {{{name}}}: use {_allowed()}")
            continue
        used.append(name)
        if conversion:
            problems.append(f"field {{{name}}}: conversions such as !{conversion} are not allowed")
        if spec:
            problems += _check_spec(name, spec)
    count = used.count("seq")
    if count == 0:
        problems.append("{seq} (the sequence number) is missing")
    elif count > 1:
        problems.append(f"{{seq}} appears {count} times; it must appear once")
    return frozenset(used), problems


def _check_spec(name: str, spec: str) -> list[str]:
    if name != "seq":
        return [f"field {{{name}}}: only {{seq}} takes a format (such as {{seq:04d}})"]
    if "{" in spec or "}" in spec:
        return [f"field {{seq:{spec}}}: nested fields are not allowed"]
    if spec[-1] in _NOT_DECIMAL:
        return [f"field {{seq:{spec}}}: a sequence number is written in decimal (d)"]
    try:
        format(1, spec)
    except ValueError as e:
        return [f"field {{seq:{spec}}}: {e}"]
    return []


def _allowed() -> str:
    return ", ".join(f"{{{name}}}" for name in sorted(FIELDS))
