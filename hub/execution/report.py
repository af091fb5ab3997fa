"""The execution summary («сводка об исполнении»), rendered for a terminal, Excel or a program.

The store counts; this module only adds up and lays out. Every format shows the same rows in the
same order: per department its executors, then the department's total, and a grand total at the
end. Text is Russian by default (English on request) from one table of strings, ``STRINGS``, so
that a gettext catalogue can take its place later; dates are written ``15.12.2026`` in Russian
and ISO in JSON, and the time of generation in the reader's time zone (Moscow by default).
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

FORMATS = ("table", "csv", "json", "xlsx")
LANGUAGES = ("ru", "en")
DEFAULT_TZ = ZoneInfo("Europe/Moscow")

GRAND_TOTAL = ""
"""The ``department`` of the grand total row (no department is called so)."""

COUNTS = ("on_control", "due_soon", "overdue", "executed_on_time", "executed_late")
"""The figures of a row, in the order every format shows them."""

# Row kinds, as the CSV's last column names them (stable codes: a program filters on them).
EXECUTOR, DEPARTMENT, TOTAL = "executor", "department", "total"
CSV_DELIMITER = ";"
"""Excel in a Russian locale splits a double-clicked CSV on the list separator, which is ``;``
there (the comma is the decimal separator); with commas every row would land in one column."""

STRINGS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "ru": {
            "title": "Сводка об исполнении документов",
            "department": "Подразделение",
            "executor": "Исполнитель",
            "department_executor": "Подразделение / исполнитель",
            "on_control": "На контроле",
            "due_soon": "Срок истекает ({days} дн.)",
            "overdue": "Просрочено",
            "executed_on_time": "Исполнено в срок",
            "executed_late": "Исполнено с нарушением срока",
            "total": "Итого",
            "grand_total": "Всего",
            "row_kind": "Вид строки",
            "period": "Период: {period}",
            "period_from": "Период: с {start}",
            "period_to": "Период: по {end}",
            "all_time": "Период: всё время",
            "generated": "сформирована {when}",
            "sheet": "Сводка",
            "date_format": "%d.%m.%Y",
            "time_format": "%H:%M",
        },
        "en": {
            "title": "Document execution summary",
            "department": "Department",
            "executor": "Executor",
            "department_executor": "Department / executor",
            "on_control": "On control",
            "due_soon": "Due within {days} days",
            "overdue": "Overdue",
            "executed_on_time": "Executed on time",
            "executed_late": "Executed late",
            "total": "Total",
            "grand_total": "Grand total",
            "row_kind": "Row kind",
            "period": "Period: {period}",
            "period_from": "Period: from {start}",
            "period_to": "Period: until {end}",
            "all_time": "Period: all time",
            "generated": "generated {when}",
            "sheet": "Summary",
            "date_format": "%Y-%m-%d",
            "time_format": "%H:%M",
        },
    }
)


@dataclass(frozen=True)
class SummaryRow:
    """One executor's figures (or, with ``executor`` None, a department's total)."""

    department: str  # participant id, e.g. "dept.culture"
    executor: str | None  # a person's name as written; None = the department's total row
    on_control: int  # on control now (deadline set, not executed, not closed)
    due_soon: int  # of those, due within the next N days (N in Summary.due_soon_days)
    overdue: int  # of those, past the deadline
    executed_on_time: int  # executed within the period, on or before the deadline
    executed_late: int  # executed within the period, after the deadline


@dataclass(frozen=True)
class Summary:
    """What the store counted, per executor; totals are the renderer's to compute."""

    rows: list[SummaryRow]
    generated_at: datetime  # aware
    period_from: date | None
    period_to: date | None
    department: str | None  # the filter, if any
    due_soon_days: int = 3
    department_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Group:
    """A department's rows and their total (what every rendering of the summary shows)."""

    department: str
    executors: list[SummaryRow]
    total: SummaryRow


# ------------------------------------------------------------------------------------ totals
def totals(summary: Summary) -> tuple[list[SummaryRow], SummaryRow]:
    """Each department's total row (executor None), in the order the departments first appear
    in ``summary.rows``, and the grand total (department ``GRAND_TOTAL``)."""
    grouped = groups(summary)
    return [g.total for g in grouped], _sum(GRAND_TOTAL, [g.total for g in grouped])


def groups(summary: Summary) -> list[Group]:
    """The rows by department, keeping the store's order of departments and of executors.

    A row without an executor is refused rather than added: it would be a total, and adding
    the store's totals to the renderer's would count every document twice.
    """
    by_department: dict[str, list[SummaryRow]] = {}
    for row in summary.rows:
        if row.executor is None:
            raise ValueError(
                f"summary rows are per executor; {row.department!r} has a row without one "
                "(totals are computed by the renderer)"
            )
        negative = [name for name in COUNTS if getattr(row, name) < 0]
        if negative:
            raise ValueError(
                f"negative figures for {row.department!r} / {row.executor!r}: "
                + ", ".join(negative)
            )
        by_department.setdefault(row.department, []).append(row)
    return [Group(d, rows, _sum(d, rows)) for d, rows in by_department.items()]


def _sum(department: str, rows: list[SummaryRow]) -> SummaryRow:
    figures = {name: sum(getattr(row, name) for row in rows) for name in COUNTS}
    return SummaryRow(department=department, executor=None, **figures)


def _figures(row: SummaryRow) -> list[int]:
    return [getattr(row, name) for name in COUNTS]


# ------------------------------------------------------------------------------------ render
def render(summary: Summary, fmt: str, lang: str = "ru", tz: tzinfo | None = None) -> bytes:
    """The summary as ``fmt`` (one of ``FORMATS``), its text in ``lang`` (``ru`` or ``en``;
    JSON has English keys whatever it is) and its time of generation in ``tz`` (Moscow)."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown summary format {fmt!r}: use one of {', '.join(FORMATS)}")
    if lang not in STRINGS:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    if summary.generated_at.utcoffset() is None:
        raise ValueError("Summary.generated_at must be aware (it is shown in a time zone)")
    return renderer(_View(summary, STRINGS[lang], tz or DEFAULT_TZ))


@dataclass(frozen=True)
class _View:
    """A summary with the choices of one rendering: the strings and the time zone."""

    summary: Summary
    text: Mapping[str, str]
    tz: tzinfo

    def day(self, value: date) -> str:
        return value.strftime(self.text["date_format"])

    @property
    def generated(self) -> str:
        local = self.summary.generated_at.astimezone(self.tz)
        when = f"{self.day(local)} {local.strftime(self.text['time_format'])}"
        return self.text["generated"].format(when=when)

    @property
    def period(self) -> str:
        start, end = self.summary.period_from, self.summary.period_to
        if start and end:
            return self.text["period"].format(period=f"{self.day(start)} – {self.day(end)}")
        if start:
            return self.text["period_from"].format(start=self.day(start))
        if end:
            return self.text["period_to"].format(end=self.day(end))
        return self.text["all_time"]

    @property
    def title(self) -> str:
        """The title, naming the department when the summary is for one."""
        if self.summary.department is None:
            return self.text["title"]
        return f"{self.text['title']}: {self.name(self.summary.department)}"

    @property
    def subtitle(self) -> str:
        return f"{self.period}; {self.generated}"

    def name(self, department: str) -> str:
        """A department's display name, or its participant id when none is known."""
        return self.summary.department_names.get(department, department)

    def headers(self) -> list[str]:
        """Column titles: department, executor and the figures."""
        days = self.summary.due_soon_days
        return [self.text["department"], self.text["executor"]] + [
            self.text[name].format(days=days) for name in COUNTS
        ]

    def flat_rows(self) -> list[tuple[str, list[str | int]]]:
        """(kind, cells) as CSV and xlsx show them: the department on every row, «Итого» in
        the executor's column of a department's total, «Всего» heading the grand total."""
        grouped = groups(self.summary)
        rows: list[tuple[str, list[str | int]]] = []
        for group in grouped:
            name = self.name(group.department)
            for row in group.executors:
                rows.append((EXECUTOR, [name, row.executor or "", *_figures(row)]))
            rows.append((DEPARTMENT, [name, self.text["total"], *_figures(group.total)]))
        grand = _sum(GRAND_TOTAL, [g.total for g in grouped])
        rows.append((TOTAL, [self.text["grand_total"], "", *_figures(grand)]))
        return rows


# ------------------------------------------------------------------------------------- table
def _render_table(view: _View) -> bytes:
    """Aligned plain text: departments as headings, their executors indented under them."""
    labels = [view.text["department_executor"], *view.headers()[2:]]
    grid: list[tuple[str, list[str]]] = []  # (first column, figures) or a heading/rule
    grouped = groups(view.summary)
    for group in grouped:
        grid.append((_printable(view.name(group.department)), []))
        for row in group.executors:
            grid.append((f"  {_printable(row.executor or '')}", [str(n) for n in _figures(row)]))
        grid.append((f"  {view.text['total']}", [str(n) for n in _figures(group.total)]))
    grand = _sum(GRAND_TOTAL, [g.total for g in grouped])
    grand_line = (view.text["grand_total"], [str(n) for n in _figures(grand)])

    widths = [max(_width(text) for text in [labels[0]] + [g[0] for g in [*grid, grand_line]])]
    widths += [
        max(_width(labels[i + 1]), *(_width(cells[i]) for _, cells in [*grid, grand_line] if cells))
        for i in range(len(COUNTS))
    ]

    def line(first: str, cells: list[str]) -> str:
        if not cells:
            return first
        padded = [_pad(first, widths[0])]
        padded += [
            _pad(cell, width, right=True) for cell, width in zip(cells, widths[1:], strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "-" * (sum(widths) + 2 * len(COUNTS))
    out = [_printable(view.title), view.subtitle, "", line(labels[0], labels[1:]), rule]
    out += [line(first, cells) for first, cells in grid]
    out += [rule, line(*grand_line)]
    return ("\n".join(out) + "\n").encode("utf-8")


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: combining marks (a decomposed «й») take none."""
    return sum(not unicodedata.combining(ch) for ch in text)


def _printable(text: str) -> str:
    """Control characters replaced: a name with an escape sequence or a line break in it would
    otherwise recolour the reader's terminal or break the table."""
    return "".join("?" if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    gap = " " * (width - _width(text))
    return gap + text if right else text + gap


# --------------------------------------------------------------------------------------- csv
def _render_csv(view: _View) -> bytes:
    """UTF-8 with a BOM (Excel reads Cyrillic only so), ``;``-separated (see CSV_DELIMITER);
    the last column says what a row is: executor, department (its total) or total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([*view.headers(), view.text["row_kind"]])
    for kind, cells in view.flat_rows():
        writer.writerow([*(_inert(c) if isinstance(c, str) else c for c in cells), kind])
    return buffer.getvalue().encode("utf-8-sig")


def _inert(text: str) -> str:
    """A cell Excel will not run: names come from other agencies' documents, and one that
    starts with ``=``, ``+``, ``-`` or ``@`` would be taken for a formula (CSV injection), so
    it gets the leading apostrophe that marks text in a spreadsheet."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# -------------------------------------------------------------------------------------- json
def _render_json(view: _View) -> bytes:
    """Stable English keys, ISO dates; the generation time with its offset in ``tz``."""
    summary = view.summary
    grouped = groups(summary)

    def counts(row: SummaryRow) -> dict[str, int]:
        return {name: getattr(row, name) for name in COUNTS}

    document = {
        "generated_at": summary.generated_at.astimezone(view.tz).isoformat(),
        "period": {
            "from": summary.period_from.isoformat() if summary.period_from else None,
            "to": summary.period_to.isoformat() if summary.period_to else None,
        },
        "department": summary.department,
        "due_soon_days": summary.due_soon_days,
        "departments": [
            {
                "department": group.department,
                "name": summary.department_names.get(group.department),
                "executors": [{"executor": row.executor, **counts(row)} for row in group.executors],
                "total": counts(group.total),
            }
            for group in grouped
        ],
        "total": counts(_sum(GRAND_TOTAL, [g.total for g in grouped])),
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# -------------------------------------------------------------------------------------- xlsx
XLSX_HEADER_ROW = 2
"""The 0-based row of the column titles (after the title and the period); data follow it."""


def _render_xlsx(view: _View) -> bytes:
    """One sheet: title, period, bold frozen header, then the rows as CSV has them (without the
    kind column: bold rows are totals), overdue figures above 0 on a red fill."""
    import xlsxwriter  # type: ignore[import-untyped]  # only this format needs it

    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"in_memory": True})
    # the file's own creation time is the summary's, so equal summaries give equal files
    created = view.summary.generated_at.astimezone(UTC).replace(tzinfo=None)
    book.set_properties({"title": view.title, "created": created})
    styles = _xlsx_styles(book)
    sheet = book.add_worksheet(view.text["sheet"])

    headers = view.headers()
    rows = view.flat_rows()
    sheet.write_string(0, 0, view.title, styles["title"])
    sheet.write_string(1, 0, view.subtitle)
    sheet.write_row(XLSX_HEADER_ROW, 0, headers, styles["header"])
    overdue_column = 2 + COUNTS.index("overdue")
    for offset, (kind, cells) in enumerate(rows, start=XLSX_HEADER_ROW + 1):
        bold = kind != EXECUTOR
        for column, value in enumerate(cells):
            if isinstance(value, str):
                sheet.write_string(offset, column, value, styles["bold" if bold else "text"])
                continue
            style = "number"
            if column == overdue_column and value > 0:
                style = "overdue"
            sheet.write_number(offset, column, value, styles[f"{style}_bold" if bold else style])

    header_lines = 1
    for column, header in enumerate(headers):
        texts = [str(cells[column]) for _, cells in rows]
        width = _xlsx_width(header, texts, text=column < 2)
        sheet.set_column(column, column, width)
        header_lines = max(header_lines, len(textwrap.wrap(header, int(width / 1.15))))
    # Excel does not grow a row for wrapped text it did not lay out itself
    sheet.set_row(XLSX_HEADER_ROW, 15 * header_lines)
    sheet.freeze_panes(XLSX_HEADER_ROW + 1, 0)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)  # one page wide, as many long as needed
    sheet.repeat_rows(XLSX_HEADER_ROW)
    book.close()
    return output.getvalue()


def _xlsx_styles(book: Any) -> dict[str, Any]:
    red = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}
    border = {"border": 1}
    return {
        "title": book.add_format({"bold": True, "font_size": 14}),
        "header": book.add_format(
            {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#D9E1F2", **border}
        ),
        "text": book.add_format(border),
        "bold": book.add_format({"bold": True, **border}),
        "number": book.add_format(border),
        "number_bold": book.add_format({"bold": True, **border}),
        "overdue": book.add_format({**red, **border}),
        "overdue_bold": book.add_format({"bold": True, **red, **border}),
    }


def _xlsx_width(header: str, texts: list[str], text: bool) -> float:
    """A column width in Excel's units (widths of a '0'): Cyrillic letters are a little wider
    than digits, hence the factor; headers of figures wrap, so their longest word counts."""
    if text:
        longest = max([len(header), *(len(t) for t in texts)])
        return min(longest * 1.15 + 2, 60)
    longest_word = max(len(word) for word in header.split())
    return max(longest_word * 1.15 + 2, 10)


_RENDERERS: Mapping[str, Callable[[_View], bytes]] = MappingProxyType(
    {"table": _render_table, "csv": _render_csv, "json": _render_json, "xlsx": _render_xlsx}
)
