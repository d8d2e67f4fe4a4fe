"""Sign-in limits per IP address and per account, with a page that says when to retry.

Flask-Limiter keeps the counters in its storage (Redis with several instances), so the
limits hold across instances. Per account only failed attempts count.
"""

from __future__ import annotations

import math
import time

from flask import current_app, render_template, request
from flask_babel import ngettext

from ..extensions import limiter


def retry_message(reset_at: int) -> str:
    # Flask-Limiter's reset_at is one second past the window's end.
    minutes = max(1, math.ceil((reset_at - 1 - time.time()) / 60))
    return ngettext("Too many attempts. Try again in %(num)d minute.",
                    "Too many attempts. Try again in %(num)d minutes.", minutes)


def _login_breached(limit):
    from .forms import LoginForm

    form = LoginForm()  # keeps the e-mail address; the password is dropped
    form.password.data = ""
    form.password.errors = [retry_message(limit.reset_at)]
    response = current_app.make_response(render_template("auth/login.html", form=form))
    response.status_code = 429
    return response


def _code_breached(limit):
    from .forms import CodeForm

    form = CodeForm()
    form.code.data = ""
    form.code.errors = [retry_message(limit.reset_at)]
    response = current_app.make_response(render_template("auth/second_step.html", form=form))
    response.status_code = 429
    return response


def _password_breached(limit):
    from .forms import ChangePasswordForm

    form = ChangePasswordForm()
    for f in (form.current_password, form.new_password, form.new_password_again):
        f.data = ""
    form.current_password.errors = [retry_message(limit.reset_at)]
    response = current_app.make_response(
        render_template("auth/change_password.html", form=form))
    response.status_code = 429
    return response


def _account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def _ip_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _email_key() -> str:
    email = (request.form.get("email") or "").strip().lower()[:254]
    return f"account:{email}"


def _pending_key() -> str:
    from flask import session

    from .sessions import PENDING_KEY

    pending = session.get(PENDING_KEY)
    advisor_id = pending.get("id") if isinstance(pending, dict) else None
    return f"account-id:{advisor_id}"


def _signed_in_key() -> str:
    from flask_login import current_user

    return f"password-change:{current_user.get_id()}"


def _failed(response) -> bool:
    # A sign-in or accepted code redirects; a re-rendered form (200) is a failure.
    return response.status_code != 302


login_per_ip = limiter.limit(_ip_limit, methods=["POST"], on_breach=_login_breached)
login_per_account = limiter.limit(_account_limit, key_func=_email_key, methods=["POST"],
                                  deduct_when=_failed, on_breach=_login_breached)
code_per_ip = limiter.limit(_ip_limit, methods=["POST"], on_breach=_code_breached)
code_per_account = limiter.limit(_account_limit, key_func=_pending_key, methods=["POST"],
                                 deduct_when=_failed, on_breach=_code_breached)
# Guessing the current password with a taken-over session is limited like a sign-in.
password_change_per_account = limiter.limit(
    _account_limit, key_func=_signed_in_key, methods=["POST"], deduct_when=_failed,
    on_breach=_password_breached)
