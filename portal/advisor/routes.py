from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..access import own_appointment, visible_appointments
from ..extensions import db
from ..models import Appointment, AppointmentStatus, utcnow
from ..providers import ProviderError, choose
from ..scheduling import (
    NotChangeable,
    cancel_appointment,
    create_appointment,
    reschedule_appointment,
)
from ..timeutil import to_local
from . import bp
from .forms import (
    MAX_EXTRA_PARTICIPANTS,
    AppointmentForm,
    ConfirmForm,
    ProviderForm,
    RescheduleForm,
)
from .meeting import meeting_view


@bp.before_request
@login_required
def require_login():
    """Every advisor page needs a signed-in advisor."""


@bp.get("/termine")
def appointments():
    show_past = request.args.get("vergangen") == "1"
    # "Upcoming" starts at local midnight, so today's earlier appointments stay in view.
    today = to_local(utcnow()).replace(hour=0, minute=0, second=0, microsecond=0)
    query = visible_appointments()
    if show_past:
        query = query.where(Appointment.starts_at < today).order_by(Appointment.starts_at.desc())
    else:
        query = query.where(Appointment.starts_at >= today).order_by(Appointment.starts_at)
    items = db.session.scalars(query.limit(500)).all()
    return render_template("advisor/appointments.html", appointments=items, show_past=show_past)


@bp.route("/termine/neu", methods=["GET", "POST"])
def new_appointment():
    form = AppointmentForm()
    if request.method == "GET":
        tomorrow = to_local(utcnow()) + timedelta(days=1)
        form.day.data = tomorrow.date().isoformat()
        form.clock.data = "09:00"
        form.preselect_provider(None)
    if form.add_participant.data:
        # "Add another" re-renders the same form with one more row (no JavaScript needed).
        if len(form.extras) < MAX_EXTRA_PARTICIPANTS:
            form.extras.append_entry()
        return render_template("advisor/new.html", form=form, focus_last_extra=True,
                               max_extras=MAX_EXTRA_PARTICIPANTS)
    if form.validate_on_submit():
        outcome = create_appointment(
            advisor=current_user, starts_at=form.starts_at,
            duration_minutes=form.duration_minutes, language=form.language.data,
            citizen=form.citizen_spec(), others=form.extra_specs(),
            topic=(form.topic.data or "").strip() or None, acting=current_user)
        if form.chosen_provider() is not None:
            # Checked by the form; the invitations do not name the provider.
            choose(outcome.appointment, form.chosen_provider())
            db.session.commit()
        flash(_("The appointment has been created and the invitations are on their way."),
              "success")
        return redirect(url_for(".appointment", appointment_id=outcome.appointment.id))
    status = 422 if request.method == "POST" else 200
    return render_template("advisor/new.html", form=form, focus_last_extra=False,
                           max_extras=MAX_EXTRA_PARTICIPANTS), status


def _appointment_page(appt: Appointment, provider_form: ProviderForm | None = None,
                      status: int = 200):
    if provider_form is None:
        provider_form = ProviderForm(formdata=None)
        provider_form.preselect_provider(meeting_view(appt).provider)
    return render_template("advisor/appointment.html", appointment=appt,
                           meeting=meeting_view(appt), provider_form=provider_form), status


@bp.get("/termine/<int:appointment_id>")
def appointment(appointment_id: int):
    return _appointment_page(own_appointment(appointment_id))


@bp.post("/termine/<int:appointment_id>/videodienst")
def choose_provider(appointment_id: int):
    """The provider of this appointment's meeting, while it is not prepared yet."""
    appt = own_appointment(appointment_id)
    if appt.status is not AppointmentStatus.SCHEDULED:
        return _no_longer_changeable(appt)
    form = ProviderForm()
    if form.validate_on_submit():
        try:
            choose(appt, form.chosen_provider())
        except ProviderError as error:  # prepared meanwhile (already_prepared)
            form.provider.errors.append(error.message)
        else:
            db.session.commit()
            flash(_("The video meeting will take place at %(provider)s.",
                    provider=meeting_view(appt).label), "success")
            return redirect(url_for(".appointment", appointment_id=appt.id))
    return _appointment_page(appt, form, 422)


def _no_longer_changeable(appt: Appointment):
    flash(_("This appointment can no longer be changed."), "error")
    return redirect(url_for(".appointment", appointment_id=appt.id))


@bp.route("/termine/<int:appointment_id>/verschieben", methods=["GET", "POST"])
def reschedule(appointment_id: int):
    appt = own_appointment(appointment_id)
    if appt.status is not AppointmentStatus.SCHEDULED:
        return _no_longer_changeable(appt)
    form = RescheduleForm()
    if request.method == "GET":
        local = to_local(appt.starts_at)
        form.day.data = local.date().isoformat()
        form.clock.data = local.strftime("%H:%M")
        form.duration.data = str(appt.duration_minutes)
    if form.validate_on_submit():
        reschedule_appointment(appt, starts_at=form.starts_at,
                               duration_minutes=form.duration_minutes, acting=current_user)
        flash(_("The appointment has been moved. Everyone receives an update with a new "
                "personal link."), "success")
        return redirect(url_for(".appointment", appointment_id=appt.id))
    status = 422 if request.method == "POST" else 200
    return render_template("advisor/reschedule.html", form=form, appointment=appt), status


@bp.route("/termine/<int:appointment_id>/absagen", methods=["GET", "POST"])
def cancel(appointment_id: int):
    appt = own_appointment(appointment_id)
    if appt.status is not AppointmentStatus.SCHEDULED:
        return _no_longer_changeable(appt)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            cancel_appointment(appt, acting=current_user)
        except NotChangeable:  # cancelled meanwhile, e.g. by the citizen
            return _no_longer_changeable(appt)
        flash(_("The appointment has been cancelled. Everyone receives a cancellation."),
              "success")
        return redirect(url_for(".appointment", appointment_id=appt.id))
    return render_template("advisor/cancel.html", form=form, appointment=appt)

