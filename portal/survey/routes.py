"""The survey the closing page offers (GOV.UK pattern: one short form, an error summary,
values kept, works without JavaScript).

Anonymity: the answers go only into the statistics' counters (week and team of the
appointment, question, answer); the participant's row records only that the survey was
answered, so a second submission is refused. The two are written in separate transactions,
and nothing is audited, so no row, id or time ties an answer to a person.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, update

from ..access import require_participant
from ..extensions import db
from ..journey import next_endpoint
from ..models import Participant, SurveyState
from ..statistics import count_survey
from ..survey_questions import current_survey
from . import bp


def _after_the_call():
    """The bound participant if the survey is theirs now (the call is over and they were in
    it), else a redirect to where they belong."""
    participant = require_participant()
    if next_endpoint(participant) != "citizen.closing":
        return participant, redirect(url_for(next_endpoint(participant)))
    return participant, None


def _already_answered(participant, status: int = 200):
    return render_template("survey/answered.html", participant=participant), status


@bp.route("/termin/umfrage", methods=["GET", "POST"])
def form():
    participant, elsewhere = _after_the_call()
    if elsewhere:
        return elsewhere
    if participant.survey is SurveyState.ANSWERED:
        return _already_answered(participant, 409 if request.method == "POST" else 200)
    survey = current_survey()
    answers: dict[str, str] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        for question in survey.questions:
            value = request.form.get(question.key, "")
            if value in question.values:
                answers[question.key] = value
            else:
                errors[question.key] = _("Choose an answer: %(question)s",
                                         question=question.text)
        if not errors:
            return _submit(participant, answers)
        # Only well-formed answers are shown again (never echo arbitrary input).
    error_items = [(f"{q.key}-{q.values[0]}", errors[q.key])
                   for q in survey.questions if q.key in errors]
    return render_template("survey/form.html", participant=participant, survey=survey,
                           answers=answers, errors=errors, error_items=error_items), \
        422 if errors else 200


def _submit(participant: Participant, answers: dict[str, str]):
    # One submission per participant, also against a double click or a second tab: the flag
    # changes in one conditional UPDATE, and only the request that changed it counts.
    claimed = db.session.execute(
        update(Participant)
        .where(Participant.id == participant.id,
               or_(Participant.survey.is_(None), Participant.survey != SurveyState.ANSWERED))
        .values(survey=SurveyState.ANSWERED)
        .execution_options(synchronize_session=False))
    db.session.commit()
    if claimed.rowcount != 1:
        db.session.refresh(participant)
        return _already_answered(participant, 409)
    # A transaction of its own: the counters' rows share nothing with the participant's.
    count_survey(participant.appointment, answers)
    db.session.commit()
    return redirect(url_for("survey.thanks"))


@bp.get("/termin/umfrage/danke")
def thanks():
    participant, elsewhere = _after_the_call()
    if elsewhere:
        return elsewhere
    return render_template("survey/thanks.html", participant=participant)


@bp.get("/termin/umfrage/verlassen")
def leave():
    """Leaving stores nothing; the survey stays open for later."""
    participant, elsewhere = _after_the_call()
    if elsewhere:
        return elsewhere
    if participant.survey is SurveyState.ANSWERED:
        return _already_answered(participant)
    return render_template("survey/left.html", participant=participant)
