"""The execution summary («сводка об исполнении»), from the store, in the format asked for.

One implementation for the command line, the HTTP API and the managers' page: the figures come
from ``Store.execution_summary``, the rendering from ``hub.execution.report``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from hub.config import HubConfig
from hub.execution.policy import ExecutionPolicy
from hub.execution.report import Summary, SummaryRow, render
from hub.ops.connection import opened_store
from hub.store import Store

NO_EXECUTOR = "—"  # documents executed without a resolution (an agency's answer)


async def execution_summary(
    store: Store,
    policy: ExecutionPolicy,
    department: str | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    names: Mapping[str, str] | None = None,
) -> Summary:
    """The summary's figures (``names``: how to call the departments, hub.toml's [names])."""
    rows = await store.execution_summary(department, period_from, period_to)
    return Summary(
        rows=[
            SummaryRow(dept, executor or NO_EXECUTOR, *figures) for dept, executor, *figures in rows
        ],
        generated_at=policy.now(),
        period_from=period_from,
        period_to=period_to,
        department=department,
        due_soon_days=policy.due_soon_days,
        department_names=dict(names or {}),
    )


async def execution_report(
    config: HubConfig,
    fmt: str,
    department: str | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    lang: str = "ru",
) -> bytes:
    """``hub report execution``: the summary rendered as table, csv, json or xlsx."""
    policy = ExecutionPolicy.from_config(config.execution, config.departments)
    async with opened_store(config) as store:
        summary = await execution_summary(
            store, policy, department, period_from, period_to, config.names
        )
    return render(summary, fmt, lang, policy.timezone)
