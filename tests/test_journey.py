"""The participant's journey on the server: consent, device check, waiting room, rejoin."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import (
    AuditEvent,
    ConsentDecision,
    ConsentRecord,
    DeviceCheck,
    DeviceOutcome,
    JourneyState,
    Participant,
    utcnow,
)
from portal.timeutil import to_local

from .helpers import csrf_token, parse_mail
from .journey_helpers import PHONE_UA, book, consent, device_check, to_waiting_room

HTMX = {"HX-Request": "true"}


def fresh(participant_id: int) -> Participant:
    db.session.expire_all()
    return db.session.get(Participant, participant_id)


def test_consent_page_says_what_is_stored_and_links_real_pages(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    html = client.get("/termin/einwilligung").get_data(as_text=True)
    for phrase in ("Einwilligungserklärung", "freiwillig und vertraulich", "14 Tagen",
                   "Kundennummer", "IP-Adresse", "Betriebssystem", "Upload- und Download-Rate",
                   "Statistiken", "drei Fragen", "widerrufen", "keine Nachteile",
                   "nicht auf", "Ich stimme zu", "Ich stimme nicht zu", "Jobcenter Musterstadt"):
        assert phrase in html, phrase
    for url in ("/technische-voraussetzungen", "/datenschutz"):
        assert f'href="{url}"' in html
        assert client.get(url).status_code == 200


def test_consent_text_comes_from_replaceable_files(app, client, advisor, tmp_path):
    folder = tmp_path / "consent"
    folder.mkdir()
    (folder / "de.html").write_text("<p>Eigene Erklärung von {{ agency }}.</p>", "utf-8")
    app.config["CONSENT_DIR"] = str(folder)
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    assert "Eigene Erklärung von Jobcenter Musterstadt." in client.get(
        "/termin/einwilligung").get_data(as_text=True)


def test_agreeing_records_text_version_language_and_time(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    response = consent(client)
    assert response.headers["Location"] == "/termin/technik"
    record = db.session.query(ConsentRecord).one()
    assert record.decision is ConsentDecision.AGREED and record.language == "de"
    assert len(record.text_sha256) == 64 and abs(record.at - utcnow()) < timedelta(minutes=1)
    # The hash identifies the exact text: English gets another one.
    client.get("/termin/einwilligung?lang=en")
    consent(client)
    english = db.session.query(ConsentRecord).order_by(ConsentRecord.id.desc()).first()
    assert english.language == "en" and english.text_sha256 != record.text_sha256


def test_declining_explains_and_the_advisor_sees_it(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    response = consent(client, agree=False)
    assert response.headers["Location"] == "/termin/abgelehnt"
    html = client.get("/termin/abgelehnt").get_data(as_text=True)
    assert "keine Nachteile" in html and "Jobcenter Musterstadt" in html
    assert fresh(appointment.citizen.id).journey_state is JourneyState.DECLINED
    # Steps after consent stay closed; opening the link again shows the decline page.
    assert client.get("/termin/technik").headers["Location"] == "/termin/einwilligung"
    assert client.get(paths["citizen"]).headers["Location"] == "/termin/abgelehnt"


def test_consent_without_a_choice_is_explained(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    token = csrf_token(client, "/termin/einwilligung")
    response = client.post("/termin/einwilligung", data={"csrf_token": token})
    assert response.status_code == 422
    assert "Es gibt ein Problem" in response.get_data(as_text=True)
    assert db.session.query(ConsentRecord).count() == 0


def test_nothing_about_the_visitor_is_stored_before_consent(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"], headers={"User-Agent": "Mozilla/5.0 TellTale/9.9"},
               environ_base={"REMOTE_ADDR": "203.0.113.99"})
    client.get("/termin", headers={"User-Agent": "Mozilla/5.0 TellTale/9.9"},
               environ_base={"REMOTE_ADDR": "203.0.113.99"})
    client.get("/termin/einwilligung", headers={"User-Agent": "Mozilla/5.0 TellTale/9.9"},
               environ_base={"REMOTE_ADDR": "203.0.113.99"})
    dump = "\n".join(db.session.connection().connection.driver_connection.iterdump())
    assert "TellTale" not in dump and "203.0.113.99" not in dump
    assert db.session.query(DeviceCheck).count() == 0


def test_device_check_stores_device_data_after_consent(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    consent(client)
    page = client.get("/termin/technik", headers={"User-Agent": PHONE_UA}).get_data(as_text=True)
    assert "Chrome 131" in page and "Android 14" in page
    response = device_check(client)
    assert response.headers["Location"] == "/termin/wartebereich"
    check = db.session.query(DeviceCheck).one()
    assert (check.browser, check.os, check.device_type) == ("Chrome", "Android 14", "mobile")
    assert check.ip_address == "198.51.100.23" and check.browser_supported
    assert check.camera is DeviceOutcome.OK and not check.continued_with_warning


def test_unsupported_browser_gets_advice_for_its_device(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    consent(client)
    ie = "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)"
    html = client.get("/termin/technik", headers={"User-Agent": ie}).get_data(as_text=True)
    assert 'data-browser-supported="no"' in html
    assert "Chrome" in html and "Edge" in html and "Firefox" in html
    iphone_old = ("Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 "
                  "(KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1")
    html = client.get("/termin/technik", headers={"User-Agent": iphone_old}).get_data(
        as_text=True)
    assert 'data-browser-supported="no"' in html and "Safari" in html and "iOS" in html


def test_continuing_with_problems_needs_a_second_step_and_is_flagged(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    consent(client)
    first = device_check(client, camera="denied", microphone="untested")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "Trotzdem fortfahren" in html or "trotzdem" in html.lower()
    assert db.session.query(DeviceCheck).count() == 0
    second = device_check(client, camera="denied", microphone="untested", confirm=True)
    assert second.headers["Location"] == "/termin/wartebereich"
    check = db.session.query(DeviceCheck).one()
    assert check.camera is DeviceOutcome.DENIED and check.continued_with_warning


def test_device_check_ignores_made_up_outcomes(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    consent(client)
    response = device_check(client, camera="<script>", microphone="x" * 5000, confirm=True)
    assert response.status_code == 302
    check = db.session.query(DeviceCheck).one()
    assert check.camera is DeviceOutcome.UNTESTED and check.microphone is DeviceOutcome.UNTESTED


def test_waiting_room_shows_what_the_reference_flow_promises(client, advisor):
    appointment, paths = book(advisor)
    response = to_waiting_room(client, paths["citizen"])
    html = response.get_data(as_text=True)
    for phrase in ("virtuellen Wartebereich", "weder Audio noch Video",
                   "informiert", "bleiben Sie", "Kamera und Mikrofon"):
        assert phrase in html, phrase
    assert 'aria-live="polite"' in html
    assert 'hx-trigger="every 3s"' in html
    assert '<meta http-equiv="refresh"' in html  # inside <noscript>: works without JavaScript
    assert "HX-Request" in response.headers["Vary"]
    citizen = fresh(appointment.citizen.id)
    assert citizen.journey_state is JourneyState.WAITING and citizen.waiting_since


def test_unchanged_poll_costs_nothing_and_keeps_presence(client, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    fragment = client.get("/termin/wartebereich", headers=HTMX)
    assert fragment.status_code == 200
    version = fragment.get_data(as_text=True).split("v=", 1)[1].split('"', 1)[0]
    citizen = fresh(appointment.citizen.id)
    citizen.last_seen_at = utcnow() - timedelta(seconds=12)
    db.session.commit()
    unchanged = client.get(f"/termin/wartebereich?v={version}", headers=HTMX)
    assert unchanged.status_code == 204 and unchanged.data == b""
    assert "HX-Request" in unchanged.headers["Vary"]
    assert utcnow() - fresh(appointment.citizen.id).last_seen_at < timedelta(seconds=2)


def test_advisor_message_reaches_the_waiting_room(client, app, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    first = client.get("/termin/wartebereich", headers=HTMX).get_data(as_text=True)
    version = first.split("v=", 1)[1].split('"', 1)[0]
    staff = app.test_client()
    from .helpers import login

    login(staff, advisor.email)
    token = csrf_token(staff, "/beratung/warteschlange")
    staff.post(f"/beratung/termine/{appointment.id}/nachricht",
               data={"csrf_token": token, "message": "Ich verspäte mich\r\n um 5 Minuten."})
    changed = client.get(f"/termin/wartebereich?v={version}", headers=HTMX)
    assert changed.status_code == 200
    assert "Ich verspäte mich um 5 Minuten." in changed.get_data(as_text=True)
    assert db.session.query(AuditEvent).filter_by(action="waiting_room.message").count() == 1


def test_leaving_and_coming_back_to_the_waiting_room(client, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    token = csrf_token(client, "/termin/wartebereich")
    response = client.post("/termin/wartebereich/verlassen", data={"csrf_token": token})
    assert response.headers["Location"] == "/termin/wartebereich/verlassen"
    page = client.get("/termin/wartebereich/verlassen").get_data(as_text=True)
    assert 'href="/termin/wartebereich"' in page
    assert fresh(appointment.citizen.id).journey_state is JourneyState.LEFT
    client.get("/termin/wartebereich")
    assert fresh(appointment.citizen.id).journey_state is JourneyState.WAITING


@pytest.mark.parametrize("starts_in, how_long", [
    (timedelta(hours=2), "in 90 Minuten"),
    (timedelta(hours=10, minutes=30), "in etwa 10 Stunden"),
    (timedelta(days=5), "in 5 Tagen"),
])
def test_too_early_shows_when_the_waiting_room_opens(client, advisor, starts_in, how_long):
    appointment, paths = book(advisor, starts_in=starts_in)
    client.get(paths["citizen"])
    start = client.get("/termin").get_data(as_text=True)
    opens = to_local(appointment.starts_at - timedelta(minutes=30)).strftime("%H:%M")
    assert f"öffnet um {opens}" in start
    assert how_long in start
    consent(client)
    device_check(client)
    page = client.get("/termin/wartebereich").get_data(as_text=True)
    assert "öffnet um" in page
    assert fresh(appointment.citizen.id).journey_state is JourneyState.CHECKED


def test_after_the_end_the_link_says_the_appointment_is_over(client, advisor):
    appointment, paths = book(advisor)
    client.get(paths["citizen"])
    appointment.starts_at = utcnow() - timedelta(minutes=45)
    db.session.commit()
    from .helpers import login

    staff = client.application.test_client()
    login(staff, advisor.email)
    token = csrf_token(staff, "/beratung/warteschlange")
    staff.post(f"/beratung/termine/{appointment.id}/beenden", data={"csrf_token": token})
    response = client.get(paths["citizen"])
    assert response.headers["Location"] == "/termin/vorbei"
    html = client.get("/termin/vorbei").get_data(as_text=True)
    assert "vorbei" in html and "Jobcenter Musterstadt" in html


def test_participant_can_cancel_with_confirmation(client, advisor, tmp_path):
    appointment, paths = book(advisor, interpreter=True)
    to_waiting_room(client, paths["citizen"])
    assert "absagen" in client.get("/termin/absagen").get_data(as_text=True).lower()
    token = csrf_token(client, "/termin/absagen")
    response = client.post("/termin/absagen", data={"csrf_token": token})
    assert response.status_code == 200
    db.session.expire_all()
    assert appointment.status.value == "cancelled"
    event = db.session.query(AuditEvent).filter_by(action="appointment.cancelled").one()
    assert (event.actor, event.participant_id) == ("participant", appointment.citizen.id)
    # 2 invitations, 2 cancellations and a notice to the advisor
    mails = [parse_mail(f.read_bytes()) for f in sorted((tmp_path / "outbox").glob("*.eml"))]
    assert len(mails) == 5
    notice = next(m for m in mails if m["To"] == advisor.email)
    assert "Abgesagt von Erika Mustermann" in notice["Subject"]
    body = notice.get_content()
    assert "Erika Mustermann (Kundin oder Kunde) hat den Videotermin" in body
    assert f"/beratung/termine/{appointment.id}" in body
    assert client.get(paths["citizen"]).status_code == 404


def test_admitted_participant_is_sent_to_the_call_and_rejoins_without_admission(
        client, app, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    version = client.get("/termin/wartebereich", headers=HTMX).get_data(as_text=True) \
        .split("v=", 1)[1].split('"', 1)[0]
    from .helpers import login

    staff = app.test_client()
    login(staff, advisor.email)
    token = csrf_token(staff, "/beratung/warteschlange")
    staff.post(f"/beratung/termine/{appointment.id}/einlassen/{appointment.citizen.id}",
               data={"csrf_token": token})
    fragment = client.get(f"/termin/wartebereich?v={version}", headers=HTMX)
    html = fragment.get_data(as_text=True)
    assert "data-admitted" in html and "hx-trigger" not in html  # polling stops
    assert 'href="/termin/anruf"' in html
    # Without JavaScript the refreshed page goes straight to the call.
    assert client.get("/termin/wartebereich").headers["Location"] == "/termin/anruf"
    assert client.get("/termin/anruf").status_code == 200
    # The same link on another device goes straight back into the call.
    other_device = app.test_client()
    assert other_device.get(paths["citizen"]).headers["Location"] == "/termin/anruf"


def test_call_page_is_closed_to_people_not_admitted(client, app, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    assert client.get("/termin/anruf").headers["Location"] == "/termin/wartebereich"
    api = client.post(f"/anruf/{appointment.id}/beitreten?as=participant", json={},
                      headers={"X-CSRFToken": csrf_token(client, "/termin/wartebereich")})
    assert api.status_code == 404
