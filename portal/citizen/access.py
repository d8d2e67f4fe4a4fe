"""Binding a browser to a participant through the personal link.

The link's token is exchanged for a session cookie at once, and the browser is sent on to a
token-free URL, so the token does not linger in the address bar, history or logs.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, make_response, render_template, session
from sqlalchemy import select

from ..extensions import db
from ..models import AppointmentStatus, Participant, utcnow
from ..tokens import hash_token, is_well_formed

SESSION_KEY = "participant"


def link_is_usable(participant: Participant) -> bool:
    appt = participant.appointment
    grace = timedelta(minutes=current_app.config["LINK_GRACE_MINUTES"])
    # An ended appointment still opens (to say it is over) until the grace period has passed.
    return (appt.status in (AppointmentStatus.SCHEDULED, AppointmentStatus.ENDED)
            and participant.erased_at is None and utcnow() < appt.ends_at + grace)


def participant_for_token(token: str) -> Participant | None:
    if not is_well_formed(token):
        return None
    participant = db.session.scalar(
        select(Participant).where(Participant.token_hash == hash_token(token)))
    if participant is None or not link_is_usable(participant):
        return None
    return participant


# Kept when a link binds: the language and an advisor's sign-in in the same browser
# (Flask-Login's keys and the idle timestamp of portal/auth/sessions.py).
KEPT_ON_BIND = ("lang", "_user_id", "_fresh", "_id", "advisor_seen")


def bind(participant: Participant) -> None:
    # A fresh session: whatever was in it before (another participant's binding, a CSRF token
    # someone may have planted or seen) ends here; the CSRF token is made anew on next use.
    kept = {key: session[key] for key in KEPT_ON_BIND if key in session}
    session.clear()
    session.update(kept)
    # The hash is kept too: a new link (after a reschedule) ends the old binding.
    session[SESSION_KEY] = {"id": participant.id, "token": participant.token_hash}
    session.permanent = True


def bound_participant() -> Participant | None:
    bound = session.get(SESSION_KEY)
    if not isinstance(bound, dict) or not isinstance(bound.get("id"), int):
        return None
    participant = db.session.get(Participant, bound["id"])
    if participant is None or participant.token_hash != bound.get("token"):
        return None
    return participant if link_is_usable(participant) else None


def link_invalid_response():
    # One page for unknown, malformed, cancelled and expired links: no hint which it was.
    return make_response(render_template("citizen/link_invalid.html"), 404)


def require_participant() -> Participant:
    participant = bound_participant()
    if participant is None:
        abort(link_invalid_response())
    return participant
