"""Attendance: how each participant shows on the advisor's queue page (invited, waiting,
connection lost?, in the call, did not come, ...), from the journey state and presence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _

from .journey import NOT_YET_ARRIVED
from .models import AppointmentStatus, JourneyState, Participant, utcnow


@dataclass
class Attendance:
    key: str  # stable, for styling and tests (data-state)
    label: str
    waiting_minutes: int | None = None


def attendance(participant: Participant, now: datetime | None = None) -> Attendance:
    appt = participant.appointment
    return attendance_of(participant.journey_state, appt.status, participant.waiting_since,
                         participant.last_seen_at, appt.ends_at, now or utcnow())


def attendance_of(state: JourneyState, status: AppointmentStatus,
                  waiting_since: datetime | None, last_seen_at: datetime | None,
                  ends_at: datetime, now: datetime) -> Attendance:
    """The rules, from the plain values: the queue's fingerprint uses them on its rows."""
    if status is AppointmentStatus.CANCELLED:
        return Attendance("cancelled", _("cancelled"))
    if state is JourneyState.DECLINED:
        return Attendance("declined", _("declined consent"))
    if state is JourneyState.WAITING and status is AppointmentStatus.ENDED:
        # Ended while still waiting: nobody waits any more (their page says it is over).
        return Attendance("not_admitted", _("not let in"))
    if state is JourneyState.WAITING:
        minutes = int((now - waiting_since).total_seconds() // 60) if waiting_since else 0
        # Polled recently enough to count as present (waiting-room presence).
        timeout = timedelta(seconds=current_app.config["PRESENCE_TIMEOUT_SECONDS"])
        if last_seen_at is None or now - last_seen_at > timeout:
            return Attendance("connection_lost", _("connection lost?"), minutes)
        return Attendance("waiting", _("waiting"), minutes)
    if state is JourneyState.ADMITTED:
        return Attendance("admitted", _("admitted, joining"))
    if state is JourneyState.IN_CALL:
        return Attendance("in_call", _("in the call"))
    if state is JourneyState.LEFT_CALL:
        return Attendance("left_call", _("left the call"))
    if state is JourneyState.DONE:
        return Attendance("done", _("call ended"))
    if state is JourneyState.LEFT:
        return Attendance("left", _("left the waiting room"))
    if state in NOT_YET_ARRIVED and (status is AppointmentStatus.ENDED or now > ends_at):
        return Attendance("no_show", _("did not come"))
    return {
        JourneyState.INVITED: Attendance("invited", _("invited")),
        JourneyState.LINK_OPENED: Attendance("link_opened", _("link opened")),
        JourneyState.CONSENTED: Attendance("consented", _("consented")),
        JourneyState.CHECKED: Attendance("checked",
                                         _("device checked, not in the waiting room")),
    }[state]
