"""The advisor's queue page: today's appointments, who is waiting, admission and actions.

One URL serves the page and, for htmx polls, the fragment; an unchanged fragment answers 204.
Whether it changed is decided from the data, in one query and without rendering
(`queue_fingerprint`), so an unchanged poll costs little more than the advisor's login check.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .. import admission
from ..access import own_appointment, visible_appointments
from ..attendance import attendance, attendance_of, presence_timeout
from ..extensions import db
from ..htmx import is_htmx, page_or_fragment
from ..models import (
    Advisor,
    Appointment,
    AppointmentStatus,
    DeviceCheck,
    Participant,
    utcnow,
)
from ..timeutil import to_local
from . import bp


class _Window:
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


def _todays_appointments(show_all: bool, now: datetime) -> list[Appointment]:
    window = _Window(now)
    query = window.where(visible_appointments(everyone=show_all)).order_by(Appointment.starts_at)
    return [a for a in db.session.scalars(query)
            if window.shows(a.starts_at, a.duration_minutes)]


def queue_fingerprint(show_all: bool, now: datetime | None = None) -> str:
    """A hash of everything the queue fragment shows, from one query and without rendering.

    Per appointment: which ones are listed, time, status, message, the advisor (for the
    admin's view), whether it is over. Per participant: name, role, journey state, waiting
    since, how they show (attendance_of: the same rules as the page, so minutes waiting and
    "connection lost?" count), identity check, the latest device check (a check is never
    changed after it is stored, so its id stands for its content).
    The language, because labels are translated. CSRF tokens are not data and are left out.
    """
    now = now or utcnow()
    window = _Window(now)
    latest_check = (select(func.max(DeviceCheck.id))
                    .where(DeviceCheck.participant_id == Participant.id)
                    .correlate(Participant).scalar_subquery())
    query = window.where(
        select(Appointment.id, Appointment.starts_at, Appointment.duration_minutes,
               Appointment.status, Appointment.waiting_message, Advisor.name,
               Participant.id, Participant.name, Participant.role, Participant.journey_state,
               Participant.waiting_since, Participant.last_seen_at,
               Participant.identity_checked_at, latest_check)
        .join(Advisor, Appointment.advisor_id == Advisor.id)
        .outerjoin(Participant, Participant.appointment_id == Appointment.id)
    ).order_by(Appointment.starts_at, Appointment.id, Participant.id)
    if not (current_user.is_admin and show_all):
        query = query.where(Appointment.advisor_id == current_user.id)
    digest = hashlib.sha256(f"{get_locale()}|{show_all}".encode())
    timeout = presence_timeout()
    for (appt_id, starts_at, duration, status, message, advisor, p_id, name, role, state,
         waiting_since, last_seen_at, identity_at, check_id) in db.session.execute(query):
        if not window.shows(starts_at, duration):
            continue
        ends_at = starts_at + timedelta(minutes=duration)
        row: tuple = (appt_id, starts_at, duration, status, message, advisor, now > ends_at,
                      p_id, name, role, state, identity_at, check_id, waiting_since)
        if state is not None:  # an appointment without participants has one row of None
            shown = attendance_of(state, status, waiting_since, last_seen_at, ends_at, now,
                                  timeout)
            row += (shown.key, shown.waiting_minutes)
        digest.update(repr(row).encode())
    return digest.hexdigest()[:16]


def _queue_context(show_all: bool, now: datetime, version: str, announce: str | None,
                   announce_category: str) -> dict:
    appointments = _todays_appointments(show_all, now)
    states = {p.id: attendance(p, now) for a in appointments for p in a.participants}
    waiting = sum(1 for s in states.values() if s.key in ("waiting", "connection_lost"))
    return dict(appointments=appointments, states=states, waiting=waiting, version=version,
                show_all=show_all, poll_seconds=current_app.config["QUEUE_POLL_SECONDS"],
                announce=announce, announce_category=announce_category)


def _answer(announce: str | None = None, announce_category: str = "success"):
    """The queue as page or fragment (an action's fragment announces its outcome); an
    unchanged poll is answered from the fingerprint alone.

    First the fingerprint, then the data: a change in between shows now and is seen as a
    change again by the next poll, never hidden."""
    show_all = _show_all()
    now = utcnow()
    version = queue_fingerprint(show_all, now)
    return page_or_fragment("advisor/queue.html", "advisor/_queue.html",
                            lambda: _queue_context(show_all, now, version, announce,
                                                   announce_category),
                            version)


def _queue_args() -> dict:
    return {"alle": 1} if _show_all() else {}


def _show_all() -> bool:
    return current_user.is_admin and request.values.get("alle") == "1"


@bp.get("/warteschlange")
def queue():
    return _answer()


def _after_action(message: str | None = None, category: str = "success"):
    """htmx: the fresh queue fragment, announcing the outcome; without JavaScript: back to
    the page."""
    if is_htmx():
        return _answer(message, category)
    if message:
        flash(message, category)
    return redirect(url_for(".queue", **_queue_args()))


def _participant_of(appointment: Appointment, participant_id: int) -> Participant:
    participant = next((p for p in appointment.participants if p.id == participant_id), None)
    if participant is None:
        abort(404)
    return participant


@bp.post("/termine/<int:appointment_id>/einlassen/<int:participant_id>")
def admit(appointment_id: int, participant_id: int):
    appointment = own_appointment(appointment_id)
    participant = _participant_of(appointment, participant_id)
    count = admission.admit(appointment, [participant], current_user)
    return _after_action(_("%(name)s has been let in.", name=participant.name) if count
                         else _("Nobody was let in: the person is no longer waiting."))


@bp.post("/termine/<int:appointment_id>/alle-einlassen")
def admit_all(appointment_id: int):
    appointment = own_appointment(appointment_id)
    count = admission.admit(appointment, list(appointment.participants), current_user)
    return _after_action(ngettext("%(num)d person has been let in.",
                                  "%(num)d people have been let in.", count))


@bp.post("/termine/<int:appointment_id>/nachricht")
def message(appointment_id: int):
    appointment = own_appointment(appointment_id)
    text = admission.clean_message(request.form.get("message"))
    if len(text) > admission.MESSAGE_MAX:
        return _after_action(_("The message must be %(max)d characters or fewer.",
                               max=admission.MESSAGE_MAX), category="error")
    admission.set_waiting_message(appointment, text, current_user)
    return _after_action(_("The message is shown in the waiting room.") if text
                         else _("The message has been removed from the waiting room."))


@bp.post("/termine/<int:appointment_id>/identitaet/<int:participant_id>")
def identity(appointment_id: int, participant_id: int):
    appointment = own_appointment(appointment_id)
    participant = _participant_of(appointment, participant_id)
    checked = request.form.get("checked") == "1"
    admission.set_identity_checked(participant, checked, current_user)
    return _after_action(_("Identity marked as checked.") if checked
                         else _("Identity check removed."))


@bp.post("/termine/<int:appointment_id>/beenden")
def end_appointment(appointment_id: int):
    appointment = own_appointment(appointment_id)
    if appointment.status is AppointmentStatus.SCHEDULED:
        admission.end_appointment(appointment, current_user)
    return _after_action(_("The appointment has been ended."))

