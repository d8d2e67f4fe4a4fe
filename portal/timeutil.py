"""Time zone handling: UTC in the database, the portal's zone (default Europe/Berlin) for people."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_time
from flask import current_app


class NonexistentLocalTime(ValueError):
    """The wall-clock time is skipped when clocks go forward (e.g. 02:30 on the last Sunday
    of March in Berlin)."""


def portal_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def to_local(dt: datetime) -> datetime:
    return dt.astimezone(portal_tz())


def from_local(day: date, clock: time) -> datetime:
    """Combine a local date and time into an aware UTC datetime."""
    tz = portal_tz()
    local = datetime.combine(day, clock).replace(tzinfo=tz)
    # A round trip through UTC changes a time that does not exist on that day.
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise NonexistentLocalTime(local)
    return local.astimezone(UTC)


# Written out for people: "Dienstag, 1. Dezember 2026, 09:30 Uhr".
_LONG = {"de": "EEEE, d. MMMM y, HH:mm 'Uhr'", "en": "EEEE, d MMMM y, h:mm a"}
_SHORT = {"de": "EEE, dd.MM.y, HH:mm 'Uhr'", "en": "EEE, d MMM y, h:mm a"}
_CLOCK = {"de": "HH:mm 'Uhr'", "en": "h:mm a"}


def _lang(locale: str) -> str:
    return locale if locale in _LONG else "de"


def long_datetime(dt: datetime, locale: str) -> str:
    lang = _lang(locale)
    return format_datetime(dt, _LONG[lang], tzinfo=portal_tz(), locale=lang)


def short_datetime(dt: datetime, locale: str) -> str:
    lang = _lang(locale)
    return format_datetime(dt, _SHORT[lang], tzinfo=portal_tz(), locale=lang)


def clock_time(dt: datetime, locale: str) -> str:
    lang = _lang(locale)
    return format_time(dt, _CLOCK[lang], tzinfo=portal_tz(), locale=lang)
