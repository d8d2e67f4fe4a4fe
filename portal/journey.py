"""The participant's way through the portal: which page is next, and the waiting room's clock.

One function decides where a participant belongs, so the personal link, the start page and
every step can send people on without each repeating the rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from .models import Appointment, AppointmentStatus, JourneyState, Participant, utcnow

IN_OR_AFTER_CALL = (JourneyState.ADMITTED, JourneyState.IN_CALL, JourneyState.LEFT_CALL,
                    JourneyState.DONE)


def waiting_room_opens_at(appointment: Appointment) -> datetime:
    return appointment.starts_at - timedelta(
        minutes=current_app.config["WAITING_ROOM_OPENS_MINUTES"])


def waiting_room_is_open(appointment: Appointment) -> bool:
    return utcnow() >= waiting_room_opens_at(appointment)


def is_connected(participant: Participant, now: datetime | None = None) -> bool:
    """Polled recently enough to count as present (waiting-room presence)."""
    if participant.last_seen_at is None:
        return False
    timeout = timedelta(seconds=current_app.config["PRESENCE_TIMEOUT_SECONDS"])
    return (now or utcnow()) - participant.last_seen_at <= timeout


def next_endpoint(participant: Participant) -> str:
    """The page this participant should see now."""
    appointment = participant.appointment
    if appointment.status is AppointmentStatus.ENDED:
        return ("citizen.closing" if participant.journey_state in IN_OR_AFTER_CALL
                else "citizen.over")
    state = participant.journey_state
    if state is JourneyState.DECLINED:
        return "citizen.declined"
    if state in IN_OR_AFTER_CALL:
        return "call.participant_call"  # rejoin without a new admission
    # These states are reached only after consent and device check: the waiting room's
    # polls need not load either to know.
    if state in (JourneyState.CHECKED, JourneyState.WAITING, JourneyState.LEFT):
        return "citizen.waiting_room"
    if not participant.has_consented:
        return "citizen.start"
    if participant.device_check is None:
        return "citizen.device_check"
    return "citizen.waiting_room"
