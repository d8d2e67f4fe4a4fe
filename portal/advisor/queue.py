"""The advisor's queue page: today's appointments, who is waiting, admission and actions.

One URL serves the page and, for htmx polls, the fragment; an unchanged fragment answers 204.
Whether it changed is decided from the data without rendering (fingerprint.py), so an
unchanged poll costs little more than a bare request.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from .. import admission
from ..access import own_appointment
from ..attendance import attendance
from ..htmx import is_htmx, page_or_fragment
from ..models import Appointment, AppointmentStatus, Participant, utcnow
from ..providers import ProviderError
from . import bp
from .fingerprint import queue_fingerprint, todays_appointments
from .meeting import meeting_view


def _queue_context(show_all: bool, now: datetime, version: str, announce: str | None,
                   announce_category: str) -> dict:
    appointments = todays_appointments(show_all, now)
    states = {p.id: attendance(p, now) for a in appointments for p in a.participants}
    waiting = sum(1 for s in states.values() if s.key in ("waiting", "connection_lost"))
    meetings = {a.id: meeting_view(a) for a in appointments}
    return dict(appointments=appointments, states=states, waiting=waiting, version=version,
                meetings=meetings,
                show_all=show_all, poll_seconds=current_app.config["QUEUE_POLL_SECONDS"],
                announce=announce, announce_category=announce_category)


def _answer(announce: str | None = None, announce_category: str = "success"):
    """The queue as page or fragment (an action's fragment announces its outcome); an
    unchanged poll is answered from the fingerprint alone.

    First the fingerprint, then the data: a change in between shows now and is seen as a
    change again by the next poll, never hidden."""
    show_all = _show_all()
    now = utcnow()
    version = queue_fingerprint(show_all, now)
    return page_or_fragment("advisor/queue.html", "advisor/_queue.html",
                            lambda: _queue_context(show_all, now, version, announce,
                                                   announce_category),
                            version)


def _queue_args() -> dict:
    return {"alle": 1} if _show_all() else {}


def _show_all() -> bool:
    return current_user.is_admin and request.values.get("alle") == "1"


@bp.get("/warteschlange")
def queue():
    return _answer()


def _after_action(message: str | None = None, category: str = "success"):
    """htmx: the fresh queue fragment, announcing the outcome; without JavaScript: back to
    the page."""
    if is_htmx():
        return _answer(message, category)
    if message:
        flash(message, category)
    return redirect(url_for(".queue", **_queue_args()))


def _participant_of(appointment: Appointment, participant_id: int) -> Participant:
    participant = next((p for p in appointment.participants if p.id == participant_id), None)
    if participant is None:
        abort(404)
    return participant


# Whom a failed admission was for, per appointment, so that "Try again" lets in the same
# people (this browser's session only; a few ids).
RETRY_KEY = "admission_retry"


def _remember_retry(appointment: Appointment, participants: list[Participant]) -> None:
    pending = dict(session.get(RETRY_KEY) or {})
    pending[str(appointment.id)] = [p.id for p in participants][:50]
    session[RETRY_KEY] = dict(list(pending.items())[-20:])


def _take_retry(appointment: Appointment) -> list[Participant]:
    pending = dict(session.get(RETRY_KEY) or {})
    ids = pending.pop(str(appointment.id), None)
    if ids is not None:
        session[RETRY_KEY] = pending
    ids = set(ids) if isinstance(ids, list) else set()
    return [p for p in appointment.participants if p.id in ids]


def _admission_failed(appointment: Appointment, participants: list[Participant],
                      error: ProviderError):
    """Nobody was let in: the people keep waiting, the advisor reads why and can try again."""
    _remember_retry(appointment, participants)
    return _after_action(_("Nobody has been let in: %(reason)s The people are still in the "
                           "waiting room. Try again in a moment.", reason=error.message),
                         category="error")


def _admit(appointment: Appointment, participants: list[Participant]):
    try:
        return admission.admit(appointment, participants, current_user), None
    except ProviderError as error:
        return 0, _admission_failed(appointment, participants, error)


@bp.post("/termine/<int:appointment_id>/einlassen/<int:participant_id>")
def admit(appointment_id: int, participant_id: int):
    appointment = own_appointment(appointment_id)
    participant = _participant_of(appointment, participant_id)
    count, failed = _admit(appointment, [participant])
    if failed is not None:
        return failed
    return _after_action(_("%(name)s has been let in.", name=participant.name) if count
                         else _("Nobody was let in: the person is no longer waiting."))


@bp.post("/termine/<int:appointment_id>/alle-einlassen")
def admit_all(appointment_id: int):
    appointment = own_appointment(appointment_id)
    count, failed = _admit(appointment, list(appointment.participants))
    if failed is not None:
        return failed
    return _after_action(ngettext("%(num)d person has been let in.",
                                  "%(num)d people have been let in.", count))


@bp.post("/termine/<int:appointment_id>/erneut-versuchen")
def retry(appointment_id: int):
    """"Try again" after a provider failure: prepare the meeting again and, once that works,
    let in whoever the failed admission was for (if they are still waiting)."""
    appointment = own_appointment(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return _after_action(_("This appointment can no longer be changed."), "error")
    participants = _take_retry(appointment)
    try:
        admission.prepare_meeting(appointment)
    except ProviderError as error:
        return _admission_failed(appointment, participants, error)
    count, failed = _admit(appointment, participants)
    if failed is not None:
        return failed
    if count:
        return _after_action(ngettext("%(num)d person has been let in.",
                                      "%(num)d people have been let in.", count))
    return _after_action(_("The video meeting is ready. You can let people in now."))


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

