"""What an advisor does with people in the waiting room: admit, message, identity, end.

Every action is an audit event (who, what, when). Admitting and ending move participants
through the journey (portal/journey.py), which also records them.
"""

from __future__ import annotations

import unicodedata

from . import journey
from .access import needs_identity_check
from .audit import audit
from .extensions import db
from .models import Advisor, Appointment, AppointmentStatus, Participant, utcnow
from .providers import get_provider

MESSAGE_MAX = 300


def admit(appointment: Appointment, participants: list[Participant], advisor: Advisor) -> int:
    """Let waiting participants into the call. Returns how many were admitted."""
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return 0
    get_provider().prepare(appointment)
    count = 0
    for participant in participants:
        # Whoever is no longer waiting (left, or let in by another click) is passed over.
        if participant.appointment_id != appointment.id or \
                not journey.ADMIT.allows(participant):
            continue
        journey.admit(participant, advisor)
        count += 1
    db.session.commit()
    return count


def clean_message(text: str | None) -> str:
    # One line of plain text; control characters (newlines included) become spaces.
    cleaned = "".join(" " if unicodedata.category(ch).startswith("C") else ch
                      for ch in (text or ""))
    return " ".join(cleaned.split())


def set_waiting_message(appointment: Appointment, text: str, advisor: Advisor) -> None:
    """Show a short note in the waiting room; an empty text removes it."""
    appointment.waiting_message = text or None
    appointment.waiting_message_at = utcnow()
    audit("waiting_room.message" if text else "waiting_room.message_removed", actor="advisor",
          advisor=advisor, appointment=appointment)
    db.session.commit()


def set_identity_checked(participant: Participant, checked: bool, advisor: Advisor) -> None:
    """Only a yes/no and the time are stored, never anything from the document."""
    if not needs_identity_check(participant):
        return
    participant.identity_checked_at = utcnow() if checked else None
    audit("identity.checked" if checked else "identity.unchecked", actor="advisor",
          advisor=advisor, appointment=participant.appointment, participant=participant)
    db.session.commit()


def end_appointment(appointment: Appointment, advisor: Advisor) -> None:
    """End the call for everyone; participants' pages move to the closing page."""
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return
    journey.end(appointment, advisor)
    appointment.status = AppointmentStatus.ENDED
    appointment.ended_at = utcnow()
    get_provider().end(appointment)
    db.session.commit()
