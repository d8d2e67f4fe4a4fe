"""The audit trail: who did what, when. Ids and actions only, never a citizen's personal data.

Each call adds one AuditEvent to the caller's transaction; it is written with the change it
records, or not at all. The same call counts the event in the anonymous statistics
(portal/statistics.py), in the same transaction.
"""

from __future__ import annotations

from .extensions import db
from .models import Advisor, Appointment, AuditEvent, Participant
from .statistics import on_event


def audit(action: str, *, actor: str, advisor: Advisor | None = None,
          appointment: Appointment | None = None, participant: Participant | None = None,
          detail: str | None = None) -> None:
    db.session.add(AuditEvent(
        action=action, actor=actor, advisor_id=advisor.id if advisor else None,
        appointment_id=appointment.id if appointment else None,
        participant_id=participant.id if participant else None, detail=detail))
    on_event(action, actor=actor, appointment=appointment, participant=participant)
