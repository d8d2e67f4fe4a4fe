"""Who may see and do what: the one place for the portal's access rules.

- Participants: the personal link's token is exchanged for a session binding at once, and the
  browser is sent on to a token-free URL, so the token does not linger in the address bar,
  history or logs (`bind`, `bound_participant`, `require_participant`).
- Advisors: an advisor sees their own appointments, an admin everyone's
  (`advisor_may_see`, and the same rule as a query in `visible_appointments`).
- The device check: a participant with a valid link who has consented (`may_check_devices`).
- The call: the advisor who may see the appointment, or a participant of it who has been
  admitted (`call_member`).
- Roles: who may cancel, whose identity is checked (`may_cancel`, `needs_identity_check`;
  also template globals); admin pages (`require_admin`).

Blueprints import these rules from here, never from each other.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, abort, current_app, make_response, render_template, session
from flask_login import current_user
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from .extensions import db
from .journey import IN_OR_AFTER_CALL
from .models import (
    Appointment,
    AppointmentStatus,
    Participant,
    ParticipantRole,
    Reminder,
    utcnow,
)
from .tokens import hash_token, is_well_formed

# ---- participants: the personal link and the session binding -----------------------------

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
    hashed = hash_token(token)
    participant = db.session.scalar(select(Participant).where(Participant.token_hash == hashed))
    if participant is None:
        # A reminder's own link (portal/mailing/reminders.py), while the time it names holds.
        participant = db.session.scalar(
            select(Participant).join(Reminder, Reminder.participant_id == Participant.id)
            .join(Appointment, Appointment.id == Participant.appointment_id)
            .where(Reminder.token_hash == hashed, Reminder.starts_at == Appointment.starts_at))
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


def unbind() -> None:
    session.pop(SESSION_KEY, None)


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


# ---- advisors: whose appointments ---------------------------------------------------------

def advisor_may_see(appointment: Appointment) -> bool:
    """The signed-in advisor's own appointment, or any for an admin."""
    return current_user.is_authenticated and (
        current_user.is_admin or appointment.advisor_id == current_user.id)


def visible_appointments(everyone: bool = True) -> Select:
    """`advisor_may_see` as a query (with what the pages show loaded): the signed-in
    advisor's own appointments; an admin's `everyone` (False: an admin's own only)."""
    query = select(Appointment).options(
        selectinload(Appointment.participants).selectinload(Participant.mails),
        selectinload(Appointment.participants).selectinload(Participant.device_checks),
        selectinload(Appointment.advisor))
    if not (current_user.is_admin and everyone):
        query = query.where(Appointment.advisor_id == current_user.id)
    return query


def own_appointment(appointment_id: int) -> Appointment:
    """The appointment if the signed-in advisor may see it; 404 otherwise (never 'exists')."""
    appointment = db.session.scalar(
        visible_appointments().where(Appointment.id == appointment_id))
    if appointment is None:
        abort(404)
    return appointment


# ---- admins: the agency's own pages (statistics) ----------------------------------------------

def require_admin() -> None:
    """Admin pages answer 404 to anyone else, as if they did not exist (the sign-in itself is
    the blueprint's `login_required`)."""
    if not (current_user.is_authenticated and current_user.is_admin):
        abort(404)


# ---- the device check ------------------------------------------------------------------------

def may_check_devices(participant: Participant) -> bool:
    """The device check, and the relay credentials its media-path step uses, come after
    consent: nothing is measured, stored or relayed for anyone who has not agreed."""
    return participant.has_consented


# ---- the call -------------------------------------------------------------------------------

def may_join_call(participant: Participant) -> bool:
    """Admitted once: in the call, on the way to it, out of it for a moment, or after it."""
    return participant.journey_state in IN_OR_AFTER_CALL


def call_member(appointment_id: int, *, as_advisor: bool
                ) -> tuple[Appointment, Participant | None] | None:
    """(appointment, participant or None for the advisor) if the caller belongs in the
    appointment's call, else None. `as_advisor` says which role the page speaks for: one
    browser may hold both an advisor sign-in and a participant's link."""
    if as_advisor:
        appointment = db.session.get(Appointment, appointment_id)
        return (appointment, None) if appointment and advisor_may_see(appointment) else None
    participant = bound_participant()
    if participant and participant.appointment_id == appointment_id and \
            may_join_call(participant):
        return participant.appointment, participant
    return None


# ---- roles ----------------------------------------------------------------------------------

# Whose appointment it is: interpreters and other helpers cannot cancel it.
MAY_CANCEL = frozenset({ParticipantRole.CITIZEN, ParticipantRole.LEGAL_REPRESENTATIVE})
# The advisor checks the citizen's identity document on camera (only that it happened).
IDENTITY_CHECKED = frozenset({ParticipantRole.CITIZEN})


def may_cancel(participant: Participant) -> bool:
    return participant.role in MAY_CANCEL


def needs_identity_check(participant: Participant) -> bool:
    return participant.role in IDENTITY_CHECKED


def init_app(app: Flask) -> None:
    app.add_template_global(may_cancel)
    app.add_template_global(needs_identity_check)
