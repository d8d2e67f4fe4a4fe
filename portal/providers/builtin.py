"""The default provider: a peer-to-peer WebRTC call on the portal's own pages.

Signalling (offers, answers, ICE candidates) goes through the portal over plain HTTP; audio and
video flow directly between the browsers and never through the portal.
"""

from __future__ import annotations

from flask import url_for
from sqlalchemy import delete, update

from ..extensions import db
from ..models import Advisor, Appointment, CallPeer, CallSignal, Participant, utcnow


class BuiltinProvider:
    name = "builtin"
    builtin = True

    def prepare(self, appointment: Appointment) -> None:
        appointment.provider_ref = appointment.provider_ref or f"builtin:{appointment.uid}"

    def join_url(self, appointment: Appointment, *, participant: Participant | None = None,
                 advisor: Advisor | None = None) -> str:
        if advisor is not None:
            return url_for("call.advisor_call", appointment_id=appointment.id)
        return url_for("call.participant_call")

    def end(self, appointment: Appointment) -> None:
        db.session.execute(
            update(CallPeer).where(CallPeer.appointment_id == appointment.id,
                                   CallPeer.left_at.is_(None)).values(left_at=utcnow()))
        # Signalling messages are of no use once the call is over.
        db.session.execute(delete(CallSignal).where(CallSignal.appointment_id == appointment.id))
