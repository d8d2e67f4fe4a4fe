"""What an advisor does with people in the waiting room: admit, message, identity, end.

Every action is an audit event (who, what, when). Admitting and ending move participants
through the journey (portal/journey.py), which also records them.

Admission prepares the meeting at the appointment's provider first: if that fails, nobody is
admitted (nobody is sent to a dead link), the failure stays recorded on the meeting row for
the queue, and ProviderError reaches the caller with the advisor's message. Ending ends the
meeting at the provider too; BigBlueButton's end callback ends the appointment the same way.
"""

from __future__ import annotations

import logging
import unicodedata

from sqlalchemy import update

from . import journey
from .access import needs_identity_check
from .audit import audit
from .extensions import db
from .models import Advisor, Appointment, AppointmentStatus, JourneyState, Participant, utcnow
from .providers import ProviderError, provider_for
from .providers.meetings import clear_secrets

log = logging.getLogger(__name__)

MESSAGE_MAX = 300


def prepare_meeting(appointment: Appointment) -> None:
    """Prepare the appointment's meeting at its provider (idempotent). On a ProviderError the
    failure is committed (the queue shows it) and the error raised."""
    provider = provider_for(appointment)
    try:
        provider.prepare(appointment)
    except ProviderError:
        db.session.commit()
        raise
    db.session.commit()


def admit(appointment: Appointment, participants: list[Participant], advisor: Advisor) -> int:
    """Let waiting participants into the call. Returns how many were admitted.

    The meeting is prepared first; if the provider fails, nobody is admitted and
    ProviderError is raised (the failure is committed)."""
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return 0
    # Whoever is no longer waiting (left, or let in by another click) is passed over.
    chosen = [p for p in participants
              if p.appointment_id == appointment.id and journey.ADMIT.allows(p)]
    if not chosen:
        return 0
    prepare_meeting(appointment)
    for participant in chosen:
        journey.admit(participant, advisor)
    db.session.commit()
    return len(chosen)


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


def _claim_end(appointment: Appointment) -> bool:
    """SCHEDULED -> ENDED in one conditional UPDATE: of two requests ending at once (the
    advisor's click and the provider's callback, a double click) one wins."""
    claimed = db.session.execute(
        update(Appointment)
        .where(Appointment.id == appointment.id,
               Appointment.status == AppointmentStatus.SCHEDULED)
        .values(status=AppointmentStatus.ENDED, ended_at=utcnow())
        .execution_options(synchronize_session=False))
    return claimed.rowcount == 1


def end_appointment(appointment: Appointment, advisor: Advisor) -> bool:
    """End the call for everyone; participants' pages move to the closing page, and the
    meeting ends at the provider (best effort: a failure is logged, the appointment ends
    anyway). Returns False if it was no longer scheduled."""
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return False
    try:
        provider = provider_for(appointment)
    except ProviderError as error:  # no longer configured here: nothing to end there
        log.warning("Ending the meeting at the provider skipped: %s", error)
        provider = None
    if provider is not None:
        # Before any participant or appointment row changes: nothing of theirs is locked
        # while the provider is asked (it may take up to its timeout).
        provider.end(appointment)
    return _finish(appointment, advisor, actor="advisor")


def end_by_provider(appointment: Appointment) -> bool:
    """The provider says the meeting has ended (BigBlueButton's end callback).

    Once someone was handed over to the meeting, the appointment ends as if the advisor had
    ended it. A meeting nobody was handed over to ended by itself (BigBlueButton ends one
    that nobody joined in time): only the meeting row is closed, and the next admission or
    join prepares a new one. Returns True if the appointment ended."""
    row = appointment.provider_meeting
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        clear_secrets(row)
    handed_over = any(p.journey_state in (JourneyState.IN_CALL, JourneyState.LEFT_CALL)
                      for p in appointment.participants)
    if appointment.status is not AppointmentStatus.SCHEDULED or not handed_over:
        db.session.commit()
        return False
    return _finish(appointment, None, actor="provider")


def _finish(appointment: Appointment, advisor: Advisor | None, *, actor: str) -> bool:
    journey.end(appointment, advisor, actor=actor)
    if not _claim_end(appointment):
        db.session.rollback()  # ended meanwhile by another request: that one counted
        return False
    db.session.commit()
    db.session.refresh(appointment)
    return True
