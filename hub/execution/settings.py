"""``[execution]`` of hub.toml: the settings of execution control, checked at load.

Its own module (``hub.config`` includes it) so that execution control depends on nothing but
its settings, and the settings check number templates with the same code that writes numbers.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envelopes.ids import PARTICIPANT_PATTERN
from hub.errors import ConfigError
from hub.execution.journals import template_for


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistrationConfig(_Section):
    """A department's registration: its index, journals (name → number template; empty: the
    default template), the default journal, and whether the hub registers on delivery."""

    index: str = ""
    journals: dict[str, str] = Field(default_factory=lambda: {"incoming": ""})
    journal: str = "incoming"
    auto_register: bool = False

    @model_validator(mode="after")
    def _journals(self) -> RegistrationConfig:
        if self.journal not in self.journals:
            raise ValueError(
                f"journal {self.journal!r} is not among the journals "
                f"({', '.join(sorted(self.journals)) or 'none'})"
            )
        for name, template in self.journals.items():
            try:
                template_for(self.index, template or None)
            except ConfigError as exc:
                raise ValueError(f"journals.{name}: {exc}") from None
        return self


class ExecutionConfig(_Section):
    """Execution control (docs/execution.md): time zone, calendar, reminders, registration."""

    timezone: str = "Europe/Moscow"
    due_soon_days: int = Field(default=3, ge=0, le=60)
    remind_days_before: int = Field(default=2, ge=0, le=60)
    scan_interval: float = Field(default=60.0, gt=0)
    extra_holidays: list[dt.date] = Field(default_factory=list)
    extra_working_days: list[dt.date] = Field(default_factory=list)
    registration: dict[str, RegistrationConfig] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (like Europe/Moscow)") from None
        return value

    @field_validator("registration")
    @classmethod
    def _departments(cls, value: dict[str, RegistrationConfig]) -> dict[str, RegistrationConfig]:
        bad = [d for d in value if not re.match(PARTICIPANT_PATTERN, d)]
        if bad:
            raise ValueError(f"not participant ids: {', '.join(bad)}")
        return value
