"""The queue's fingerprint: a hash of everything the queue fragment shows, worked out from the
data without rendering, so an unchanged poll answers 204 cheaply.

On PostgreSQL the rows it is worked out from are kept in this worker (portal/poll_cache.py)
and told of every change by the database, so an unchanged poll reads nothing. Whatever the
queue fragment shows must be in `_fingerprint_rows`, and its table and column in the queue's
triggers (migration 0007), or a change would not show until something else changes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import func, select

from ..access import visible_appointments
from ..attendance import attendance_of, presence_timeout
from ..extensions import db
from ..models import (
    Advisor,
    Appointment,
    AppointmentStatus,
    DeviceCheck,
    JourneyState,
    Participant,
    ProviderMeeting,
    utcnow,
)
from ..poll_cache import for_app as poll_cache
from ..timeutil import to_local


class Window:
    """Which appointments the queue shows at `now`: today's (local day) and any whose waiting
    room is open right now.

    Around midnight the local day alone would hide a citizen already waiting for
    00:05, or one rejoining a call that began at 23:45.
    """

    def __init__(self, now: datetime):
        config = current_app.config
        self.now = now
        self.opens_early = timedelta(minutes=config["WAITING_ROOM_OPENS_MINUTES"])
        self.grace = timedelta(minutes=config["LINK_GRACE_MINUTES"])
        lingers = timedelta(minutes=config["MAX_DURATION_MINUTES"]) + self.grace
        self.day_start = to_local(now).replace(hour=0, minute=0, second=0, microsecond=0)
        self.day_end = self.day_start + timedelta(days=1)
        self.earliest = min(self.day_start, now - lingers)
        self.latest = max(self.day_end, now + self.opens_early)

    def where(self, query):
        return query.where(Appointment.starts_at >= self.earliest,
                           Appointment.starts_at < self.latest)

    def shows(self, starts_at: datetime, duration_minutes: int) -> bool:
        if self.day_start <= starts_at < self.day_end:
            return True
        ends_at = starts_at + timedelta(minutes=duration_minutes)
        return starts_at - self.opens_early <= self.now <= ends_at + self.grace


def todays_appointments(show_all: bool, now: datetime) -> list[Appointment]:
    window = Window(now)
    query = window.where(visible_appointments(everyone=show_all)).order_by(Appointment.starts_at)
    return [a for a in db.session.scalars(query)
            if window.shows(a.starts_at, a.duration_minutes)]


# The kept rows of a queue are read for a window reaching this far past the current one, so
# they serve while the window moves on with the clock.
_KEEP_AHEAD = timedelta(minutes=30)


class _Row(NamedTuple):
    """One row of the queue's fingerprint: what the clock does not change, already in bytes,
    and the values the clock-dependent parts are worked out from."""
    starts_at: datetime
    duration: int
    ends_at: datetime
    fixed: bytes
    participant_id: int | None
    state: JourneyState | None
    status: AppointmentStatus
    waiting_since: datetime | None
    last_seen_at: datetime | None


def _fingerprint_rows(show_all: bool, earliest: datetime, latest: datetime) -> list[_Row]:
    latest_check = (select(func.max(DeviceCheck.id))
                    .where(DeviceCheck.participant_id == Participant.id)
                    .correlate(Participant).scalar_subquery())
    query = (
        select(Appointment.id, Appointment.starts_at, Appointment.duration_minutes,
               Appointment.status, Appointment.waiting_message, Advisor.name,
               Participant.id, Participant.name, Participant.role, Participant.journey_state,
               Participant.waiting_since, Participant.last_seen_at,
               Participant.identity_checked_at, latest_check, Appointment.provider,
               ProviderMeeting.provider, ProviderMeeting.prepared_at,
               ProviderMeeting.ended_at, ProviderMeeting.last_failure,
               ProviderMeeting.last_failure_at)
        .join(Advisor, Appointment.advisor_id == Advisor.id)
        .outerjoin(ProviderMeeting, ProviderMeeting.appointment_id == Appointment.id)
        .outerjoin(Participant, Participant.appointment_id == Appointment.id)
        .where(Appointment.starts_at >= earliest, Appointment.starts_at < latest)
        .order_by(Appointment.starts_at, Appointment.id, Participant.id))
    if not show_all:
        query = query.where(Appointment.advisor_id == current_user.id)
    rows = []
    for (appt_id, starts_at, duration, status, message, advisor, p_id, name, role, state,
         waiting_since, last_seen_at, identity_at, check_id, *meeting) in db.session.execute(query):
        # meeting: the chosen provider and the meeting's state there (prepared, ended, the
        # last failure the queue reports).
        fixed = repr((appt_id, starts_at, duration, status, message, advisor, p_id, name, role,
                      state, identity_at, check_id, waiting_since, meeting)).encode()
        rows.append(_Row(starts_at, duration, starts_at + timedelta(minutes=duration), fixed,
                         p_id, state, status, waiting_since, last_seen_at))
    return rows


class _Kept:
    """A queue's rows as this worker keeps them, with the last fingerprint worked out from
    them: it holds until the clock reaches the next moment anything shown can change with
    time, or a presence time of a waiting participant changes."""

    def __init__(self, earliest: datetime, latest: datetime, rows: list[_Row]):
        self.earliest, self.latest, self.rows = earliest, latest, rows
        self.waiting = [(r.participant_id, r.last_seen_at) for r in rows
                        if r.state is JourneyState.WAITING]
        # locale -> (digest, worked out at, holds until, presence times it used)
        self.memo: dict[str, tuple[str, datetime, datetime, tuple]] = {}

    def presence(self, cache) -> tuple:
        """The presence times of the waiting participants, as the cache has them now."""
        return tuple(cache.presence(pid, seen) for pid, seen in self.waiting)

    def covers(self, window: Window) -> bool:
        return self.earliest <= window.earliest and window.latest <= self.latest


def _queue_rows(show_all: bool, window: Window, cache, kept: _Kept | None):
    """The fingerprint's rows for at least this window: this worker's kept copy (PostgreSQL,
    see portal/poll_cache.py), else read (and kept). Returns (rows, kept copy or None)."""
    if kept is not None and kept.covers(window):
        return kept.rows, kept
    if cache is not None:
        epoch = cache.queue_epoch(current_user.id, show_all)
    latest = window.latest + _KEEP_AHEAD
    rows = _fingerprint_rows(show_all, window.earliest, latest)
    kept = None
    if cache is not None:
        kept = _Kept(window.earliest, latest, rows)
        cache.put_queue(current_user.id, show_all, kept, epoch)
    return rows, kept


def queue_fingerprint(show_all: bool, now: datetime | None = None) -> str:
    """A hash of everything the queue fragment shows, from the data and without rendering.

    Per appointment: which ones are listed, time, status, message, the advisor (for the
    admin's view), whether it is over. Per participant: name, role, journey state, waiting
    since, how they show (attendance_of: the same rules as the page, so minutes waiting and
    "connection lost?" count), identity check, the latest device check (a check is never
    changed after it is stored, so its id stands for its content).
    The language, because labels are translated. CSRF tokens are not data and are left out.

    With a kept copy, the last digest is answered while it holds (see _Kept), before anything
    else is worked out: the unchanged poll of a queue is then hardly more than a dict lookup.
    """
    now = now or utcnow()
    show_all = show_all and current_user.is_admin
    locale = str(get_locale())
    cache = poll_cache()
    kept = cache.get_queue(current_user.id, show_all) if cache is not None else None
    if kept is not None:
        memo = kept.memo.get(locale)
        if memo is not None and memo[1] <= now < memo[2] and memo[3] == kept.presence(cache):
            return memo[0]
    window = Window(now)
    rows, kept = _queue_rows(show_all, window, cache, kept)
    digest, holds_until = _fingerprint(rows, window, locale, show_all, cache)
    if kept is not None:
        # Until the window outgrows the kept rows, too (the memo then implies covers()).
        holds_until = min(holds_until, kept.latest - window.opens_early)
        kept.memo[locale] = (digest, now, holds_until, kept.presence(cache))
    return digest


def _fingerprint(rows: list[_Row], window: Window, locale: str, show_all: bool,
                 cache) -> tuple[str, datetime]:
    """The digest at window.now, and the next moment the clock alone can change it: every
    comparison with `now` below (and in Window.shows and attendance_of) has its turning point
    among `turns`."""
    now = window.now
    digest = hashlib.sha256(f"{locale}|{show_all}".encode())
    timeout = presence_timeout()
    turns = [window.day_end]
    for row in rows:
        turns += (row.starts_at - window.opens_early, row.ends_at + window.grace, row.ends_at)
        if not window.shows(row.starts_at, row.duration):
            continue
        digest.update(row.fixed)
        over = now > row.ends_at
        if row.state is None:  # an appointment without participants has one row of None
            digest.update(b"|over" if over else b"|on")
            continue
        last_seen_at = row.last_seen_at
        if cache is not None:
            last_seen_at = cache.presence(row.participant_id, last_seen_at)
        shown = attendance_of(row.state, row.status, row.waiting_since, last_seen_at,
                              row.ends_at, now, timeout)
        if shown.waiting_minutes is not None and row.waiting_since is not None:
            turns.append(row.waiting_since + timedelta(minutes=shown.waiting_minutes + 1))
        if last_seen_at is not None:
            turns.append(last_seen_at + timeout)
        digest.update(f"|{over}|{shown.key}|{shown.waiting_minutes}".encode())
    # A turn equal to now: some comparisons are strict (now > ends_at), so the digest may
    # change just after it; it then holds for no time at all and the next poll works it out.
    return digest.hexdigest()[:16], min(t for t in turns if t >= now)
