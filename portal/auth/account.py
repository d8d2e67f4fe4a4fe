"""The advisor's own account: second factor set-up, password change and the address of a
personal meeting room (for the `link` provider)."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField

from ..audit import audit
from ..extensions import db
from ..models import Advisor
from ..providers import label_of
from ..providers.link import check_personal_room_url
from . import bp, limits, sessions, two_factor
from .forms import ChangePasswordForm, EnrolForm


def _enrolling_advisor() -> tuple[Advisor | None, bool]:
    """The signed-in advisor, or one who must set up a second factor before signing in."""
    if current_user.is_authenticated:
        return db.session.get(Advisor, current_user.id), False
    return sessions.pending_advisor(enrol=True), True


@bp.route("/konto/zweiter-faktor", methods=["GET", "POST"])
def enrol():
    advisor, pending = _enrolling_advisor()
    if advisor is None:
        return redirect(url_for("auth.login"))
    if advisor.has_two_factor:
        return render_template("auth/two_factor_active.html", advisor=advisor)
    if not advisor.totp_secret:
        advisor.totp_secret = two_factor.new_secret()
        db.session.commit()
    form = EnrolForm()
    if form.validate_on_submit():
        codes = two_factor.enable(advisor, form.code.data)
        if codes is not None:
            audit("advisor.2fa_enrolled", actor="advisor", advisor=advisor)
            db.session.commit()
            if pending:
                next_url = sessions.pending_next()
                sessions.start_session(advisor)
                audit("advisor.login", actor="advisor", advisor=advisor)
                db.session.commit()
            else:
                next_url = None
            # Shown once, never stored in plain: the page must not be cached.
            response = make_response(render_template(
                "auth/recovery_codes.html", codes=codes,
                next_url=next_url or url_for("advisor.appointments")))
            response.headers["Cache-Control"] = "no-store"
            return response
        form.code.data = ""
        form.code.errors.append(_("The code is not correct. Enter the six digits your app "
                                  "shows now."))
    uri = two_factor.provisioning_uri(advisor)
    response = make_response(render_template(
        "auth/enrol.html", form=form, qr_code=two_factor.qr_code_data_uri(uri),
        secret=two_factor.grouped_secret(advisor.totp_secret), required=pending))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/konto/passwort", methods=["GET", "POST"])
@login_required
@limits.password_change_per_account
def change_password():
    advisor = db.session.get(Advisor, current_user.id)
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if advisor.check_password(form.current_password.data):
            advisor.set_password(form.new_password.data)
            advisor.end_all_sessions()
            audit("advisor.password_changed", actor="advisor", advisor=advisor)
            db.session.commit()
            sessions.start_session(advisor)  # this browser goes on with a fresh session
            flash(_("Your password has been changed. Everywhere else you have been signed "
                    "out."), "info")
            return redirect(url_for("advisor.appointments"))
        form.current_password.errors.append(_("The current password is not correct."))
    for f in (form.current_password, form.new_password, form.new_password_again):
        f.data = ""  # passwords are never sent back
    return render_template("auth/change_password.html", form=form)


@bp.route("/verwaltung/beratende", methods=["GET"])
@login_required
def advisors():
    if not current_user.is_admin:
        abort(404)
    listing = db.session.scalars(db.select(Advisor).order_by(Advisor.name)).all()
    return render_template("auth/advisors.html", advisors=listing)


@bp.route("/verwaltung/beratende/<int:advisor_id>/zweiter-faktor", methods=["POST"])
@login_required
def reset_two_factor(advisor_id: int):
    if not current_user.is_admin:
        abort(404)
    advisor = db.session.get(Advisor, advisor_id) or abort(404)
    two_factor.reset(advisor)
    advisor.end_all_sessions()
    audit("advisor.2fa_reset", actor="advisor", advisor=advisor,
          detail=f"by advisor {current_user.id}")
    db.session.commit()
    if advisor.id == current_user.id:
        sessions.start_session(advisor)
    flash(_("The second factor of %(name)s has been reset. They set it up again at their "
            "next sign-in.", name=advisor.name), "info")
    return redirect(url_for("auth.advisors"))


class PersonalRoomForm(FlaskForm):
    url = StringField(_l("Address of your personal meeting room"),
                      render_kw={"type": "url", "spellcheck": "false", "autocomplete": "off",
                                 "inputmode": "url"})


@bp.route("/konto/besprechungsraum", methods=["GET", "POST"])
@login_required
def personal_room():
    """The advisor's personal meeting room (Teams, Webex, Zoom): an https address shown to
    the people they admit when an appointment uses the `link` provider. Empty removes it."""
    if "link" not in current_app.config["PROVIDERS"]:
        abort(404)
    advisor = db.session.get(Advisor, current_user.id)
    form = PersonalRoomForm()
    if request.method == "GET":
        form.url.data = advisor.personal_room_url or ""
    elif form.validate_on_submit():
        url, error = check_personal_room_url(form.url.data)
        if error:
            form.url.errors.append(error)
        else:
            advisor.personal_room_url = url
            audit("advisor.personal_room_set" if url else "advisor.personal_room_removed",
                  actor="advisor", advisor=advisor)
            db.session.commit()
            flash(_("The address of your meeting room has been saved.") if url
                  else _("The address of your meeting room has been removed."), "success")
            return redirect(url_for("auth.personal_room"))
    status = 422 if form.errors else 200
    return render_template("auth/personal_room.html", form=form, advisor=advisor,
                           link_label=label_of("link")), status
