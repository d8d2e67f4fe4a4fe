from __future__ import annotations

import functools
import secrets
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..citizen.access import SESSION_KEY
from ..extensions import db, limiter
from ..models import Advisor
from ..scheduling import audit
from . import bp
from .forms import LoginForm


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


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/anmelden", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
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
            # A fresh session on sign-in; the language and a participant's link binding
            # (someone trying both roles in one browser) are kept.
            kept = {k: session[k] for k in ("lang", SESSION_KEY) if k in session}
            session.clear()
            session.update(kept)
            login_user(advisor)
            audit("advisor.login", actor="advisor", advisor=advisor)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next"))
                            or url_for("advisor.appointments"))
        form.password.errors.append(_("The e-mail address or password is not correct."))
    return render_template("auth/login.html", form=form)


@bp.route("/abmelden", methods=["POST"])
@login_required
def logout():
    audit("advisor.logout", actor="advisor", advisor=current_user)
    db.session.commit()
    logout_user()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))
