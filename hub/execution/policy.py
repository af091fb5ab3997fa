"""The administration's execution settings as the code uses them: time zone, calendar,
journals and their templates, who registers on delivery, when to remind.

Built once from hub.toml's ``[execution]``; the store applies the rules with it, the hub's
control loop reminds and detects overdue documents with it, the command line computes default
deadlines with it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field

from envelopes.model import Urgency
from hub.execution.calendar import WorkCalendar
from hub.execution.journals import NumberTemplate, template_for
from hub.execution.rules import NoticeRefused
from hub.execution.settings import ExecutionConfig, RegistrationConfig

DEFAULT_JOURNAL = "incoming"


@dataclass(frozen=True)
class Journal:
    """A department's registration journal: numbered per year with its template."""

    department: str
    name: str
    index: str
    template: NumberTemplate

    def number(self, seq: int, year: int) -> str:
        return self.template.format(seq, year, self.index, self.name)


@dataclass
class ExecutionPolicy:
    """Everything execution control decides by, apart from the rules themselves."""

    timezone: dt.tzinfo
    calendar: WorkCalendar
    due_soon_days: int = 3
    remind_days_before: int = 2
    scan_interval: float = 60.0
    registration: dict[str, RegistrationConfig] = field(default_factory=dict)
    departments: frozenset[str] = frozenset()  # those with an inbox here; the others are agencies

    @classmethod
    def from_config(
        cls, execution: ExecutionConfig, departments: Iterable[str] = ()
    ) -> ExecutionPolicy:
        """From hub.toml's ``[execution]`` and ``departments``."""
        return cls(
            timezone=zoneinfo.ZoneInfo(execution.timezone),
            calendar=WorkCalendar(execution.extra_holidays, execution.extra_working_days),
            due_soon_days=execution.due_soon_days,
            remind_days_before=execution.remind_days_before,
            scan_interval=execution.scan_interval,
            registration=dict(execution.registration),
            departments=frozenset(departments),
        )

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.timezone)

    def today(self) -> dt.date:
        """Today in the administration's time zone (deadlines are dates there)."""
        return self.now().date()

    def _settings(self, department: str) -> RegistrationConfig:
        return self.registration.get(department) or RegistrationConfig()

    def journal(self, department: str, name: str | None = None) -> Journal:
        """A department's journal (its default if ``name`` is None); NoticeRefused if none."""
        settings = self._settings(department)
        chosen = name or settings.journal
        if chosen not in settings.journals:
            known = ", ".join(sorted(settings.journals))
            raise NoticeRefused(
                "unknown_journal",
                f"{department} keeps no registration journal {chosen!r} (journals: {known})",
            )
        template = template_for(settings.index, settings.journals[chosen] or None)
        return Journal(department, chosen, settings.index, template)

    def is_agency(self, participant: str | None) -> bool:
        """An outside body: it reports execution through its protocol, not by notices."""
        return bool(participant) and bool(self.departments) and participant not in self.departments

    def registers_on_delivery(self, department: str) -> bool:
        return self._settings(department).auto_register

    def default_deadline(self, start: dt.date, urgency: Urgency | str | None) -> dt.date:
        """The term for an urgency (30, 10 or 3 calendar days), ending on a working day."""
        return self.calendar.term(start, Urgency(urgency or Urgency.NORMAL))
