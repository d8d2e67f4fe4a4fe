"""The hand-off to another conferencing provider (Jitsi, BigBlueButton, Webex, a personal
room): the page that opens the provider's join URL, BigBlueButton's end callback, and the
neutral page BigBlueButton sends people to when they leave its meeting.

The join URL is made when the page is served (tokens and links are short-lived) and the page
is never cached. The page opens the URL in the same tab by itself once it is visible
(static/js/handoff.js: a GET navigation, which the CSP's form-action would not allow for a
form POST redirected to another origin) and offers one link that does the same.
"""

from __future__ import annotations

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from .. import admission, journey
from ..access import bound_participant, may_join_call
from ..extensions import db, limiter
from ..journey import next_endpoint
from ..models import Advisor, Appointment, AppointmentStatus, Participant
from ..providers import Provider, ProviderError
from ..providers.meetings import (
    END_CALLBACK_RULE,
    LOGOUT_PATH,
    display_name,
    meeting_for_end_callback,
)
from . import bp

# The providers that receive the display name (the page says which name people appear under).
NAME_SENT = frozenset({"jitsi", "bigbluebutton"})
# A failed hand-off page asks again by itself after this many seconds.
RETRY_SECONDS = 15
# BigBlueButton calls the end callback once per meeting; anything beyond is not BigBlueButton.
END_CALLBACK_RATE_LIMIT = "30 per minute"


def _no_store(response):
    # The page holds a join URL with a short-lived token: never kept by a browser or proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


def hand_off_page(provider: Provider, appointment: Appointment, join_url: str, *,
                  participant: Participant | None = None, advisor: Advisor | None = None):
    name = display_name(participant=participant, advisor=advisor) \
        if provider.name in NAME_SENT else None
    return _no_store(make_response(render_template(
        "call/handoff.html", provider=provider, appointment=appointment, join_url=join_url,
        shown_name=name, is_advisor=advisor is not None)))


def failed_page(error: ProviderError, appointment: Appointment, *, is_advisor: bool):
    """The provider could not be asked just now: say so, and try again by itself."""
    response = make_response(render_template(
        "call/handoff_failed.html", error=error, appointment=appointment,
        is_advisor=is_advisor, retry_seconds=RETRY_SECONDS), 503)
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return _no_store(response)


# ---- BigBlueButton's end callback ---------------------------------------------------------

@bp.get(END_CALLBACK_RULE)
@limiter.limit(END_CALLBACK_RATE_LIMIT)
def provider_end_callback(token: str):
    """BigBlueButton's meta_endCallbackUrl: a server's GET with the signed token (no CSRF
    token: nothing in it comes from a browser session). 404 for a forged or old token."""
    row = meeting_for_end_callback(token)
    meeting_id = request.args.get("meetingID")
    if row is None or (meeting_id is not None and meeting_id != row.meeting_key):
        abort(404)
    admission.end_by_provider(row.appointment)
    return "", 204


# ---- where BigBlueButton sends people who leave its meeting ----------------------------------

@bp.get(LOGOUT_PATH)
def meeting_left():
    """One address for everyone in the meeting (BigBlueButton's logoutURL): a participant is
    offered the way back in (or, once the appointment has ended, sent to the closing page);
    the advisor goes back to the queue; anyone else reads that the meeting was left."""
    participant = bound_participant()
    rejoin = False
    if participant is not None:
        appointment = participant.appointment
        if appointment.status is not AppointmentStatus.SCHEDULED:
            return redirect(url_for(next_endpoint(participant)))
        if journey.LEAVE_CALL.allows(participant):
            journey.leave_call(participant)
            db.session.commit()
        rejoin = may_join_call(participant)
    return render_template("call/meeting_left.html", rejoin=rejoin,
                           is_advisor=current_user.is_authenticated)
