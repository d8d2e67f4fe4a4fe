"""Attendance: how each participant shows on the advisor's queue page (invited, waiting,
connection lost?, in the call, did not come, ...), from the journey state and presence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext

from .journey import NOT_YET_ARRIVED
from .models import AppointmentStatus, JourneyState, Participant, utcnow

_LABELS = {
    "cancelled": lazy_gettext("cancelled"),
    "declined": lazy_gettext("declined consent"),
    "not_admitted": lazy_gettext("not let in"),
    "connection_lost": lazy_gettext("connection lost?"),
    "waiting": lazy_gettext("waiting"),
    "admitted": lazy_gettext("admitted, joining"),
    "in_call": lazy_gettext("in the call"),
    "left_call": lazy_gettext("left the call"),
    "done": lazy_gettext("call ended"),
    "left": lazy_gettext("left the waiting room"),
    "no_show": lazy_gettext("did not come"),
    "invited": lazy_gettext("invited"),
    "link_opened": lazy_gettext("link opened"),
    "consented": lazy_gettext("consented"),
    "checked": lazy_gettext("device checked, not in the waiting room"),
}
_BY_STATE = {
    JourneyState.ADMITTED: "admitted", JourneyState.IN_CALL: "in_call",
    JourneyState.LEFT_CALL: "left_call", JourneyState.DONE: "done", JourneyState.LEFT: "left",
    JourneyState.INVITED: "invited", JourneyState.LINK_OPENED: "link_opened",
    JourneyState.CONSENTED: "consented", JourneyState.CHECKED: "checked",
}


@dataclass(frozen=True)
class Attendance:
    key: str  # stable, for styling and tests (data-state)
    waiting_minutes: int | None = None

    @property
    def label(self) -> str:
        # Translated when shown: the queue's fingerprint decides from the key alone, many
        # times a second, and must not pay for translations it never shows.
        return str(_LABELS[self.key])


def attendance(participant: Participant, now: datetime | None = None) -> Attendance:
    appt = participant.appointment
    return attendance_of(participant.journey_state, appt.status, participant.waiting_since,
                         participant.last_seen_at, appt.ends_at, now or utcnow(),
                         presence_timeout())


def attendance_of(state: JourneyState, status: AppointmentStatus,
                  waiting_since: datetime | None, last_seen_at: datetime | None,
                  ends_at: datetime, now: datetime, presence_timeout: timedelta) -> Attendance:
    """The rules, from the plain values: the queue's fingerprint uses them on its rows."""
    if status is AppointmentStatus.CANCELLED:
        return Attendance("cancelled")
    if state is JourneyState.DECLINED:
        return Attendance("declined")
    if state is JourneyState.WAITING and status is AppointmentStatus.ENDED:
        # Ended while still waiting: nobody waits any more (their page says it is over).
        return Attendance("not_admitted")
    if state is JourneyState.WAITING:
        minutes = int((now - waiting_since).total_seconds() // 60) if waiting_since else 0
        # Polled recently enough to count as present (waiting-room presence).
        if last_seen_at is None or now - last_seen_at > presence_timeout:
            return Attendance("connection_lost", minutes)
        return Attendance("waiting", minutes)
    if state in NOT_YET_ARRIVED and (status is AppointmentStatus.ENDED or now > ends_at):
        return Attendance("no_show")
    return Attendance(_BY_STATE[state])


def presence_timeout() -> timedelta:
    """No poll for this long: "connection lost?"."""
    return timedelta(seconds=current_app.config["PRESENCE_TIMEOUT_SECONDS"])
