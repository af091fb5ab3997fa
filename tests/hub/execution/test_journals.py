"""Registration number templates: what they write, and every way a template is refused."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError, HubError
from hub.execution.journals import (
    DEFAULT_TEMPLATE,
    DEFAULT_TEMPLATE_NO_INDEX,
    NumberTemplate,
    template_for,
)


# ------------------------------------------------------------------------------- formatting
@pytest.mark.parametrize(
    ("template", "kwargs", "number"),
    [
        (DEFAULT_TEMPLATE, {"index": "01-12"}, "01-12-345/26"),
        (DEFAULT_TEMPLATE_NO_INDEX, {}, "345/26"),
        ("{seq:04d}/{yyyy}", {}, "0345/2026"),
        ("{seq:06}", {}, "000345"),
        ("Вх-{seq}/{yy}", {}, "Вх-345/26"),
        ("{journal}/{index}-{seq}", {"index": "05", "journal": "ОГ"}, "ОГ/05-345"),
        ("№ {seq} от {yyyy} г.", {}, "№ 345 от 2026 г."),
        ("{{{seq}}}/{yy}", {}, "{345}/26"),
        ("{yy}-{seq}-{yy}", {}, "26-345-26"),
    ],
)
def test_format(template: str, kwargs: dict[str, str], number: str) -> None:
    assert NumberTemplate(template).format(345, 2026, **kwargs) == number


def test_two_digit_year_keeps_its_zero() -> None:
    template = NumberTemplate("{seq}/{yy}")
    assert template.format(1, 2005) == "1/05"
    assert template.format(1, 2100) == "1/00"


def test_fields_are_known() -> None:
    assert NumberTemplate(DEFAULT_TEMPLATE).fields == {"index", "seq", "yy"}
    assert NumberTemplate("Вх-{seq:04d}").fields == {"seq"}


def test_templates_compare_by_text_and_are_frozen() -> None:
    assert NumberTemplate(DEFAULT_TEMPLATE) == NumberTemplate(DEFAULT_TEMPLATE)
    assert hash(NumberTemplate(DEFAULT_TEMPLATE)) == hash(NumberTemplate(DEFAULT_TEMPLATE))
    with pytest.raises(AttributeError):
        NumberTemplate(DEFAULT_TEMPLATE).text = "{seq}"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("template", "kwargs", "message"),
    [
        (DEFAULT_TEMPLATE, {}, r"needs \{index\}"),
        ("{journal}-{seq}", {}, r"needs \{journal\}"),
    ],
)
def test_a_missing_index_or_journal_is_refused(
    template: str, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        NumberTemplate(template).format(1, 2026, **kwargs)


@pytest.mark.parametrize(("seq", "year"), [(0, 2026), (-1, 2026), (1, 0), (1, 10000)])
def test_impossible_numbers_are_refused(seq: int, year: int) -> None:
    with pytest.raises(ValueError):
        NumberTemplate(DEFAULT_TEMPLATE_NO_INDEX).format(seq, year)


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{index}-{seq", "unbalanced braces"),
        ("{seq}}/{yy}", "unbalanced braces"),
        ("{index}-{yy}", "{seq} (the sequence number) is missing"),
        ("", "{seq} (the sequence number) is missing"),
        ("{{seq}}/{yy}", "{seq} (the sequence number) is missing"),
        ("{seq}-{seq}", "{seq} appears 2 times; it must appear once"),
        ("{}-{seq}", "positional field {}"),
        ("{0}-{seq}", "positional field {0}"),
        ("{seq.real}", "field {seq.real}: attribute and index access are not allowed"),
        ("{seq}{index[0]}", "field {index[0]}: attribute and index access are not allowed"),
        ("{seq}/{year}", "unknown field {year}: use {index}, {journal}, {seq}, {yy}, {yyyy}"),
        ("{Seq}", "unknown field {Seq}"),
        ("{seq!r}", "conversions such as !r are not allowed"),
        ("{seq}/{yy:>4}", "field {yy}: only {seq} takes a format"),
        ("{seq:x}", "a sequence number is written in decimal"),
        ("{seq:.2f}", "a sequence number is written in decimal"),
        ("{seq:.2}", "Precision not allowed"),
        ("{seq:{width}}", "nested fields are not allowed"),
        ("{seq:q}", "Unknown format code 'q'"),
    ],
)
def test_bad_templates_are_config_errors(template: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        NumberTemplate(template)
    message = str(raised.value)
    assert f"number template {template!r}" in message
    assert problem in message


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        NumberTemplate("{0}/{year}/{index.upper}")
    assert len(raised.value.problems) == 4  # three bad fields and no {seq}
    assert isinstance(raised.value, HubError)


def test_nothing_is_evaluated() -> None:
    """A template is parsed, never run: attribute access cannot reach the object."""
    with pytest.raises(ConfigError):
        NumberTemplate("{seq.__class__.__init__.__globals__}")


# ------------------------------------------------------------------------------ template_for
def test_template_for_picks_the_default_by_index() -> None:
    assert template_for("01-12", None).text == DEFAULT_TEMPLATE
    assert template_for("", None).text == DEFAULT_TEMPLATE_NO_INDEX
    assert template_for("  ", None).text == DEFAULT_TEMPLATE_NO_INDEX
    assert template_for("01-12", "Вх-{seq}").text == "Вх-{seq}"
    assert template_for("", "{seq:04d}").format(7, 2026) == "0007"


def test_template_for_checks_the_configured_template() -> None:
    with pytest.raises(ConfigError, match="is missing"):
        template_for("01", "{index}")
