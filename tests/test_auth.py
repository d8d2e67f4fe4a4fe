"""Advisor sign-in, CSRF and who may see what."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.extensions import db
from portal.models import Appointment, AuditEvent, ParticipantRole
from portal.scheduling import ParticipantSpec, create_appointment

from .dates import YEAR
from .helpers import appointment_form, csrf_token, login


def _appointment_for(advisor) -> Appointment:
    return create_appointment(
        advisor=advisor, starts_at=datetime(YEAR, 1, 12, 9, 0, tzinfo=UTC), duration_minutes=30,
        language="de",
        citizen=ParticipantSpec(ParticipantRole.CITIZEN, "Max Muster", "max@example.org"),
    ).appointment


def test_advisor_pages_need_a_login(client):
    for url in ("/beratung/termine", "/beratung/termine/neu", "/beratung/termine/1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/anmelden?next=")


def test_login_with_wrong_password_keeps_the_address_and_says_why(client, make_advisor):
    make_advisor()
    response = login(client, "anna.berater@jobcenter.example", "wrong password!")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "E-Mail-Adresse oder Passwort" in html
    assert 'value="anna.berater@jobcenter.example"' in html
    assert "<title>Fehler:" in html
    assert client.get("/beratung/termine").status_code == 302


def test_login_then_logout(client, make_advisor):
    make_advisor()
    response = login(client, "Anna.Berater@jobcenter.example")
    assert response.status_code == 302
    assert response.headers["Location"] == "/beratung/termine"
    assert client.get("/beratung/termine").status_code == 200
    token = csrf_token(client, "/beratung/termine")
    assert client.post("/abmelden", data={"csrf_token": token}).status_code == 302
    assert client.get("/beratung/termine").status_code == 302
    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions == ["advisor.login", "advisor.logout"]


def test_login_ignores_an_offsite_next_parameter(client, make_advisor):
    make_advisor()
    token = csrf_token(client, "/anmelden")
    response = client.post("/anmelden?next=https://evil.example/", data={
        "csrf_token": token, "email": "anna.berater@jobcenter.example",
        "password": "correct horse battery staple"})
    assert response.headers["Location"] == "/beratung/termine"


def test_inactive_advisor_cannot_sign_in(client, make_advisor):
    advisor = make_advisor()
    advisor.active = False
    db.session.commit()
    assert login(client, "anna.berater@jobcenter.example").status_code == 200
    assert client.get("/beratung/termine").status_code == 302


def test_form_without_csrf_token_is_rejected(client, make_advisor):
    make_advisor()
    response = client.post("/anmelden", data={"email": "anna.berater@jobcenter.example",
                                              "password": "correct horse battery staple"})
    assert response.status_code == 400
    assert "abgelaufen" in response.get_data(as_text=True)
    assert client.get("/beratung/termine").status_code == 302  # not signed in


def test_state_changes_without_csrf_are_rejected_when_signed_in(client, make_advisor):
    advisor = make_advisor()
    appt = _appointment_for(advisor)
    login(client, advisor.email)
    assert client.post("/beratung/termine/neu", data=appointment_form()).status_code == 400
    assert client.post(f"/beratung/termine/{appt.id}/absagen").status_code == 400
    assert db.session.query(Appointment).count() == 1
    assert db.session.get(Appointment, appt.id).status.value == "scheduled"


def test_advisor_never_sees_or_changes_another_advisors_appointment(client, make_advisor):
    anna = make_advisor()
    bernd = make_advisor(email="bernd@jobcenter.example", name="Bernd Berater")
    bernds = _appointment_for(bernd)
    login(client, anna.email)
    token = csrf_token(client, "/beratung/termine")
    assert client.get(f"/beratung/termine/{bernds.id}").status_code == 404
    assert client.get(f"/beratung/termine/{bernds.id}/verschieben").status_code == 404
    assert client.post(f"/beratung/termine/{bernds.id}/absagen",
                       data={"csrf_token": token}).status_code == 404
    assert client.post(f"/beratung/termine/{bernds.id}/verschieben", data={
        "csrf_token": token, "day": f"{YEAR}-02-01", "clock": "10:00", "duration": "30",
    }).status_code == 404
    listing = client.get("/beratung/termine").get_data(as_text=True)
    assert "Max Muster" not in listing
    db.session.refresh(bernds)
    assert bernds.status.value == "scheduled" and bernds.sequence == 0


def test_admin_sees_every_advisors_appointments(client, make_advisor):
    make_advisor(email="admin@jobcenter.example", name="Ada Admin", admin=True)
    bernd = make_advisor(email="bernd@jobcenter.example", name="Bernd Berater")
    appt = _appointment_for(bernd)
    login(client, "admin@jobcenter.example")
    listing = client.get("/beratung/termine").get_data(as_text=True)
    assert "Max Muster" in listing and "Bernd Berater" in listing
    assert client.get(f"/beratung/termine/{appt.id}").status_code == 200


def test_sign_in_renews_the_csrf_token_at_each_step(app, client, make_advisor):
    """The token changes with the password step and again when the second step signs in."""
    import pyotp

    advisor = make_advisor()
    advisor.totp_secret = pyotp.random_base32(32)
    advisor.totp_enabled_at = datetime.now(UTC)
    db.session.commit()
    before = csrf_token(client, "/anmelden")
    assert login(client, advisor.email).headers["Location"] == "/anmelden/code"
    at_code_step = csrf_token(client, "/anmelden/code")
    assert at_code_step != before
    response = client.post("/anmelden/code", data={
        "csrf_token": at_code_step, "code": pyotp.TOTP(advisor.totp_secret).now()})
    assert response.status_code == 302
    signed_in = csrf_token(client, "/beratung/termine")
    assert signed_in not in (before, at_code_step)
