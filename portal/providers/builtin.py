"""The default provider: a peer-to-peer WebRTC call on the portal's own pages.

Signalling (offers, answers, ICE candidates) goes through the portal over plain HTTP; audio and
video flow directly between the browsers (or through the agency's TURN relay) and never
through the portal. No third party receives anything.
"""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import (
    Advisor,
    Appointment,
    CallPeer,
    CallSignal,
    Participant,
    ProviderMeeting,
    utcnow,
)
from .base import BaseProvider


class BuiltinProvider(BaseProvider):
    name = "builtin"
    builtin = True

    @property
    def receives(self) -> str:
        return _("nothing: the call runs on this portal")

    def _prepare(self, appointment: Appointment, row: ProviderMeeting) -> None:
        appointment.provider_ref = appointment.provider_ref or f"builtin:{appointment.uid}"

    def _join_url(self, appointment: Appointment, row: ProviderMeeting,
                  participant: Participant | None, advisor: Advisor | None) -> str:
        if advisor is not None:
            return url_for("call.advisor_call", appointment_id=appointment.id)
        return url_for("call.participant_call")

    def _end(self, appointment: Appointment, row: ProviderMeeting | None) -> None:
        db.session.execute(
            update(CallPeer).where(CallPeer.appointment_id == appointment.id,
                                   CallPeer.left_at.is_(None)).values(left_at=utcnow()))
        # Signalling messages are of no use once the call is over.
        db.session.execute(delete(CallSignal).where(CallSignal.appointment_id == appointment.id))

    def end(self, appointment: Appointment) -> None:
        # Always: a call may run from before its meeting had a row.
        self._end(appointment, None)
        row = appointment.provider_meeting
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()

    def _is_running(self, appointment: Appointment, row: ProviderMeeting) -> bool | None:
        return db.session.scalar(select(CallPeer.id).where(
            CallPeer.appointment_id == appointment.id, CallPeer.left_at.is_(None)).limit(1)) \
            is not None
