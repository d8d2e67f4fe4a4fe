from __future__ import annotations

import math

from flask import current_app, redirect, render_template, session, url_for
from sqlalchemy import update

from .. import journey
from ..access import bind, link_invalid_response, participant_for_token, require_participant
from ..extensions import db, limiter
from ..journey import next_endpoint, waiting_room_is_open, waiting_room_opens_at
from ..models import Participant, SurveyState, utcnow
from . import bp


def _link_limit() -> str:
    return current_app.config["LINK_RATE_LIMIT"]


def _open_link(token: str):
    participant = participant_for_token(token)
    if participant is None:
        return None
    if journey.OPEN_LINK.allows(participant):  # the first time only
        journey.open_link(participant)
        db.session.commit()
    bind(participant)
    session.setdefault("lang", participant.language)
    return participant


@bp.get("/t/<token>")
@limiter.limit(_link_limit)
def personal_link(token: str):
    participant = _open_link(token)
    if participant is None:
        return link_invalid_response()
    # Back where they were: a dropped participant lands in the waiting room or the call.
    return redirect(url_for(next_endpoint(participant)))


@bp.get("/t/<token>/absagen")
@limiter.limit(_link_limit)
def personal_link_to_cancel(token: str):
    """The reminder's cancel link: the personal link, then the question whether to cancel
    (that page sends whoever may not cancel, or too late, where they belong)."""
    if _open_link(token) is None:
        return link_invalid_response()
    return redirect(url_for("citizen.cancel_by_participant"))


@bp.get("/termin")
def start():
    participant = require_participant()
    appointment = participant.appointment
    return render_template(
        "citizen/start.html", participant=participant, appointment=appointment,
        next_url=url_for("citizen.consent") if not participant.has_consented
        else url_for(next_endpoint(participant)),
        opens_at=waiting_room_opens_at(appointment),
        minutes_until_open=max(0, math.ceil(
            (waiting_room_opens_at(appointment) - utcnow()).total_seconds() / 60)),
        is_open=waiting_room_is_open(appointment))


@bp.get("/termin/ende")
def closing():
    participant = require_participant()
    if participant.survey is None and next_endpoint(participant) == "citizen.closing":
        # Only whether it was offered is recorded (retention clears it), never anything else;
        # conditional, so a survey answered meanwhile in another tab stays answered.
        db.session.execute(update(Participant).where(
            Participant.id == participant.id, Participant.survey.is_(None)
        ).values(survey=SurveyState.OFFERED).execution_options(synchronize_session=False))
        db.session.commit()
        db.session.refresh(participant)
    return render_template("citizen/closing.html", participant=participant,
                           survey_answered=participant.survey is SurveyState.ANSWERED)


@bp.get("/termin/vorbei")
def over():
    participant = require_participant()
    return render_template("citizen/over.html", participant=participant)


@bp.get("/link-ungueltig")
def link_invalid():
    return link_invalid_response()
