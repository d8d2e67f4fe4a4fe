"""Advisor sign-in, sessions, second factor and password change."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)


def login_manager_setup(login_manager) -> None:
    from flask_babel import lazy_gettext as _l

    from ..accounts import advisor_by_id
    from .sessions import is_queue_poll

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_advisor(session_id: str):
        # "<id>:<session generation>": a session from before the last sign-out, password
        # change or deactivation names an old generation and is anonymous.
        advisor_id, _, generation = session_id.partition(":")
        if not (advisor_id.isdigit() and generation.isdigit()) or len(advisor_id) > 18:
            return None
        advisor = advisor_by_id(int(advisor_id), kept=is_queue_poll())
        if advisor is None or not advisor.active or \
                str(advisor.session_generation) != generation:
            return None
        return advisor


from . import account, routes, sessions  # noqa: E402,F401

bp.before_app_request(sessions.check_idle)


@bp.app_context_processor
def _idle_settings():
    from flask import current_app

    cfg = current_app.config
    return {"idle_seconds": int(cfg["ADVISOR_IDLE_MINUTES"] * 60),
            "idle_warning_seconds": int(cfg["ADVISOR_IDLE_WARNING_MINUTES"] * 60)}


@bp.errorhandler(429)
def _too_many(error):
    # The limits' on_breach pages (the form again, with when to retry) win over the generic one.
    if error.response is not None:
        return error.response
    from flask import render_template

    return render_template("errors/generic.html", code=429), 429
