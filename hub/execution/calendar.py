"""The production calendar and the execution terms counted on it.

Russian records-management rules give a document 30 calendar days to be executed (10 when it is
marked «оперативно», 3 when «срочно»), and a term that ends on a non-working day moves to the
working day *before* it. Which days are non-working comes from the maintained ``holidays``
package (public holidays, the days off the government transfers, and the Saturdays it makes
working days), corrected by a region's own decisions: extra holidays and extra working days.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from types import MappingProxyType

import holidays

from envelopes.model import Urgency
from hub.errors import ConfigError

DEFAULT_TERMS: Mapping[Urgency, int] = MappingProxyType(
    {Urgency.NORMAL: 30, Urgency.OPERATIVE: 10, Urgency.URGENT: 3}
)
"""Calendar days a document has, by its urgency, when its resolution sets no term of its own."""

# The longest run of non-working days a search crosses before it gives up: a calendar with a
# year of holidays in a row is a configuration mistake, not a reason to loop forever.
SEARCH_LIMIT_DAYS = 366

EXTRA_HOLIDAY = "extra holiday"
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Holiday names in Russian where the package has them; never the process locale's choice.
_PREFERRED_LANGUAGES = ("ru", "en_US")


class WorkCalendar:
    """Which days are working days, and the terms that follow from them.

    Precedence: an extra working day is working whatever else is true of it; an extra holiday
    is non-working; otherwise the country's calendar decides (weekends are non-working unless
    the government made that Saturday a working day).
    """

    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        country: str = "RU",
    ) -> None:
        self.extra_holidays = frozenset(_as_date(day) for day in extra_holidays)
        self.extra_working_days = frozenset(_as_date(day) for day in extra_working_days)
        self.country = country
        try:
            # An empty probe (no years) is cheap and tells a wrong country at start-up.
            probe = holidays.country_holidays(country)
        except NotImplementedError:
            raise ConfigError(
                f"production calendar: the holidays package has no country {country!r}"
            ) from None
        supported = probe.supported_languages
        self._language: str | None = next(
            (lang for lang in _PREFERRED_LANGUAGES if lang in supported), probe.default_language
        )
        self._years: dict[int, holidays.HolidayBase] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"WorkCalendar(country={self.country!r}, extra_holidays={len(self.extra_holidays)},"
            f" extra_working_days={len(self.extra_working_days)})"
        )

    # ------------------------------------------------------------------------------ days
    def is_working_day(self, day: date) -> bool:
        """Whether people work on ``day`` (see the class for the order of the rules)."""
        day = _as_date(day)
        if day in self.extra_working_days:
            return True
        if day in self.extra_holidays:
            return False
        return bool(self._holidays(day.year).is_working_day(day))

    def non_working_reason(self, day: date) -> str | None:
        """Why ``day`` is not a working day (for messages such as "… is a non-working day
        (Sunday)"): the holiday's name, the weekday, or "extra holiday"; None if it is one."""
        day = _as_date(day)
        if self.is_working_day(day):
            return None
        if day in self.extra_holidays:
            return EXTRA_HOLIDAY
        name = self._holidays(day.year).get(day)
        return str(name) if name else _WEEKDAY_NAMES[day.weekday()]

    def previous_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, else the nearest working day before it."""
        return self._search(_as_date(day), -1)

    def next_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, else the nearest working day after it."""
        return self._search(_as_date(day), +1)

    def working_days_between(self, a: date, b: date) -> int:
        """How many working days lie in (a, b]: ``a`` excluded, ``b`` included; 0 if b <= a.

        "Due within N working days" is ``working_days_between(today, due) <= N``.
        """
        a, b = _as_date(a), _as_date(b)
        count = 0
        day = a + timedelta(days=1)
        while day <= b:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count

    # ----------------------------------------------------------------------------- terms
    def term(self, start: date, urgency: Urgency, days: int | None = None) -> date:
        """The day by which a document registered (or given its resolution) on ``start`` must
        be executed: ``start`` plus the default days for ``urgency`` (or ``days``, when the
        resolution names its own), moved back to a working day when it falls on a day off.

        A term is never earlier than ``start``: when moving back would cross it (a term of 0
        days, or a short term inside the New Year holidays), the term is the first working day
        on or after ``start`` instead, because a document cannot be due before it arrived.
        """
        start = _as_date(start)
        length = DEFAULT_TERMS[urgency] if days is None else days
        if length < 0:
            raise ValueError(f"a term cannot be negative ({length} days)")
        due = self.previous_working_day(start + timedelta(days=length))
        if due < start:
            return self.next_working_day(start)
        return due

    # -------------------------------------------------------------------------- internals
    def _search(self, origin: date, step: int) -> date:
        day = origin
        for _ in range(SEARCH_LIMIT_DAYS + 1):
            if self.is_working_day(day):
                return day
            day += timedelta(days=step)
        direction = "before" if step < 0 else "after"
        raise ValueError(
            f"no working day within {SEARCH_LIMIT_DAYS} days {direction} {_format(origin)}: "
            "check the extra holidays of the production calendar"
        )

    def _holidays(self, year: int) -> holidays.HolidayBase:
        """The package's calendar for one year, built on first use and kept.

        One object per year (the package gives the same days for a year alone as within a
        range); the lock keeps two threads from building the same year twice, and a built year
        is only ever read.
        """
        cached = self._years.get(year)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._years.get(year)
            if cached is None:
                cached = holidays.country_holidays(
                    self.country, years=year, language=self._language
                )
                self._years[year] = cached
            return cached


def _as_date(day: date) -> date:
    """Refuse a datetime: its date depends on the time zone it was taken in, and a UTC
    timestamp late in the evening is already tomorrow in Moscow. Callers convert first."""
    if isinstance(day, datetime):
        raise TypeError(f"a date is expected, not a datetime ({day.isoformat()}): convert it")
    return day


def _format(day: date) -> str:
    return day.strftime("%d.%m.%Y")
