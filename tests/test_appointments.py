"""Advisors create, reschedule and cancel appointments in the browser (forms, no JavaScript)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from portal.extensions import db
from portal.models import Appointment, MailKind, OutgoingMail, Participant, ParticipantRole

from .dates import CLOCKS_FORWARD, SUMMER_TUESDAY, WINTER_TUESDAY, YEAR, german_day
from .helpers import appointment_form, csrf_token, login


@pytest.fixture
def anna(client, make_advisor):
    advisor = make_advisor()
    login(client, advisor.email)
    return advisor


def post_new(client, **fields):
    token = csrf_token(client, "/beratung/termine/neu")
    return client.post("/beratung/termine/neu", data={"csrf_token": token,
                                                      **appointment_form(**fields)})


def test_create_appointment_with_extra_participants(client, anna, tmp_path):
    response = post_new(client, **{
        "extras-0-role": "interpreter", "extras-0-name": "Ivan Dolmetscher",
        "extras-0-email": "ivan@example.org",
        "extras-1-role": "legal_representative", "extras-1-name": "Lena Vertreterin",
        "extras-1-email": "lena@example.org",
    })
    assert response.status_code == 302
    appt = db.session.query(Appointment).one()
    # 09:30 in Berlin on a Tuesday in March (winter time) is 08:30 UTC.
    assert appt.starts_at == datetime.combine(WINTER_TUESDAY, time(8, 30), UTC)
    assert appt.advisor_id == anna.id and appt.duration_minutes == 30
    roles = [(p.role, p.name, p.email) for p in appt.participants]
    assert roles == [
        (ParticipantRole.CITIZEN, "Erika Mustermann", "erika@example.org"),
        (ParticipantRole.INTERPRETER, "Ivan Dolmetscher", "ivan@example.org"),
        (ParticipantRole.LEGAL_REPRESENTATIVE, "Lena Vertreterin", "lena@example.org"),
    ]
    assert appt.citizen.customer_number == "123D456789"
    # Without an SMTP server the mails land as .eml files in the local outbox.
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Ivan Dolmetscher" in detail
    assert f"{german_day(WINTER_TUESDAY, 'Dienstag')}, 09:30 Uhr" in detail
    assert detail.count("gesendet") >= 3


def test_new_appointment_appears_in_the_list_with_mail_state(client, anna):
    post_new(client)
    listing = client.get("/beratung/termine").get_data(as_text=True)
    assert "Erika Mustermann" in listing
    assert "gesendet" in listing


def test_add_another_participant_keeps_what_was_typed(client, anna):
    token = csrf_token(client, "/beratung/termine/neu")
    response = client.post("/beratung/termine/neu", data={
        "csrf_token": token, "add_participant": "1",
        **appointment_form(citizen_name="Erika Mustermann")})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="extras-1-name"' in html
    assert 'value="Erika Mustermann"' in html
    assert "Es gibt ein Problem" not in html
    assert db.session.query(Appointment).count() == 0


def test_adding_participants_stops_at_the_limit_with_a_reason(client, anna):
    token = csrf_token(client, "/beratung/termine/neu")
    rows = {f"extras-{i}-{key}": "" for i in range(7) for key in ("name", "email")}
    rows.update({f"extras-{i}-role": "other" for i in range(7)})
    response = client.post("/beratung/termine/neu", data={
        "csrf_token": token, "add_participant": "1", **appointment_form(), **rows})
    html = response.get_data(as_text=True)
    assert 'name="extras-7-name"' in html  # the eighth row
    assert 'name="add_participant"' not in html
    assert "bis zu 8 weitere Teilnehmende" in html


BAD_INPUT = [
    ("empty citizen name", {"citizen_name": "  "}, "citizen_name", "Geben Sie den Namen ein"),
    ("overlong name", {"citizen_name": "A" * 121}, "citizen_name", "120 Zeichen"),
    ("newline in name (header injection)",
     {"citizen_name": "Erika\r\nBcc: victim@example.org"}, "citizen_name", "einer Zeile"),
    ("invalid e-mail", {"citizen_email": "erika@"}, "citizen_email", "richtigen Format"),
    ("e-mail with newline", {"citizen_email": "erika@example.org\nBcc: x@example.org"},
     "citizen_email", "richtigen Format"),
    ("time in the past", {"day": "2020-01-01"}, "day", "in der Zukunft"),
    ("not a date", {"day": f"31.02.{YEAR}"}, "day", "Datum"),
    ("not a time", {"clock": "25:61"}, "clock", "Uhrzeit"),
    ("duration 0", {"duration": "0"}, "duration", "zwischen 5 und 480 Minuten"),
    ("duration 1000", {"duration": "1000"}, "duration", "zwischen 5 und 480 Minuten"),
    ("duration not a number", {"duration": "-5"}, "duration", "ganze Zahl"),
    ("unknown role", {"extras-0-role": "spy", "extras-0-name": "Sam",
                      "extras-0-email": "sam@example.org"}, "extras-0-role", "Rolle"),
    ("extra participant without e-mail", {"extras-0-name": "Sam"}, "extras-0-email",
     "E-Mail-Adresse ein"),
    ("unknown language", {"language": "fr"}, "language", "Deutsch oder Englisch"),
    ("customer number with markup", {"customer_number": "<script>"}, "customer_number",
     "Kundennummer"),
    ("a time skipped by the clock change",
     {"day": CLOCKS_FORWARD.isoformat(), "clock": "02:30"}, "clock", "Zeitumstellung"),
]


@pytest.mark.parametrize("case, fields, field_id, message", BAD_INPUT,
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_explained_and_nothing_is_lost(client, anna, case, fields, field_id,
                                                    message):
    response = post_new(client, **fields)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<title>Fehler:" in html
    assert "Es gibt ein Problem" in html
    assert f'href="#{field_id}"' in html  # the summary links to the field
    assert message in html
    # What the advisor typed is still there.
    for key in ("citizen_email", "customer_number"):
        value = fields.get(key, appointment_form()[key])
        if value and "\n" not in value and "<" not in value:
            assert f'value="{value}"' in html
    assert db.session.query(Appointment).count() == 0
    assert db.session.query(Participant).count() == 0
    assert db.session.query(OutgoingMail).count() == 0


def test_errors_are_in_english_for_english_advisors(client, anna):
    client.get("/?lang=en")
    response = post_new(client, duration="1000")
    html = response.get_data(as_text=True)
    assert "There is a problem" in html
    assert "The duration must be between 5 and 480 minutes." in html


def test_reschedule_moves_the_appointment_and_informs_everyone(client, anna):
    post_new(client, **{"extras-0-name": "Ivan", "extras-0-email": "ivan@example.org"})
    appt = db.session.query(Appointment).one()
    url = f"/beratung/termine/{appt.id}/verschieben"
    form = client.get(url).get_data(as_text=True)
    assert f'value="{WINTER_TUESDAY.isoformat()}"' in form and 'value="09:30"' in form
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "day": SUMMER_TUESDAY.isoformat(),
                                      "clock": "14:15", "duration": "45"})
    assert response.status_code == 302
    db.session.refresh(appt)
    # Summer time: 14:15 in Berlin is 12:15 UTC.
    assert appt.starts_at == datetime.combine(SUMMER_TUESDAY, time(12, 15), UTC)
    assert appt.duration_minutes == 45 and appt.sequence == 1
    kinds = [m.kind for m in db.session.query(OutgoingMail).order_by(OutgoingMail.id)]
    assert kinds == [MailKind.INVITATION] * 2 + [MailKind.UPDATE] * 2


def test_reschedule_with_bad_input_changes_nothing(client, anna):
    post_new(client)
    appt = db.session.query(Appointment).one()
    url = f"/beratung/termine/{appt.id}/verschieben"
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "day": "2020-04-06",
                                      "clock": "14:15", "duration": "0"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "in der Zukunft" in html and "zwischen 5 und 480 Minuten" in html
    assert 'value="2020-04-06"' in html
    db.session.refresh(appt)
    assert appt.sequence == 0 and appt.duration_minutes == 30


def test_cancel_needs_confirmation_and_then_informs_everyone(client, anna):
    post_new(client)
    appt = db.session.query(Appointment).one()
    url = f"/beratung/termine/{appt.id}/absagen"
    page = client.get(url).get_data(as_text=True)
    assert "absagen" in page.lower()
    db.session.refresh(appt)
    assert appt.status.value == "scheduled"  # looking at the page changes nothing
    token = csrf_token(client, url)
    assert client.post(url, data={"csrf_token": token}).status_code == 302
    db.session.refresh(appt)
    assert appt.status.value == "cancelled"
    kinds = [m.kind for m in db.session.query(OutgoingMail).order_by(OutgoingMail.id)]
    assert kinds == [MailKind.INVITATION, MailKind.CANCELLATION]
    # A second cancel (double submit) sends nothing more.
    client.post(url, data={"csrf_token": token})
    assert db.session.query(OutgoingMail).count() == 2
    assert "Verschieben" not in client.get(f"/beratung/termine/{appt.id}").get_data(as_text=True)
