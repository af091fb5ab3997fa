"""The execution summary: totals that add up, and each format read back the way its reader would
(json.loads, csv, openpyxl, LibreOffice) with the Cyrillic intact."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from hub.execution.report import (
    CSV_DELIMITER,
    FORMATS,
    GRAND_TOTAL,
    STRINGS,
    XLSX_HEADER_ROW,
    Summary,
    SummaryRow,
    render,
    totals,
)

GENERATED = datetime(2026, 12, 6, 7, 15, tzinfo=UTC)  # 10:15 in Moscow
CULTURE, EDUCATION, HOUSING = "dept.culture", "dept.education", "dept.housing"
NAMES = {CULTURE: "Управление культуры", EDUCATION: "Департамент образования"}
PEOPLE = ("Иванова А.А.", "Петров Б.В.", "Сидорова Е.Ё.", "Щербаков Ю.Э.")


def row(department: str, executor: str, *figures: int) -> SummaryRow:
    return SummaryRow(department, executor, *figures)


def sample(**changes: Any) -> Summary:
    """Three departments (one without a display name), the culture rows interleaved."""
    values: dict[str, Any] = {
        "rows": [
            row(CULTURE, "Иванова А.А.", 5, 1, 2, 3, 0),
            row(EDUCATION, "Сидорова Е.Ё.", 7, 2, 0, 1, 2),
            row(CULTURE, "Петров Б.В.", 2, 0, 0, 4, 1),
            row(HOUSING, "Щербаков Ю.Э.", 0, 0, 0, 0, 0),
        ],
        "generated_at": GENERATED,
        "period_from": date(2026, 12, 1),
        "period_to": date(2026, 12, 31),
        "department": None,
        "department_names": NAMES,
    }
    values.update(changes)
    return Summary(**values)


# ------------------------------------------------------------------------------------ totals
def test_totals_add_up_per_department_and_overall() -> None:
    departments, grand = totals(sample())
    assert departments == [
        SummaryRow(CULTURE, None, 7, 1, 2, 7, 1),
        SummaryRow(EDUCATION, None, 7, 2, 0, 1, 2),
        SummaryRow(HOUSING, None, 0, 0, 0, 0, 0),
    ]
    assert grand == SummaryRow(GRAND_TOTAL, None, 14, 3, 2, 8, 3)


def test_totals_of_nothing_are_zero() -> None:
    assert totals(sample(rows=[])) == ([], SummaryRow(GRAND_TOTAL, None, 0, 0, 0, 0, 0))


def test_totals_of_one_row_are_that_row() -> None:
    only = row(CULTURE, "Иванова А.А.", 1, 2, 3, 4, 5)
    departments, grand = totals(sample(rows=[only]))
    assert departments == [SummaryRow(CULTURE, None, 1, 2, 3, 4, 5)]
    assert grand == SummaryRow(GRAND_TOTAL, None, 1, 2, 3, 4, 5)


def test_totals_of_large_figures() -> None:
    rows = [
        row(f"dept.d{i % 7}", f"Исполнитель {i}", i, i % 3, i % 5, 2 * i, 1) for i in range(500)
    ]
    departments, grand = totals(sample(rows=rows))
    assert len(departments) == 7
    assert grand.on_control == sum(range(500)) == sum(d.on_control for d in departments)
    assert grand.executed_on_time == 2 * sum(range(500))
    assert grand.executed_late == 500
    assert grand.due_soon == sum(i % 3 for i in range(500))
    assert grand.overdue == sum(i % 5 for i in range(500))


def test_a_row_without_executor_is_refused_not_counted_twice() -> None:
    rows = [row(CULTURE, "Иванова А.А.", 1, 0, 0, 0, 0), SummaryRow(CULTURE, None, 1, 0, 0, 0, 0)]
    with pytest.raises(ValueError, match=r"per executor; 'dept\.culture'"):
        totals(sample(rows=rows))


def test_negative_figures_are_refused() -> None:
    with pytest.raises(ValueError, match=r"negative figures .* overdue"):
        totals(sample(rows=[row(CULTURE, "Иванова А.А.", 1, 0, -1, 0, 0)]))


# ------------------------------------------------------------------------------------- table
def test_table() -> None:
    text = render(sample(), "table").decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == "Сводка об исполнении документов"
    assert lines[1] == "Период: 01.12.2026 – 31.12.2026; сформирована 06.12.2026 10:15"
    for header in ("На контроле", "Срок истекает (3 дн.)", "Исполнено с нарушением срока"):
        assert header in lines[3]
    body = [line.strip() for line in lines[5:]]
    # per department: its executors, then its total; departments as they first appear
    assert body[0] == "Управление культуры"
    assert body[1].startswith("Иванова А.А.") and body[1].split()[-5:] == ["5", "1", "2", "3", "0"]
    assert body[2].startswith("Петров Б.В.")
    assert body[3].split() == ["Итого", "7", "1", "2", "7", "1"]
    assert body[4] == "Департамент образования"
    assert body[7] == HOUSING  # no display name: the participant id
    assert body[-1].split() == ["Всего", "14", "3", "2", "8", "3"]


def test_table_columns_line_up() -> None:
    lines = render(sample(), "table").decode("utf-8").splitlines()
    figure_lines = [line for line in lines[5:] if line[-1:].isdigit()]
    assert len({len(line) for line in figure_lines}) == 1
    assert len(lines[3]) == len(figure_lines[0])  # the header ends where the figures do


def test_table_in_english() -> None:
    text = render(sample(), "table", lang="en").decode("utf-8")
    assert text.startswith("Document execution summary\n")
    assert "Period: 2026-12-01 – 2026-12-31; generated 2026-12-06 10:15" in text
    for header in ("On control", "Due within 3 days", "Overdue", "Executed late"):
        assert header in text
    assert "Grand total" in text and "Иванова А.А." in text and "Итого" not in text


def test_table_does_not_pass_control_characters_to_the_terminal() -> None:
    rows = [row(CULTURE, "Иванова\x1b[2J\nА.А.", 1, 0, 0, 0, 0)]
    text = render(sample(rows=rows), "table").decode("utf-8")
    assert "\x1b" not in text
    assert "  Иванова?[2J?А.А." in text


def test_table_of_one_department() -> None:
    text = render(sample(department=CULTURE), "table").decode("utf-8")
    assert text.startswith("Сводка об исполнении документов: Управление культуры\n")


# --------------------------------------------------------------------- time zone and period
@pytest.mark.parametrize(
    ("tz", "shown"),
    [
        (None, "06.12.2026 10:15"),
        (ZoneInfo("Asia/Yekaterinburg"), "06.12.2026 12:15"),
        (UTC, "06.12.2026 07:15"),
        (ZoneInfo("America/New_York"), "06.12.2026 02:15"),
        (ZoneInfo("Pacific/Honolulu"), "05.12.2026 21:15"),  # the day before
    ],
)
def test_generation_time_is_shown_in_the_readers_zone(tz: Any, shown: str) -> None:
    text = render(sample(), "table", tz=tz).decode("utf-8")
    assert f"сформирована {shown}\n" in text


def test_generation_time_given_in_another_zone() -> None:
    vladivostok = timezone(timedelta(hours=10))
    summary = sample(generated_at=datetime(2026, 12, 6, 17, 15, tzinfo=vladivostok))
    assert "сформирована 06.12.2026 10:15" in render(summary, "table").decode("utf-8")


@pytest.mark.parametrize(
    ("start", "end", "ru", "en"),
    [
        (date(2026, 1, 5), date(2026, 2, 9), "Период: 05.01.2026 – 09.02.2026", "2026-01-05 – "),
        (date(2026, 12, 1), None, "Период: с 01.12.2026", "Period: from 2026-12-01"),
        (None, date(2026, 12, 31), "Период: по 31.12.2026", "Period: until 2026-12-31"),
        (None, None, "Период: всё время", "Period: all time"),
    ],
)
def test_period(start: date | None, end: date | None, ru: str, en: str) -> None:
    summary = sample(period_from=start, period_to=end)
    assert ru in render(summary, "table").decode("utf-8")
    assert en in render(summary, "table", lang="en").decode("utf-8")


def test_due_soon_days_names_the_column() -> None:
    summary = sample(due_soon_days=5)
    assert "Срок истекает (5 дн.)" in render(summary, "table").decode("utf-8")
    assert "Due within 5 days" in render(summary, "csv", lang="en").decode("utf-8-sig")


# --------------------------------------------------------------------------------------- csv
def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=CSV_DELIMITER))


def test_csv() -> None:
    rows = read_csv(render(sample(), "csv"))
    assert rows[0] == [
        "Подразделение",
        "Исполнитель",
        "На контроле",
        "Срок истекает (3 дн.)",
        "Просрочено",
        "Исполнено в срок",
        "Исполнено с нарушением срока",
        "Вид строки",
    ]
    assert rows[1:] == [
        ["Управление культуры", "Иванова А.А.", "5", "1", "2", "3", "0", "executor"],
        ["Управление культуры", "Петров Б.В.", "2", "0", "0", "4", "1", "executor"],
        ["Управление культуры", "Итого", "7", "1", "2", "7", "1", "department"],
        ["Департамент образования", "Сидорова Е.Ё.", "7", "2", "0", "1", "2", "executor"],
        ["Департамент образования", "Итого", "7", "2", "0", "1", "2", "department"],
        [HOUSING, "Щербаков Ю.Э.", "0", "0", "0", "0", "0", "executor"],
        [HOUSING, "Итого", "0", "0", "0", "0", "0", "department"],
        ["Всего", "", "14", "3", "2", "8", "3", "total"],
    ]


def test_csv_quotes_what_needs_quoting() -> None:
    tricky = 'Ким О.; "старший"'
    rows = read_csv(render(sample(rows=[row(CULTURE, tricky, 1, 0, 0, 0, 0)]), "csv"))
    assert rows[1][1] == tricky


def test_csv_cells_that_look_like_formulas_stay_text() -> None:
    """Names come from other agencies' documents: a formula in one must not run in Excel."""
    rows = [
        row(CULTURE, '=HYPERLINK("http://evil.example","Иванова")', 1, 0, 0, 0, 0),
        row(CULTURE, "@SUM(1+1)", 1, 0, 0, 0, 0),
        row("-dept", "+7 (495) 000-00-00", 1, 0, 0, 0, 0),
    ]
    cells = read_csv(render(sample(rows=rows), "csv"))
    assert cells[1][1] == """'=HYPERLINK("http://evil.example","Иванова")"""
    assert cells[2][1] == "'@SUM(1+1)"
    assert cells[4][:2] == ["'-dept", "'+7 (495) 000-00-00"]
    # the xlsx writes them as strings, which Excel never evaluates
    sheet = read_xlsx(render(sample(rows=rows), "xlsx"))
    cell = sheet.cell(XLSX_HEADER_ROW + 2, 2)
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"


def test_csv_in_english() -> None:
    rows = read_csv(render(sample(), "csv", lang="en"))
    assert rows[0][:3] == ["Department", "Executor", "On control"]
    assert rows[0][-1] == "Row kind"
    assert rows[-1][0] == "Grand total" and rows[3][1] == "Total"


# -------------------------------------------------------------------------------------- json
def test_json_round_trips() -> None:
    document = json.loads(render(sample(), "json"))
    assert document["generated_at"] == "2026-12-06T10:15:00+03:00"
    assert datetime.fromisoformat(document["generated_at"]) == GENERATED
    assert document["period"] == {"from": "2026-12-01", "to": "2026-12-31"}
    assert document["department"] is None
    assert document["due_soon_days"] == 3
    culture = document["departments"][0]
    assert culture == {
        "department": CULTURE,
        "name": "Управление культуры",
        "executors": [
            {
                "executor": "Иванова А.А.",
                "on_control": 5,
                "due_soon": 1,
                "overdue": 2,
                "executed_on_time": 3,
                "executed_late": 0,
            },
            {
                "executor": "Петров Б.В.",
                "on_control": 2,
                "due_soon": 0,
                "overdue": 0,
                "executed_on_time": 4,
                "executed_late": 1,
            },
        ],
        "total": {
            "on_control": 7,
            "due_soon": 1,
            "overdue": 2,
            "executed_on_time": 7,
            "executed_late": 1,
        },
    }
    assert [d["department"] for d in document["departments"]] == [CULTURE, EDUCATION, HOUSING]
    assert document["departments"][2]["name"] is None
    assert document["total"] == {
        "on_control": 14,
        "due_soon": 3,
        "overdue": 2,
        "executed_on_time": 8,
        "executed_late": 3,
    }


def test_json_rebuilds_the_summary() -> None:
    """What a program reads back is the summary it was made from."""
    summary = sample(department=CULTURE, period_from=None)
    document = json.loads(render(summary, "json"))
    rebuilt = Summary(
        rows=[
            SummaryRow(department=d["department"], **e)
            for d in document["departments"]
            for e in d["executors"]
        ],
        generated_at=datetime.fromisoformat(document["generated_at"]),
        period_from=None,
        period_to=date.fromisoformat(document["period"]["to"]),
        department=document["department"],
        due_soon_days=document["due_soon_days"],
        department_names={d["department"]: d["name"] for d in document["departments"] if d["name"]},
    )
    assert totals(rebuilt) == totals(summary)
    assert render(rebuilt, "json") == render(summary, "json")


def test_json_keeps_cyrillic_readable_and_ignores_lang() -> None:
    data = render(sample(), "json")
    assert "Сидорова Е.Ё.".encode() in data  # not \\u escapes
    assert render(sample(), "json", lang="en") == data


# -------------------------------------------------------------------------------------- xlsx
def read_xlsx(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_xlsx_numbers_are_numbers_and_headers_cyrillic() -> None:
    sheet = read_xlsx(render(sample(), "xlsx"))
    assert sheet.title == "Сводка"
    assert sheet["A1"].value == "Сводка об исполнении документов"
    assert sheet["A2"].value == "Период: 01.12.2026 – 31.12.2026; сформирована 06.12.2026 10:15"
    header = XLSX_HEADER_ROW + 1  # openpyxl counts from 1
    assert [c.value for c in sheet[header]] == read_csv(render(sample(), "csv"))[0][:-1]
    assert all(c.font.b for c in sheet[header])
    assert sheet.freeze_panes == f"A{header + 1}"
    first = sheet[header + 1]
    assert [c.value for c in first] == ["Управление культуры", "Иванова А.А.", 5, 1, 2, 3, 0]
    for cell in first[2:]:
        assert cell.data_type == "n" and type(cell.value) is int
    last = sheet[sheet.max_row]
    assert [c.value for c in last][2:] == [14, 3, 2, 8, 3]
    assert last[0].value == "Всего"


def test_xlsx_totals_are_bold_and_overdue_is_red() -> None:
    sheet = read_xlsx(render(sample(), "xlsx"))
    rows = list(sheet.iter_rows(min_row=XLSX_HEADER_ROW + 2))
    bold = [r[1].value or r[0].value for r in rows if r[0].font.b]
    assert bold == ["Итого", "Итого", "Итого", "Всего"]
    overdue_column = 4
    red = {
        (r[1].value or r[0].value, r[overdue_column].value)
        for r in rows
        if r[overdue_column].fill.fill_type == "solid"
    }
    assert red == {("Иванова А.А.", 2), ("Итого", 2), ("Всего", 2)}


def test_xlsx_columns_fit_their_text() -> None:
    sheet = read_xlsx(render(sample(), "xlsx"))
    assert sheet.column_dimensions["A"].width >= len("Департамент образования")
    assert sheet.column_dimensions["B"].width >= len("Щербаков Ю.Э.")
    for letter in "CDEFG":
        assert 10 <= sheet.column_dimensions[letter].width < 20  # headers wrap instead
    assert sheet.row_dimensions[XLSX_HEADER_ROW + 1].height >= 30


def test_xlsx_in_english_and_stable() -> None:
    data = render(sample(), "xlsx", lang="en")
    sheet = read_xlsx(data)
    assert sheet.title == "Summary"
    assert sheet.cell(XLSX_HEADER_ROW + 1, 5).value == "Overdue"
    assert render(sample(), "xlsx", lang="en") == data  # the same summary, the same bytes


# ---------------------------------------------------------------------------------- refusals
def test_unknown_format_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="'pdf': use one of table, csv, json, xlsx"):
        render(sample(), "pdf")


def test_unknown_language() -> None:
    with pytest.raises(ValueError, match="'de': use one of ru, en"):
        render(sample(), "table", lang="de")


def test_naive_generation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        render(sample(generated_at=datetime(2026, 12, 6, 10, 15)), "table")


def test_strings_are_one_table_with_the_same_keys_per_language() -> None:
    assert set(STRINGS) == {"ru", "en"}
    assert set(STRINGS["ru"]) == set(STRINGS["en"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_keeps_every_name(fmt: str) -> None:
    data = render(sample(), fmt)
    if fmt == "xlsx":
        text = "\n".join(str(c.value) for r in read_xlsx(data).iter_rows() for c in r)
    else:
        text = data.decode("utf-8-sig")
    for name in PEOPLE:
        assert name in text
    assert "Управление культуры" in text


# ------------------------------------------------------------------------------- LibreOffice
def libreoffice() -> str:
    """The LibreOffice binary; skip without one on a laptop, fail without one in CI."""
    for candidate in ("soffice", "libreoffice"):
        found = shutil.which(candidate)
        if found:
            return found
    if os.path.exists("/usr/bin/soffice"):
        return "/usr/bin/soffice"
    if os.environ.get("CI"):
        pytest.fail("LibreOffice (soffice) is not installed, and CI requires it")
    pytest.skip("no LibreOffice (soffice) to read the xlsx back")


@pytest.mark.slow
@pytest.mark.timeout(180)  # past the conversion's own 120 s, so that its error is the one seen
def test_libreoffice_reads_the_xlsx_as_the_csv_says(tmp_path: Path) -> None:
    soffice = libreoffice()
    summary = sample()
    workbook = tmp_path / "summary.xlsx"
    workbook.write_bytes(render(summary, "xlsx"))
    out = tmp_path / "out"
    # a profile of its own: parallel runs sharing one would wait for each other's lock
    profile = (tmp_path / "profile").as_uri()
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",  # comma, double quote, UTF-8
            "--outdir",
            str(out),
            str(workbook),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    converted = (out / "summary.csv").read_text(encoding="utf-8")
    cells = list(csv.reader(io.StringIO(converted)))
    expected = [r[:-1] for r in read_csv(render(summary, "csv"))]  # the xlsx has no kind column

    assert cells[0][0] == "Сводка об исполнении документов"
    assert cells[1][0] == "Период: 01.12.2026 – 31.12.2026; сформирована 06.12.2026 10:15"
    assert cells[XLSX_HEADER_ROW:] == expected


@pytest.mark.parametrize(
    ("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)]
)
def test_without_libreoffice_a_laptop_skips_and_ci_fails(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        libreoffice()
