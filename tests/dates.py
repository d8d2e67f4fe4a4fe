"""Dates next year with the properties the tests need, so no test expires.

Booking forms refuse times in the past and links expire after an appointment,
so fixed dates would fail once the calendar passes them.
"""

from __future__ import annotations

from datetime import date, timedelta

YEAR = date.today().year + 1

GERMAN_MONTHS = {3: "März", 4: "April", 12: "Dezember"}


def first_weekday(month: int, weekday: int, year: int = YEAR) -> date:
    """The first given weekday (Monday = 0) of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def last_sunday_of_march(year: int = YEAR) -> date:
    """The day Central European clocks go forward (02:00 → 03:00)."""
    last = date(year, 3, 31)
    return last - timedelta(days=(last.weekday() - 6) % 7)


# A Tuesday in winter time (UTC+1) and one in summer time (UTC+2).
WINTER_TUESDAY = first_weekday(3, 1)
SUMMER_TUESDAY = first_weekday(4, 1)
DECEMBER_TUESDAY = first_weekday(12, 1)
CLOCKS_FORWARD = last_sunday_of_march()


def german_day(day: date, weekday: str) -> str:
    return f"{weekday}, {day.day}. {GERMAN_MONTHS[day.month]} {day.year}"
