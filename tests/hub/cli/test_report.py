"""``hub report execution`` over a store: the figures per department and executor, every format."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from hub.cli import main
from hub.execution.calendar import WorkCalendar
from hub.execution.policy import ExecutionPolicy
from hub.store.postgres import PostgresStore
from hub.store.sqlite import SqliteStore
from tests.hub.harness import Deployment, document_on_control


def report(deployment: Deployment, *args: str) -> bytes:
    result = CliRunner().invoke(
        main, ["report", "execution", "--config", str(deployment.config_path), *args]
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def test_the_summary_counts_what_the_store_holds(deployment: Deployment, tmp_path: Path) -> None:
    policy = ExecutionPolicy.from_config(deployment.config.execution, deployment.config.departments)
    today = policy.today()
    dates = {
        "overdue": today - dt.timedelta(days=4),
        "soon": today + dt.timedelta(days=2),
        "later": today + dt.timedelta(days=30),
        "late": today - dt.timedelta(days=10),
    }
    policy.calendar = WorkCalendar(extra_working_days=list(dates.values()))
    executed_at = dt.datetime.now(dt.UTC)

    async def fill() -> None:
        config = deployment.config  # on the deployment's store, with this test's calendar
        store = await (
            PostgresStore.open(config.store.url, policy) if config.postgres
            else SqliteStore.open(config.database, policy)
        )  # fmt: skip
        try:
            await document_on_control(store, dates["overdue"], "Иванова А.А.")
            await document_on_control(store, dates["soon"], "Иванова А.А.")
            await document_on_control(store, dates["later"], "Петров П.П.")
            await document_on_control(store, dates["late"], "Петров П.П.", executed=executed_at)
            await document_on_control(store, dates["later"], "Орлов О.О.", recipient="dept.land",
                                      executed=executed_at)  # fmt: skip
        finally:
            await store.close()

    asyncio.run(fill())
    data = json.loads(report(deployment, "--format", "json"))
    culture = next(d for d in data["departments"] if d["department"] == "dept.culture")
    ivanova = next(e for e in culture["executors"] if e["executor"] == "Иванова А.А.")
    assert (ivanova["on_control"], ivanova["overdue"], ivanova["due_soon"]) == (2, 1, 1)
    petrov = next(e for e in culture["executors"] if e["executor"] == "Петров П.П.")
    assert (petrov["on_control"], petrov["executed_late"]) == (1, 1)
    assert data["total"]["executed_on_time"] == 1 and data["total"]["on_control"] == 3
    land = json.loads(report(deployment, "--format", "json", "--department", "dept.land"))
    assert [d["department"] for d in land["departments"]] == ["dept.land"]
    table = report(deployment).decode()
    assert "Сводка об исполнении" in table and "Иванова А.А." in table
    out = tmp_path / "summary.xlsx"
    report(deployment, "--format", "xlsx", "-o", str(out))
    book = openpyxl.load_workbook(io.BytesIO(out.read_bytes()))
    cells = [c for row in book.active.iter_rows(values_only=True) for c in row if c is not None]
    assert "Иванова А.А." in cells and "Исполнено с нарушением срока" in cells
    csv = report(deployment, "--format", "csv", "--lang", "en").decode("utf-8-sig")
    assert "Executed late" in csv


def test_bad_dates_are_usage_errors(deployment: Deployment) -> None:
    runner = CliRunner()
    config = str(deployment.config_path)
    bad = runner.invoke(main, ["report", "execution", "--config", config, "--from", "31.12.2026"])
    assert bad.exit_code == 2 and "not a date" in bad.stderr
    backwards = runner.invoke(
        main,
        ["report", "execution", "--config", config, "--from", "2026-12-31", "--to", "2026-12-01"],
    )
    assert backwards.exit_code == 2
