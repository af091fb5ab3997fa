"""``hub report``: reports managers ask for — the execution summary («сводка об исполнении»)."""

from __future__ import annotations

import asyncio
import datetime as dt

import click

from hub.cli.support import config_option, deployment_config, write_out


def _date(_: click.Context, __: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group()
def report() -> None:
    """Reports: the execution summary by department and executor."""


@report.command("execution")
@config_option
@click.option("--department", help="one department only (participant id)")
@click.option("--from", "period_from", callback=_date, help="executed from (YYYY-MM-DD)")
@click.option("--to", "period_to", callback=_date, help="executed until (YYYY-MM-DD)")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "xlsx"]),
    default="table",
    show_default=True,
)
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True)
@click.option("-o", "--out", "out", default="-", help="output file (default stdout)")
def execution(
    config_path: str,
    department: str | None,
    period_from: dt.date | None,
    period_to: dt.date | None,
    fmt: str,
    lang: str,
    out: str,
) -> None:
    """Per department and executor: on control, due soon, overdue, executed on time and late."""
    from hub.ops.reports import execution_report

    if period_from and period_to and period_from > period_to:
        raise click.BadParameter("--from is after --to")
    config = deployment_config(config_path)
    data = asyncio.run(execution_report(config, fmt, department, period_from, period_to, lang))
    write_out(out, data)
