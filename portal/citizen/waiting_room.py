"""The virtual waiting room: no audio or video yet; it refreshes itself until admission.

Each htmx poll doubles as presence (last_seen_at), so the advisor's queue can tell
"waiting" from "connection lost?". An unchanged state answers 204 with no body.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app, redirect, render_template, request, session, url_for

from ..extensions import db
from ..htmx import client_redirect, is_htmx, no_change, vary
from ..journey import (
    IN_OR_AFTER_CALL,
    next_endpoint,
    waiting_room_is_open,
    waiting_room_opens_at,
)
from ..models import AppointmentStatus, JourneyState, ParticipantRole, utcnow
from ..scheduling import NotChangeable, audit, cancel_appointment
from . import bp
from .access import SESSION_KEY, require_participant

PRESENCE_WRITE_EVERY = timedelta(seconds=5)  # fewer writes; the timeout is 15 s
MAY_ENTER = (JourneyState.CHECKED, JourneyState.LEFT, JourneyState.WAITING)


def _fingerprint(participant, is_open: bool) -> str:
    appt = participant.appointment
    raw = "|".join(map(str, (participant.journey_state, is_open, appt.status,
                             appt.waiting_message_at, appt.starts_at)))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


@bp.get("/termin/wartebereich")
def waiting_room():
    participant = require_participant()
    target = next_endpoint(participant)
    if target not in ("citizen.waiting_room", "call.participant_call"):
        url = url_for(target)
        return client_redirect(url) if is_htmx() else redirect(url)
    appointment = participant.appointment
    is_open = waiting_room_is_open(appointment)
    now = utcnow()

    # Coming back after leaving takes a page load; a poll still under way when the
    # participant left must not put them back into the waiting room.
    may_enter = MAY_ENTER if not is_htmx() else (JourneyState.CHECKED, JourneyState.WAITING)
    if is_open and participant.journey_state in may_enter:
        if participant.journey_state is not JourneyState.WAITING:
            participant.journey_state = JourneyState.WAITING
            participant.waiting_since = now
            audit("waiting_room.entered", actor="participant", appointment=appointment,
                  participant=participant)
        if participant.last_seen_at is None or now - participant.last_seen_at > \
                PRESENCE_WRITE_EVERY:
            participant.last_seen_at = now
        db.session.commit()

    admitted = participant.journey_state in IN_OR_AFTER_CALL
    if admitted and not is_htmx():
        return redirect(url_for("call.participant_call"))
    version = _fingerprint(participant, is_open)
    context = dict(participant=participant, appointment=appointment, is_open=is_open,
                   opens_at=waiting_room_opens_at(appointment), admitted=admitted,
                   version=version, poll_seconds=current_app.config["WAITING_ROOM_POLL_SECONDS"])
    if is_htmx():
        if request.args.get("v") == version:
            return no_change()
        return vary(current_app.make_response(
            render_template("citizen/_waiting_status.html", **context)))
    return vary(current_app.make_response(render_template("citizen/waiting_room.html",
                                                          **context)))


@bp.post("/termin/wartebereich/verlassen")
def leave_waiting_room():
    participant = require_participant()
    if participant.journey_state is JourneyState.WAITING:
        participant.journey_state = JourneyState.LEFT
        audit("waiting_room.left", actor="participant", appointment=participant.appointment,
              participant=participant)
        db.session.commit()
    return redirect(url_for("citizen.left_waiting_room"))


@bp.get("/termin/wartebereich/verlassen")
def left_waiting_room():
    participant = require_participant()
    return render_template("citizen/left.html", participant=participant)


# Whose appointment it is: interpreters and other helpers cannot cancel it.
MAY_CANCEL = (ParticipantRole.CITIZEN, ParticipantRole.LEGAL_REPRESENTATIVE)


@bp.route("/termin/absagen", methods=["GET", "POST"])
def cancel_by_participant():
    participant = require_participant()
    appointment = participant.appointment
    if appointment.status is not AppointmentStatus.SCHEDULED or \
            participant.role not in MAY_CANCEL:
        return redirect(url_for(next_endpoint(participant)))
    if request.method == "POST":
        try:
            cancel_appointment(appointment, actor="participant", by_participant=participant)
        except NotChangeable:  # a second click, or the advisor was quicker
            if appointment.status is not AppointmentStatus.CANCELLED:
                return redirect(url_for(next_endpoint(participant)))
        session.pop(SESSION_KEY, None)
        return render_template("citizen/cancelled.html")
    return render_template("citizen/cancel.html", participant=participant,
                           appointment=appointment)
