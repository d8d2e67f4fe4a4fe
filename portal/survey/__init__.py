"""The survey after the call: a few questions on one page, voluntary, anonymous."""

from flask import Blueprint

from ..survey_questions import load

bp = Blueprint("survey", __name__)


@bp.record_once
def _load_questions(state) -> None:
    # Checked at start-up: a broken file stops the portal, not the first citizen's page.
    state.app.extensions["survey"] = load(state.app)


from . import routes  # noqa: E402,F401
