"""The advisor's queue page: today's appointments, who is waiting, admission and actions.

One URL serves the page and, for htmx polls, the fragment; an unchanged fragment answers 204.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup

from .. import admission
from ..extensions import db
from ..htmx import is_htmx, no_change, vary
from ..journey import waiting_room_opens_at
from ..models import Appointment, AppointmentStatus, Participant, utcnow
from ..queue import queue_state
from ..timeutil import to_local
from . import bp
from .routes import own_appointment, visible_appointments

CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')


def _todays_appointments(show_all: bool) -> list[Appointment]:
    """Today's appointments (local day) and any whose waiting room is open right now.

    Around midnight the local day alone would hide a citizen already waiting for
    00:05, or one rejoining a call that began at 23:45.
    """
    now = utcnow()
    config = current_app.config
    opens_early = timedelta(minutes=config["WAITING_ROOM_OPENS_MINUTES"])
    grace = timedelta(minutes=config["LINK_GRACE_MINUTES"])
    lingers = timedelta(minutes=config["MAX_DURATION_MINUTES"]) + grace
    day_start = to_local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + timedelta(days=1)
    query = visible_appointments(everyone=show_all).where(
        Appointment.starts_at >= min(day_start, now - lingers),
        Appointment.starts_at < max(day_end, now + opens_early),
    ).order_by(Appointment.starts_at)

    def shown(appointment: Appointment) -> bool:
        if day_start <= appointment.starts_at < day_end:
            return True
        return waiting_room_opens_at(appointment) <= now <= appointment.ends_at + grace

    return [a for a in db.session.scalars(query) if shown(a)]


def _render_queue(show_all: bool):
    appointments = _todays_appointments(show_all)
    now = utcnow()
    states = {p.id: queue_state(p, now) for a in appointments for p in a.participants}
    waiting = sum(1 for s in states.values() if s.key in ("waiting", "connection_lost"))
    body = render_template("advisor/_queue_body.html", appointments=appointments,
                           states=states, show_all=show_all)
    # CSRF tokens change every second; without them the HTML is the state to compare.
    version = hashlib.sha256(CSRF_VALUE.sub("", body).encode()).hexdigest()[:16]
    return body, version, waiting


def _queue_args() -> dict:
    return {"alle": 1} if _show_all() else {}


def _show_all() -> bool:
    return current_user.is_admin and request.values.get("alle") == "1"


@bp.get("/warteschlange")
def queue():
    show_all = _show_all()
    body, version, waiting = _render_queue(show_all)
    context = dict(body=Markup(body), version=version, waiting=waiting, show_all=show_all,  # noqa: S704
                   poll_seconds=current_app.config["QUEUE_POLL_SECONDS"])
    if is_htmx():
        if request.args.get("v") == version:
            return no_change()
        return vary(current_app.make_response(render_template("advisor/_queue.html", **context)))
    return vary(current_app.make_response(render_template("advisor/queue.html", **context)))


def _after_action(message: str | None = None, category: str = "success"):
    """htmx: the fresh queue fragment; without JavaScript: back to the page."""
    if is_htmx():
        show_all = _show_all()
        body, version, waiting = _render_queue(show_all)
        return vary(current_app.make_response(render_template(
            "advisor/_queue.html", body=Markup(body), version=version,  # noqa: S704
            waiting=waiting, show_all=show_all, announce=message, announce_category=category,
            poll_seconds=current_app.config["QUEUE_POLL_SECONDS"])))
    if message:
        flash(message, category)
    return redirect(url_for(".queue", **_queue_args()))


def _participant_of(appointment: Appointment, participant_id: int) -> Participant:
    participant = next((p for p in appointment.participants if p.id == participant_id), None)
    if participant is None:
        abort(404)
    return participant


@bp.post("/termine/<int:appointment_id>/einlassen/<int:participant_id>")
def admit(appointment_id: int, participant_id: int):
    appointment = own_appointment(appointment_id)
    participant = _participant_of(appointment, participant_id)
    count = admission.admit(appointment, [participant], current_user)
    return _after_action(_("%(name)s has been let in.", name=participant.name) if count
                         else _("Nobody was let in: the person is no longer waiting."))


@bp.post("/termine/<int:appointment_id>/alle-einlassen")
def admit_all(appointment_id: int):
    appointment = own_appointment(appointment_id)
    count = admission.admit(appointment, list(appointment.participants), current_user)
    return _after_action(ngettext("%(num)d person has been let in.",
                                  "%(num)d people have been let in.", count))


@bp.post("/termine/<int:appointment_id>/nachricht")
def message(appointment_id: int):
    appointment = own_appointment(appointment_id)
    text = admission.clean_message(request.form.get("message"))
    if len(text) > admission.MESSAGE_MAX:
        return _after_action(_("The message must be %(max)d characters or fewer.",
                               max=admission.MESSAGE_MAX), category="error")
    admission.set_waiting_message(appointment, text, current_user)
    return _after_action(_("The message is shown in the waiting room.") if text
                         else _("The message has been removed from the waiting room."))


@bp.post("/termine/<int:appointment_id>/identitaet/<int:participant_id>")
def identity(appointment_id: int, participant_id: int):
    appointment = own_appointment(appointment_id)
    participant = _participant_of(appointment, participant_id)
    checked = request.form.get("checked") == "1"
    admission.set_identity_checked(participant, checked, current_user)
    return _after_action(_("Identity marked as checked.") if checked
                         else _("Identity check removed."))


@bp.post("/termine/<int:appointment_id>/beenden")
def end_appointment(appointment_id: int):
    appointment = own_appointment(appointment_id)
    if appointment.status is AppointmentStatus.SCHEDULED:
        admission.end_appointment(appointment, current_user)
    return _after_action(_("The appointment has been ended."))

