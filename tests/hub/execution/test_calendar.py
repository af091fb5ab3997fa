"""The production calendar against the real Russian calendars of 2025-2027 (as the ``holidays``
package knows them) and the region's own corrections. No test reads today's date."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest

from envelopes.model import Urgency
from hub.errors import ConfigError
from hub.execution.calendar import DEFAULT_TERMS, SEARCH_LIMIT_DAYS, WorkCalendar


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar()


def test_default_terms() -> None:
    assert dict(DEFAULT_TERMS) == {Urgency.NORMAL: 30, Urgency.OPERATIVE: 10, Urgency.URGENT: 3}
    with pytest.raises(TypeError):
        DEFAULT_TERMS[Urgency.NORMAL] = 1  # type: ignore[index]


# --------------------------------------------------------------------------------- the days
@pytest.mark.parametrize("day", [date(2026, 1, d) for d in range(1, 9)])
def test_new_year_holidays_2026(calendar: WorkCalendar, day: date) -> None:
    assert not calendar.is_working_day(day)


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 1, 9), "substituted day off (for Saturday 03.01)"),
        (date(2026, 3, 9), "Women's Day fell on a Sunday: observed on Monday"),
        (date(2026, 5, 11), "Victory Day fell on a Saturday: observed on Monday"),
        (date(2026, 12, 31), "substituted day off (for Sunday 04.01)"),
        (date(2027, 2, 22), "substituted day off (for Saturday 20.02.2027)"),
        (date(2026, 12, 6), "an ordinary Sunday"),
        (date(2026, 12, 5), "an ordinary Saturday"),
    ],
)
def test_non_working_days(calendar: WorkCalendar, day: date, why: str) -> None:
    assert not calendar.is_working_day(day), why


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (date(2026, 12, 7), "an ordinary Monday"),
        (date(2026, 1, 12), "the first working day of 2026"),
        (date(2026, 12, 30), "the last working day of 2026"),
        (date(2025, 11, 1), "a Saturday made a working day (for Monday 03.11.2025)"),
        (date(2027, 2, 20), "a Saturday made a working day (for Monday 22.02.2027)"),
    ],
)
def test_working_days(calendar: WorkCalendar, day: date, why: str) -> None:
    assert calendar.is_working_day(day), why


def test_transferred_saturdays_are_saturdays(calendar: WorkCalendar) -> None:
    """The working Saturdays above are real Saturdays, so the test shows the transfer."""
    assert date(2025, 11, 1).weekday() == 5
    assert date(2027, 2, 20).weekday() == 5
    assert not calendar.is_working_day(date(2027, 2, 27))  # the next Saturday rests


def test_non_working_reason(calendar: WorkCalendar) -> None:
    assert calendar.non_working_reason(date(2026, 12, 7)) is None
    assert calendar.non_working_reason(date(2026, 12, 6)) == "Sunday"
    assert calendar.non_working_reason(date(2026, 12, 5)) == "Saturday"
    assert calendar.non_working_reason(date(2026, 1, 1)) == "Новогодние каникулы"
    assert calendar.non_working_reason(date(2026, 1, 7)) == "Рождество Христово"
    assert calendar.non_working_reason(date(2026, 6, 12)) == "День России"
    # a holiday that falls on a Sunday is named as the holiday, not the weekday
    assert calendar.non_working_reason(date(2026, 3, 8)) == "Международный женский день"
    assert "перенесено" in (calendar.non_working_reason(date(2026, 12, 31)) or "")
    assert calendar.non_working_reason(date(2025, 11, 1)) is None


def test_names_do_not_follow_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Left to itself the package picks a language from LANG; the calendar always asks."""
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    assert WorkCalendar().non_working_reason(date(2026, 6, 12)) == "День России"


def test_another_country_names_in_english_when_russian_is_not_offered() -> None:
    calendar = WorkCalendar(country="US")
    assert not calendar.is_working_day(date(2026, 7, 3))  # Independence Day (observed)
    assert "Independence Day" in (calendar.non_working_reason(date(2026, 7, 3)) or "")


def test_an_unknown_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'XX'"):
        WorkCalendar(country="XX")


# ----------------------------------------------------------------------- region's corrections
def test_extra_holiday() -> None:
    day = date(2026, 12, 7)  # a Monday
    calendar = WorkCalendar(extra_holidays=[day])
    assert not calendar.is_working_day(day)
    assert calendar.non_working_reason(day) == "extra holiday"
    assert calendar.previous_working_day(day) == date(2026, 12, 4)


def test_extra_working_day_wins_over_weekend_and_holiday() -> None:
    saturday, holiday = date(2026, 12, 5), date(2026, 12, 31)
    calendar = WorkCalendar(extra_working_days=[saturday, holiday], extra_holidays=[holiday])
    assert calendar.is_working_day(saturday)
    assert calendar.is_working_day(holiday)
    assert calendar.non_working_reason(holiday) is None
    assert calendar.term(date(2026, 12, 1), Urgency.NORMAL) == date(2026, 12, 31)


def test_extra_days_take_any_iterable_once() -> None:
    calendar = WorkCalendar(extra_holidays=(d for d in [date(2026, 12, 7)]))
    assert not calendar.is_working_day(date(2026, 12, 7))
    assert not calendar.is_working_day(date(2026, 12, 7))  # the generator was kept, not re-read


# ------------------------------------------------------------------------------ moving days
def test_previous_and_next_working_day(calendar: WorkCalendar) -> None:
    assert calendar.previous_working_day(date(2026, 12, 7)) == date(2026, 12, 7)
    assert calendar.previous_working_day(date(2026, 12, 6)) == date(2026, 12, 4)
    assert calendar.previous_working_day(date(2026, 1, 11)) == date(2025, 12, 30)
    assert calendar.next_working_day(date(2026, 1, 1)) == date(2026, 1, 12)
    assert calendar.next_working_day(date(2026, 12, 7)) == date(2026, 12, 7)


def test_searches_are_bounded() -> None:
    start = date(2026, 6, 1)
    everything = [start - timedelta(days=n) for n in range(SEARCH_LIMIT_DAYS + 2)]
    calendar = WorkCalendar(extra_holidays=everything)
    with pytest.raises(ValueError, match=r"366 days before 01\.06\.2026"):
        calendar.previous_working_day(start)
    assert calendar.next_working_day(start) == date(2026, 6, 2)


def test_datetimes_are_refused(calendar: WorkCalendar) -> None:
    with pytest.raises(TypeError, match="not a datetime"):
        calendar.is_working_day(datetime(2026, 12, 7, 23, 30))


# ------------------------------------------------------------------------------------ terms
@pytest.mark.parametrize(
    ("start", "urgency", "days", "due", "why"),
    [
        (date(2026, 12, 1), Urgency.URGENT, None, date(2026, 12, 4), "+3: a Friday, working"),
        (date(2026, 11, 3), Urgency.OPERATIVE, None, date(2026, 11, 13), "+10: a Friday"),
        (date(2026, 11, 6), Urgency.NORMAL, None, date(2026, 12, 4), "+30 = Sunday 06.12"),
        (date(2026, 11, 5), Urgency.NORMAL, None, date(2026, 12, 4), "+30 = Saturday 05.12"),
        (date(2026, 12, 1), Urgency.NORMAL, None, date(2026, 12, 30), "+30 = 31.12, a day off"),
        (date(2026, 12, 4), Urgency.NORMAL, None, date(2026, 12, 30), "+30 = 03.01.2027"),
        (date(2026, 12, 1), Urgency.NORMAL, 6, date(2026, 12, 7), "its own term: Monday"),
        (date(2026, 12, 7), Urgency.URGENT, 0, date(2026, 12, 7), "due the same day"),
        (date(2027, 2, 17), Urgency.URGENT, None, date(2027, 2, 20), "a working Saturday"),
    ],
)
def test_term(
    calendar: WorkCalendar, start: date, urgency: Urgency, days: int | None, due: date, why: str
) -> None:
    assert calendar.term(start, urgency, days) == due, why


def test_term_is_never_before_its_start(calendar: WorkCalendar) -> None:
    # received on a Sunday, due "today": not the Friday before, the Monday after
    assert calendar.term(date(2026, 12, 6), Urgency.URGENT, 0) == date(2026, 12, 7)
    # received on 02.01.2026, urgent: +3 = 05.01, back to 30.12.2025 would precede the start
    assert calendar.term(date(2026, 1, 2), Urgency.URGENT) == date(2026, 1, 12)
    # received on a Saturday, +1 = Sunday: back to Friday would precede it
    assert calendar.term(date(2026, 12, 5), Urgency.URGENT, 1) == date(2026, 12, 7)


def test_term_accepts_the_urgency_as_text(calendar: WorkCalendar) -> None:
    assert calendar.term(date(2026, 12, 1), Urgency("operative")) == date(2026, 12, 11)


def test_negative_term_is_refused(calendar: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        calendar.term(date(2026, 12, 1), Urgency.NORMAL, -1)


# ------------------------------------------------------------------------ counting the days
def test_working_days_between(calendar: WorkCalendar) -> None:
    monday = date(2026, 12, 7)
    assert calendar.working_days_between(monday, monday) == 0
    assert calendar.working_days_between(monday, monday + timedelta(days=1)) == 1
    assert calendar.working_days_between(date(2026, 12, 4), date(2026, 12, 7)) == 1  # Sat, Sun
    assert calendar.working_days_between(monday, date(2026, 12, 4)) == 0  # b before a
    # December 2026 has 22 working days (31.12 is a day off)
    assert calendar.working_days_between(date(2026, 11, 30), date(2026, 12, 31)) == 22
    # across the New Year: 30.12.2025 (Tuesday) to 12.01.2026, only the 12th works
    assert calendar.working_days_between(date(2025, 12, 30), date(2026, 1, 12)) == 1


def test_working_days_in_2026(calendar: WorkCalendar) -> None:
    """The official production calendar of 2026 has 247 working days."""
    assert calendar.working_days_between(date(2025, 12, 31), date(2026, 12, 31)) == 247


def test_years_are_built_once_under_threads() -> None:
    calendar = WorkCalendar()
    seen: list[bool] = []

    def ask() -> None:
        seen.append(calendar.is_working_day(date(2026, 12, 31)))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [False] * 8
    assert list(calendar._years) == [2026]
