"""Advisor login and logout."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)


def login_manager_setup(login_manager) -> None:
    from flask_babel import lazy_gettext as _l

    from ..extensions import db
    from ..models import Advisor

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_advisor(advisor_id: str):
        if not advisor_id.isdigit():
            return None
        return db.session.get(Advisor, int(advisor_id))


from . import routes  # noqa: E402,F401
