"""What the advisor's queue page shows for each participant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _

from .journey import is_connected
from .models import AppointmentStatus, JourneyState, Participant, utcnow

NOT_YET_ARRIVED = (JourneyState.INVITED, JourneyState.LINK_OPENED, JourneyState.CONSENTED,
                   JourneyState.CHECKED)


@dataclass
class QueueState:
    key: str  # stable, for styling and tests (data-state)
    label: str
    waiting_minutes: int | None = None


def queue_state(participant: Participant, now: datetime | None = None) -> QueueState:
    now = now or utcnow()
    appt = participant.appointment
    state = participant.journey_state
    if appt.status is AppointmentStatus.CANCELLED:
        return QueueState("cancelled", _("cancelled"))
    if state is JourneyState.DECLINED:
        return QueueState("declined", _("declined consent"))
    if state is JourneyState.WAITING:
        minutes = int((now - participant.waiting_since).total_seconds() // 60) \
            if participant.waiting_since else 0
        if not is_connected(participant, now):
            return QueueState("connection_lost", _("connection lost?"), minutes)
        return QueueState("waiting", _("waiting"), minutes)
    if state is JourneyState.ADMITTED:
        return QueueState("admitted", _("admitted, joining"))
    if state is JourneyState.IN_CALL:
        return QueueState("in_call", _("in the call"))
    if state is JourneyState.LEFT_CALL:
        return QueueState("left_call", _("left the call"))
    if state is JourneyState.DONE:
        return QueueState("done", _("call ended"))
    if state is JourneyState.LEFT:
        return QueueState("left", _("left the waiting room"))
    if state in NOT_YET_ARRIVED and (appt.status is AppointmentStatus.ENDED or
                                     now > appt.ends_at):
        return QueueState("no_show", _("did not come"))
    return {
        JourneyState.INVITED: QueueState("invited", _("invited")),
        JourneyState.LINK_OPENED: QueueState("link_opened", _("link opened")),
        JourneyState.CONSENTED: QueueState("consented", _("consented")),
        JourneyState.CHECKED: QueueState("checked", _("device checked, not in the waiting room")),
    }[state]
