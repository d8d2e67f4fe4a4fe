"""What people see when the journey refuses a move, and the queue after an appointment ends."""

from __future__ import annotations

from flask import jsonify

from portal import admission, journey
from portal.access import own_appointment, require_participant
from portal.attendance import attendance
from portal.extensions import db
from portal.models import JourneyState, Participant

from .helpers import login
from .journey_helpers import book, to_waiting_room
from .test_queue import rows

HTMX = {"HX-Request": "true"}


def _add_refusing_routes(app):
    """Views that ask for a move the participant's state does not allow (as a stale page or
    a second tab would)."""

    def participant_leaves_call():
        journey.leave_call(require_participant())  # a waiting participant is in no call
        return "moved"

    def advisor_admits(appointment_id: int, participant_id: int):
        own_appointment(appointment_id)
        journey.admit(db.session.get(Participant, participant_id), None)
        return jsonify(moved=True)

    app.add_url_rule("/termin/test-verlassen", view_func=participant_leaves_call)
    app.add_url_rule("/anruf/<int:appointment_id>/test-verlassen",
                     view_func=lambda appointment_id: participant_leaves_call())
    app.add_url_rule("/beratung/test/<int:appointment_id>/<int:participant_id>",
                     view_func=advisor_admits)


def test_a_refused_move_sends_the_participant_where_they_belong(app, advisor):
    _add_refusing_routes(app)
    appointment, paths = book(advisor)
    citizen = app.test_client()
    to_waiting_room(citizen, paths["citizen"])

    page = citizen.get("/termin/test-verlassen")
    assert (page.status_code, page.headers["Location"]) == (302, "/termin/wartebereich")
    fragment = citizen.get("/termin/test-verlassen", headers=HTMX)
    assert fragment.headers["HX-Redirect"] == "/termin/wartebereich"
    api = citizen.get(f"/anruf/{appointment.id}/test-verlassen")
    assert (api.status_code, api.get_json()) == (409, {"error": "not_allowed"})

    citizen_p = appointment.citizen
    db.session.refresh(citizen_p)
    assert citizen_p.journey_state is JourneyState.WAITING  # nothing changed


def test_a_refused_advisor_move_returns_to_the_queue_with_a_reason(app, advisor):
    _add_refusing_routes(app)
    appointment, _ = book(advisor)
    staff = app.test_client()
    login(staff, advisor.email)
    page = staff.get(f"/beratung/test/{appointment.id}/{appointment.citizen.id}")
    assert (page.status_code, page.headers["Location"]) == (302, "/beratung/warteschlange")
    queue = staff.get("/beratung/warteschlange").get_data(as_text=True)
    assert "Das ist nicht mehr möglich" in queue


def test_who_still_waits_when_the_appointment_ends_is_no_longer_counted_as_waiting(
        app, staff, advisor):
    """Ending an appointment moves only those admitted; someone still waiting (e.g. an
    interpreter not let in) used to show as waiting, then "connection lost?", and counted in
    the queue's title until the day was over."""
    appointment, paths = book(advisor, interpreter=True)
    to_waiting_room(app.test_client(), paths["citizen"])
    to_waiting_room(app.test_client(), paths["interpreter"])
    db.session.expire_all()  # the pages moved them
    citizen = appointment.citizen
    assert admission.admit(appointment, [citizen], advisor) == 1
    admission.end_appointment(appointment, advisor)

    interpreter = next(p for p in appointment.participants if p is not citizen)
    assert interpreter.journey_state is JourneyState.WAITING
    assert attendance(interpreter).key == "not_admitted"
    html = staff.get("/beratung/warteschlange").get_data(as_text=True)
    assert rows(html) == {str(citizen.id): "done", str(interpreter.id): "not_admitted"}
    assert 'data-waiting-count="0"' in html and "<title>(" not in html
    assert "nicht eingelassen" in html
