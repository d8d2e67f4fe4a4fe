"""Odd input and edge cases found in review: never a 500, and states that stay consistent."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from portal.extensions import db
from portal.models import (
    AppointmentStatus,
    ConsentDecision,
    DeviceCheck,
    JourneyState,
    OutgoingMail,
    Participant,
    utcnow,
)
from portal.scheduling import NotChangeable, cancel_appointment, reschedule_appointment

from .helpers import appointment_form, csrf_token
from .journey_helpers import book, consent, device_check, to_waiting_room

HTMX = {"HX-Request": "true"}


@pytest.mark.parametrize("url", ["/?_method=FOO", "/?_external=1&_scheme=javascript",
                                 "/datenschutz?lang=en&_anchor=x", "/?lang=<script>"])
def test_query_arguments_never_break_the_language_switch(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "javascript:" not in html and "<script>" not in html.split("</head>", 1)[1]


def test_odd_query_arguments_on_advisor_pages(staff, advisor):
    appointment, _ = book(advisor)
    for url in (f"/beratung/termine/{appointment.id}?appointment_id=abc",
                "/beratung/warteschlange?v=%01&alle=%ff", "/beratung/termine?vergangen=²"):
        assert staff.get(url).status_code == 200, url
    # NUL cannot be stored or searched in PostgreSQL: refused with a clear 400, not a 500.
    assert staff.get("/beratung/warteschlange?v=%00").status_code == 400


@pytest.mark.parametrize("fields, message", [
    ({"duration": "²"}, "ganze Zahl"),
    ({"day": "0001-01-01", "clock": "00:30"}, "zwischen 2000 und 2099"),
    ({"day": "9999-12-31", "clock": "23:00", "duration": "480"}, "zwischen 2000 und 2099"),
    ({"citizen_email": "ärika@example.org"}, "richtigen Format"),
])
def test_more_bad_appointment_input_is_explained(staff, fields, message):
    token = csrf_token(staff, "/beratung/termine/neu")
    response = staff.post("/beratung/termine/neu",
                          data={"csrf_token": token, **appointment_form(**fields)})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_cli_refuses_dates_out_of_range(runner, advisor):
    result = runner.invoke(args=["appointment", "add", "--advisor", advisor.email, "--at",
                                 "0001-01-01T00:30", "--citizen-name", "E", "--citizen-email",
                                 "e@example.org"])
    assert result.exit_code != 0 and "2000" in result.output


def test_signalling_survives_hostile_json(staff, advisor):
    appointment, _ = book(advisor)
    headers = {"X-CSRFToken": csrf_token(staff, "/beratung/warteschlange")}
    base = f"/anruf/{appointment.id}"
    peer = staff.post(f"{base}/beitreten?as=advisor", json={}, headers=headers).get_json()["peer"]
    nested = "[" * 100_000 + "]" * 100_000
    for url in (f"{base}/signal?as=advisor", f"{base}/verlassen?as=advisor"):
        response = staff.post(url, data=nested, headers=headers, content_type="application/json")
        assert 400 <= response.status_code < 500, url
    nan = json.dumps({"peer": peer, "to": peer, "kind": "candidate", "payload": {"x": 1}})
    nan = nan.replace('{"x": 1}', '{"x": NaN}')  # not valid JSON, but Python's parser takes it
    response = staff.post(f"{base}/signal?as=advisor", data=nan, headers=headers,
                          content_type="application/json")
    assert response.status_code == 400
    assert staff.get(f"{base}/signale?as=advisor&peer={peer}&after=²").status_code == 200


def test_queue_stays_unchanged_across_seconds(staff, advisor):
    book(advisor)
    first = staff.get("/beratung/warteschlange", headers=HTMX).get_data(as_text=True)
    version = first.split("v=", 1)[1].split('"', 1)[0]
    time.sleep(1.1)  # CSRF tokens carry a timestamp: they must not count as a change
    assert staff.get(f"/beratung/warteschlange?v={version}", headers=HTMX).status_code == 204


def test_rescheduling_sends_admitted_people_back_to_the_waiting_room(app, client, staff,
                                                                     advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    token = csrf_token(staff, "/beratung/warteschlange")
    staff.post(f"/beratung/termine/{appointment.id}/einlassen/{appointment.citizen.id}",
               data={"csrf_token": token})
    db.session.expire_all()
    outcome = reschedule_appointment(appointment, starts_at=utcnow() + timedelta(minutes=20),
                                     duration_minutes=30)
    citizen = db.session.get(Participant, appointment.citizen.id)
    assert citizen.journey_state is JourneyState.CHECKED and citizen.admitted_at is None
    fresh = app.test_client()
    from urllib.parse import urlsplit

    assert fresh.get(urlsplit(outcome.links[citizen.id]).path).headers["Location"] == \
        "/termin/wartebereich"
    assert fresh.get("/termin/anruf").headers["Location"] == "/termin/wartebereich"


def test_agreeing_again_after_withdrawing_leads_back_to_the_waiting_room(client, advisor):
    # Withdrawing deletes the device check with everything it measured; agreeing again
    # means a new check, then the waiting room.
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    consent(client, agree=False)  # a withdrawal
    db.session.expire_all()
    citizen = db.session.get(Participant, appointment.citizen.id)
    assert citizen.consents[-1].decision is ConsentDecision.WITHDRAWN
    assert db.session.query(DeviceCheck).count() == 0  # what consent allowed goes
    response = consent(client)
    assert response.headers["Location"] == "/termin/technik"
    assert device_check(client).headers["Location"] == "/termin/wartebereich"
    client.get("/termin/wartebereich")
    db.session.expire_all()
    assert db.session.get(Participant, citizen.id).journey_state is JourneyState.WAITING


def test_only_the_citizen_side_may_cancel(app, advisor):
    appointment, paths = book(advisor, interpreter=True)
    interpreter = app.test_client()
    to_waiting_room(interpreter, paths["interpreter"])
    page = interpreter.get("/termin/wartebereich").get_data(as_text=True)
    assert "/termin/absagen" not in page
    assert interpreter.get("/termin/absagen").status_code == 302
    token = csrf_token(interpreter, "/termin/wartebereich")
    interpreter.post("/termin/absagen", data={"csrf_token": token})
    db.session.expire_all()
    assert appointment.status is AppointmentStatus.SCHEDULED


def test_retention_counts_from_the_cancellation_and_erases_mail_errors(app, runner, advisor):
    appointment, _ = book(advisor, starts_in=timedelta(days=90))
    cancel_appointment(appointment)
    appointment.cancelled_at = utcnow() - timedelta(days=15)
    mail = db.session.query(OutgoingMail).first()
    mail.last_error = "SMTPRecipientsRefused: <recipient>"
    db.session.commit()
    assert runner.invoke(args=["retention", "purge"]).output.startswith("1 participants")
    db.session.expire_all()
    assert appointment.citizen.name is None
    assert all(m.last_error is None for m in db.session.query(OutgoingMail))


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(config):
    from portal import create_app
    from portal.models import Advisor

    config["PROXY_FIX_HOPS"] = 1
    proxied = create_app(config)
    client = proxied.test_client()
    with proxied.app_context():
        advisor = Advisor(name="Anna", email="anna@example.org")
        advisor.set_password("correct horse battery staple")
        db.session.add(advisor)
        db.session.commit()
        appointment, paths = book(advisor)
        db.session.remove()
    client.get(paths["citizen"])
    consent(client)
    token = csrf_token(client, "/termin/technik")
    client.post("/termin/technik", headers={"X-Forwarded-For": "192.0.2.44"}, data={
        "csrf_token": token, "camera": "ok", "microphone": "ok", "speaker": "ok",
        "download_kbps": "5000", "upload_kbps": "3000", "rtt_ms": "20", "jitter_ms": "2",
        "confirm": "1"})  # the test client is no supported browser
    with proxied.app_context():
        assert db.session.query(DeviceCheck).one().ip_address == "192.0.2.44"
        db.session.remove()


def test_a_late_poll_does_not_undo_leaving_the_waiting_room(client, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    token = csrf_token(client, "/termin/wartebereich")
    client.post("/termin/wartebereich/verlassen", data={"csrf_token": token})
    client.get("/termin/wartebereich", headers=HTMX)  # a poll that was already on its way
    db.session.expire_all()
    assert db.session.get(Participant, appointment.citizen.id).journey_state is \
        JourneyState.LEFT


def test_two_cancellations_at_once_send_the_mails_only_once(app, client, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    assert appointment.status is AppointmentStatus.SCHEDULED  # as this request loaded it
    mails = db.session.query(OutgoingMail).count()
    # Meanwhile another request (a second click, the advisor) cancels on its own connection.
    with db.engine.begin() as other:
        other.execute(text("UPDATE appointment SET status = 'cancelled' WHERE id = :id"),
                      {"id": appointment.id})
    with pytest.raises(NotChangeable):
        cancel_appointment(appointment, actor="participant", by_participant=appointment.citizen)
    assert db.session.query(OutgoingMail).count() == mails
    db.session.expire_all()
    assert appointment.status is AppointmentStatus.CANCELLED


@pytest.mark.parametrize("url, data", [
    ("/anmelden", {"email": "anna\x00@example.org", "password": "x"}),
    ("/beratung/termine/neu", {"citizen_name": "Erika\x00"}),
])
def test_nul_characters_in_forms_are_refused(staff, client, url, data):
    # PostgreSQL refuses NUL in text: a 500 there before this was checked (found by fuzzing).
    who = client if url == "/anmelden" else staff
    token = csrf_token(who, url)
    response = who.post(url, data={"csrf_token": token, **data})
    assert response.status_code == 400
    assert who.get("/?lang=%00").status_code == 400
