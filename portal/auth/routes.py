"""Sign-in (password, then the second factor), sign-out and keeping a session alive."""

from __future__ import annotations

import functools
import secrets
from urllib.parse import urlsplit

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit import audit
from ..extensions import db
from ..models import Advisor
from . import bp, limits, sessions, two_factor
from .forms import CodeForm, LoginForm


@functools.cache
def _dummy_hash() -> str:
    # Compared against when the address is unknown, so both cases take as long.
    return generate_password_hash(secrets.token_hex(16))


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _signed_in(advisor: Advisor, next_url: str | None, *, detail: str | None = None):
    sessions.start_session(advisor)
    audit("advisor.login", actor="advisor", advisor=advisor, detail=detail)
    db.session.commit()
    return redirect(_safe_next(next_url) or url_for("advisor.appointments"))


@bp.route("/anmelden", methods=["GET", "POST"])
@limits.login_per_ip
@limits.login_per_account
def login():
    if current_user.is_authenticated:
        return redirect(url_for("advisor.appointments"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        advisor = db.session.scalar(select(Advisor).where(func.lower(Advisor.email) == email))
        # Always one hash comparison, so timing tells nothing about which addresses exist.
        password_ok = advisor.check_password(form.password.data) if advisor else \
            check_password_hash(_dummy_hash(), form.password.data)
        if advisor and password_ok and advisor.active:
            next_url = _safe_next(request.args.get("next"))
            if advisor.has_two_factor:
                sessions.start_pending(advisor, enrol=False, next_url=next_url)
                return redirect(url_for("auth.second_step"))
            if current_app.config["REQUIRE_2FA"]:
                sessions.start_pending(advisor, enrol=True, next_url=next_url)
                return redirect(url_for("auth.enrol"))
            return _signed_in(advisor, next_url)
        form.password.errors.append(_("The e-mail address or password is not correct."))
    return render_template("auth/login.html", form=form)


@bp.route("/anmelden/code", methods=["GET", "POST"])
@limits.code_per_ip
@limits.code_per_account
def second_step():
    advisor = sessions.pending_advisor(enrol=False)
    if advisor is None:
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        if two_factor.use_totp(advisor, form.code.data):
            return _signed_in(advisor, sessions.pending_next())
        if two_factor.use_recovery_code(advisor, form.code.data):
            return _signed_in(advisor, sessions.pending_next(), detail="recovery code")
        db.session.rollback()
        audit("advisor.second_factor_failed", actor="advisor", advisor=advisor)
        db.session.commit()
        form.code.data = ""
        form.code.errors.append(_("The code is not correct. Enter the current code from "
                                  "your app, or one of your recovery codes."))
    return render_template("auth/second_step.html", form=form)


@bp.route("/abmelden", methods=["POST"])
@login_required
def logout():
    advisor = db.session.get(Advisor, current_user.id)
    advisor.end_all_sessions()  # every browser of this advisor, on every instance
    audit("advisor.logout", actor="advisor", advisor=advisor)
    db.session.commit()
    sessions.end_session()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/sitzung", methods=["GET"])
@login_required
def session_status():
    """For the idle warning; sent as an htmx-style poll, so asking is not activity."""
    response = jsonify(seconds_left=sessions.seconds_left())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/sitzung/verlaengern", methods=["POST"])
@login_required
def stay_signed_in():
    sessions.mark_active()
    if request.headers.get("X-Requested-With") == "fetch":
        return "", 204
    return redirect(_safe_next(request.form.get("next")) or url_for("advisor.appointments"))
