"""The hand-off to the providers without a browser: admission prepares the meeting first (a
failure leaves everyone waiting and shows on the queue with "Try again"), the hand-off page
gives a fresh join URL only to admitted people and never to anyone else, ending and moving
end the meeting at the provider, BigBlueButton's end callback, the neutral page its logoutURL
leads to, the provider chosen per appointment, the personal room in the account, and the
providers named on the consent and privacy pages. Each provider is a fake of its service
(tests/fakes/)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import httpx
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Advisor,
    Appointment,
    AppointmentStatus,
    AuditEvent,
    JourneyState,
    Participant,
    utcnow,
)
from portal.providers.meetings import end_callback_token
from portal.timeutil import to_local

from .fakes.server import FakeService, page, shown
from .helpers import csrf_token, login
from .journey_helpers import book, to_waiting_room

pytest_plugins = ["tests.fakes.fixtures"]  # provider_ca, fake_bbb, fake_jitsi, fake_webex

HTMX = {"HX-Request": "true"}
ALL = ["bigbluebutton", "jitsi", "webex", "link", "builtin"]
JOIN_LINK = re.compile(r'<a class="button" href="([^"]+)" rel="noreferrer" data-handoff')


class FakeRoom(FakeService):
    """An advisor's personal room elsewhere: any https page that shows which room it is."""

    def handle(self, method, path, raw_query, params, headers, body):
        return 200, "text/html", page("Personal room", room=path.strip("/")), {}


@pytest.fixture
def fake_room(provider_ca):
    fake = FakeRoom(provider_ca).start()
    yield fake
    fake.stop()


@pytest.fixture
def config(config, fake_bbb, fake_jitsi, fake_webex):
    for fake in (fake_bbb, fake_jitsi, fake_webex):
        config.update(fake.portal_config())
    config.update(PROVIDER="bigbluebutton", PROVIDERS=ALL, PROVIDER_TIMEOUT_SECONDS=1)
    return config


def _post(client, url: str, data: dict | None = None, htmx: bool = True, page_url=None):
    token = csrf_token(client, page_url or "/beratung/warteschlange")
    return client.post(url, data={"csrf_token": token, **(data or {})},
                       headers=HTMX if htmx else {})


def _state(participant_id: int) -> JourneyState:
    return _fresh(Participant, participant_id).journey_state


def _fresh(model, id_: int):
    db.session.expire_all()  # what the requests wrote, not this session's copy
    return db.session.get(model, id_)


def _appointment(id_: int) -> Appointment:
    return _fresh(Appointment, id_)


def _join_url(response) -> str:
    match = JOIN_LINK.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return unescape(match.group(1))


def _open(url: str, provider_ca) -> httpx.Response:
    """What the browser does with the join URL (BigBlueButton redirects once)."""
    return httpx.get(url, verify=provider_ca.client_context(), follow_redirects=True, timeout=5)


def _waiting(app, advisor, **kwargs):
    appointment, paths = book(advisor, **kwargs)
    citizen = app.test_client()
    to_waiting_room(citizen, paths["citizen"])
    return appointment, paths, citizen


def _admit(staff, appointment, participant):
    return _post(staff, f"/beratung/termine/{appointment.id}/einlassen/{participant.id}")


# ---- admission and the hand-off page ------------------------------------------------------

def test_admission_prepares_the_meeting_and_hands_off_with_a_fresh_join_url(
        app, staff, advisor, fake_bbb, provider_ca):
    appointment, paths, citizen = _waiting(app, advisor)
    citizen_id = appointment.citizen.id
    assert fake_bbb.meetings == {}  # nothing at the provider while people only wait

    answer = _admit(staff, appointment, appointment.citizen)
    assert answer.status_code == 200
    assert "Erika Mustermann wurde eingelassen." in answer.get_data(as_text=True)
    (meeting,) = fake_bbb.meetings.values()
    assert meeting.params["record"] == "false"

    page_ = citizen.get("/termin/anruf")
    assert page_.status_code == 200
    assert page_.headers["Cache-Control"] == "no-store"
    assert page_.headers["Referrer-Policy"] == "same-origin"
    html = page_.get_data(as_text=True)
    assert "Videobesprechung bei BigBlueButton öffnen" in html
    assert "Die anderen sehen Sie dort als: Erika Mustermann." in html
    assert "Kamera und Mikrofon erlauben" in html
    assert 'src="/static/js/handoff.js"' in html and "<script>" not in html
    landed = _open(_join_url(page_), provider_ca)
    assert (shown(landed.text, "name"), shown(landed.text, "role")) == (
        "Erika Mustermann", "VIEWER")
    assert _state(citizen_id) is JourneyState.IN_CALL

    # The advisor joins as moderator through the same kind of page.
    host = staff.get(f"/beratung/termine/{appointment.id}/anruf")
    assert host.status_code == 200 and host.headers["Cache-Control"] == "no-store"
    assert "Gastgeberin oder Gastgeber" in host.get_data(as_text=True)
    landed = _open(_join_url(host), provider_ca)
    assert (shown(landed.text, "name"), shown(landed.text, "role")) == (
        "Anna Berater", "MODERATOR")


def test_a_dropped_participant_goes_back_through_the_link_without_a_new_admission(
        app, staff, advisor, fake_bbb, provider_ca):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    citizen.get("/termin/anruf")

    again = app.test_client()  # another browser, or the same after its session ended
    opened = again.get(paths["citizen"])
    assert opened.status_code == 302 and opened.headers["Location"] == "/termin/anruf"
    landed = _open(_join_url(again.get("/termin/anruf")), provider_ca)
    assert shown(landed.text, "role") == "VIEWER"
    admissions = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "participant.admitted")).all()
    assert len(admissions) == 1
    # The waiting room sends an admitted participant on to the hand-off, never back to wait.
    assert again.get("/termin/wartebereich").headers["Location"] == "/termin/anruf"


def test_a_participant_not_admitted_gets_no_join_url(app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    answer = citizen.get("/termin/anruf")
    assert answer.status_code == 302 and answer.headers["Location"] == "/termin/wartebereich"
    assert fake_bbb.calls == []
    stranger = app.test_client()
    assert stranger.get("/termin/anruf").status_code == 404  # no link, no page


def test_another_advisor_can_neither_hand_off_nor_see_the_meeting(
        app, staff, advisor, make_advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    other = app.test_client()
    make_advisor("bernd.berater@jobcenter.example", "Bernd Berater")
    login(other, "bernd.berater@jobcenter.example")
    base = f"/beratung/termine/{appointment.id}"
    assert other.get(f"{base}/anruf").status_code == 404
    for url in (f"{base}/einlassen/{appointment.citizen.id}", f"{base}/alle-einlassen",
                f"{base}/erneut-versuchen", f"{base}/beenden"):
        assert _post(other, url).status_code == 404, url
    assert _post(other, f"{base}/videodienst", {"provider": "jitsi"}, htmx=False,
                 page_url="/beratung/termine").status_code == 404
    assert f'id="appointment-{appointment.id}"' not in \
        other.get("/beratung/warteschlange").get_data(as_text=True)
    assert fake_bbb.calls == [] and _state(appointment.citizen.id) is JourneyState.WAITING


@pytest.mark.parametrize("mode, reason_text", [
    ("down", "BigBlueButton konnte nicht erreicht werden."),
    ("slow", "BigBlueButton hat nicht rechtzeitig geantwortet."),
    ("error", "Bei BigBlueButton ist ein interner Fehler aufgetreten."),
])
def test_a_provider_failure_leaves_everyone_waiting_and_try_again_lets_them_in(
        app, staff, advisor, fake_bbb, mode, reason_text):
    appointment, paths, citizen = _waiting(app, advisor, interpreter=True)
    citizen_id = appointment.citizen.id
    interpreter = next(p for p in appointment.participants if p.id != citizen_id)
    to_waiting_room(app.test_client(), paths["interpreter"])
    fake_bbb.set_mode(mode, delay=3)

    answer = _admit(staff, appointment, appointment.citizen)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert f"Niemand wurde eingelassen: {reason_text}" in html
    assert 'id="queue-announcer" hx-swap-oob="innerHTML"' in html
    assert 'class="notice notice-error"' in html
    assert f'id="retry-{appointment.id}"' in html and "Erneut versuchen" in html
    assert f'id="admit-{citizen_id}"' in html  # the button pressed is still there (focus)
    assert _state(citizen_id) is JourneyState.WAITING
    assert _appointment(appointment.id).provider_meeting.last_failure in (
        "unreachable", "timeout", "server_error")
    # The citizen's page still says "waiting": nobody was sent to a dead link.
    assert citizen.get("/termin/anruf").headers["Location"] == "/termin/wartebereich"
    # Reloaded (another tab, no JavaScript): the queue still says what failed.
    assert reason_text in staff.get("/beratung/warteschlange").get_data(as_text=True)

    fake_bbb.set_mode("up")
    retried = _post(staff, f"/beratung/termine/{appointment.id}/erneut-versuchen")
    html = retried.get_data(as_text=True)
    assert "1 Person wurde eingelassen." in html
    assert f'id="retry-{appointment.id}"' not in html
    assert _state(citizen_id) is JourneyState.ADMITTED
    # Only whom the failed admission was for: the interpreter still waits.
    assert _state(interpreter.id) is JourneyState.WAITING
    assert _appointment(appointment.id).provider_meeting.last_failure is None


def test_try_again_without_a_failed_admission_only_prepares_the_meeting(
        app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    answer = _post(staff, f"/beratung/termine/{appointment.id}/erneut-versuchen")
    assert "Die Videobesprechung ist bereit." in answer.get_data(as_text=True)
    assert len(fake_bbb.meetings) == 1
    assert _state(appointment.citizen.id) is JourneyState.WAITING


def test_without_javascript_a_failure_is_flashed_on_the_queue_page(
        app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    fake_bbb.set_mode("down")
    answer = _post(staff, f"/beratung/termine/{appointment.id}/alle-einlassen", htmx=False)
    assert answer.status_code == 302
    html = staff.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'role="alert"' in html and "konnte nicht erreicht werden" in html
    assert _state(appointment.citizen.id) is JourneyState.WAITING


def test_a_failure_at_the_hand_off_shows_on_the_queue_and_the_page_tries_again(
        app, staff, advisor, fake_bbb, provider_ca):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    fake_bbb.set_mode("error")  # BigBlueButton is asked again before every join
    failed = citizen.get("/termin/anruf")
    # Retry-After: at least the page's own 15 s (Flask-Limiter may name its window's end).
    assert failed.status_code == 503 and int(failed.headers["Retry-After"]) >= 15
    assert failed.headers["Cache-Control"] == "no-store"
    html = failed.get_data(as_text=True)
    assert '<noscript><meta http-equiv="refresh" content="15"></noscript>' in html
    assert 'data-handoff-retry="15"' in html
    assert "Der Videodienst antwortet im Moment nicht." in html
    assert fake_bbb.base_url not in html
    assert "interne" in staff.get("/beratung/warteschlange").get_data(as_text=True)
    fake_bbb.set_mode("up")
    landed = _open(_join_url(citizen.get("/termin/anruf")), provider_ca)
    assert shown(landed.text, "role") == "VIEWER"
    # Working again: the queue no longer reports the failure.
    assert f'id="retry-{appointment.id}"' not in \
        staff.get("/beratung/warteschlange").get_data(as_text=True)


def test_the_advisor_hand_off_failing_says_why(app, staff, advisor, fake_bbb):
    appointment, _ = book(advisor)
    fake_bbb.fail_next("create", "checksumError", "You did not pass the checksum check")
    answer = staff.get(f"/beratung/termine/{appointment.id}/anruf")
    assert answer.status_code == 503
    assert "ist für dieses Portal nicht eingerichtet" in answer.get_data(as_text=True)


def test_a_provider_no_longer_configured_fails_cleanly(app, staff, advisor):
    appointment, paths, citizen = _waiting(app, advisor)
    _appointment(appointment.id).provider = "zoom"  # an old, unknown choice
    db.session.commit()
    answer = _admit(staff, appointment, appointment.citizen)
    assert answer.status_code == 200
    assert "nicht eingerichtet" in answer.get_data(as_text=True)
    assert _state(appointment.citizen.id) is JourneyState.WAITING
    assert staff.get(f"/beratung/termine/{appointment.id}/anruf").status_code == 503
    ended = _post(staff, f"/beratung/termine/{appointment.id}/beenden")
    assert ended.status_code == 200
    assert _appointment(appointment.id).status is AppointmentStatus.ENDED


# ---- each provider's join URL ----------------------------------------------------------

def _choose(staff, appointment, name: str):
    answer = _post(staff, f"/beratung/termine/{appointment.id}/videodienst",
                   {"provider": name}, htmx=False,
                   page_url=f"/beratung/termine/{appointment.id}")
    assert answer.status_code == 302, answer.get_data(as_text=True)


def test_jitsi_hand_off_names_and_roles(app, staff, advisor, fake_jitsi, provider_ca):
    appointment, paths, citizen = _waiting(app, advisor)
    _choose(staff, appointment, "jitsi")
    _admit(staff, appointment, appointment.citizen)
    landed = _open(_join_url(citizen.get("/termin/anruf")), provider_ca)
    assert (shown(landed.text, "name"), shown(landed.text, "role")) == (
        "Erika Mustermann", "participant")
    landed = _open(_join_url(staff.get(f"/beratung/termine/{appointment.id}/anruf")),
                   provider_ca)
    assert (shown(landed.text, "name"), shown(landed.text, "role")) == (
        "Anna Berater", "moderator")


def test_webex_hand_off_gives_guest_and_host_links(app, staff, advisor, fake_webex,
                                                   provider_ca):
    appointment, paths, citizen = _waiting(app, advisor)
    _choose(staff, appointment, "webex")
    _admit(staff, appointment, appointment.citizen)
    page_ = citizen.get("/termin/anruf")
    assert "Webex fragt Sie dort möglicherweise nach Ihrem Namen." in \
        page_.get_data(as_text=True)
    assert shown(_open(_join_url(page_), provider_ca).text, "role") == "guest"
    host = staff.get(f"/beratung/termine/{appointment.id}/anruf")
    assert shown(_open(_join_url(host), provider_ca).text, "role") == "host"


def test_link_hand_off_shows_the_advisors_personal_room(app, staff, advisor, fake_room,
                                                        provider_ca):
    room = f"{fake_room.base_url}/room-of-anna"
    answer = _post(staff, "/konto/besprechungsraum", {"url": room}, htmx=False,
                   page_url="/konto/besprechungsraum")
    assert answer.status_code == 302
    appointment, paths, citizen = _waiting(app, advisor)
    _choose(staff, appointment, "link")
    _admit(staff, appointment, appointment.citizen)
    page_ = citizen.get("/termin/anruf")
    assert _join_url(page_) == room
    assert "geben Sie ihn dort selbst ein" in page_.get_data(as_text=True)
    assert shown(_open(room, provider_ca).text, "room") == "room-of-anna"
    assert _join_url(staff.get(f"/beratung/termine/{appointment.id}/anruf")) == room


# ---- ending ------------------------------------------------------------------------------

def test_ending_the_appointment_ends_the_meeting_at_bigbluebutton(
        app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    citizen.get("/termin/anruf")
    (meeting,) = fake_bbb.meetings.values()
    answer = _post(staff, f"/beratung/termine/{appointment.id}/beenden")
    assert "Der Termin wurde beendet." in answer.get_data(as_text=True)
    assert meeting.ended
    assert citizen.get("/termin/anruf").headers["Location"] == "/termin/ende"
    assert _state(appointment.citizen.id) is JourneyState.DONE


def test_ending_with_bigbluebutton_down_still_ends_the_appointment(
        app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    fake_bbb.set_mode("down")
    answer = _post(staff, f"/beratung/termine/{appointment.id}/beenden")
    assert answer.status_code == 200
    assert _appointment(appointment.id).status is AppointmentStatus.ENDED


def test_cancelling_and_moving_end_a_prepared_meeting(app, staff, advisor, fake_bbb):
    moved, paths, citizen = _waiting(app, advisor)
    _admit(staff, moved, moved.citizen)
    (first,) = fake_bbb.meetings.values()
    page_url = f"/beratung/termine/{moved.id}/verschieben"
    token = csrf_token(staff, page_url)
    later = (moved.starts_at + timedelta(days=1)).astimezone()
    answer = staff.post(page_url, data={"csrf_token": token, "day": later.date().isoformat(),
                                        "clock": later.strftime("%H:%M"), "duration": "30"})
    assert answer.status_code == 302
    assert first.ended

    cancelled, paths, citizen = _waiting(app, advisor)
    _admit(staff, cancelled, cancelled.citizen)
    second = next(m for m in fake_bbb.meetings.values() if not m.ended)
    page_url = f"/beratung/termine/{cancelled.id}/absagen"
    token = csrf_token(staff, page_url)
    assert staff.post(page_url, data={"csrf_token": token}).status_code == 302
    assert second.ended


def test_the_end_callback_ends_the_appointment_once_someone_was_handed_over(
        app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    row = _appointment(appointment.id).provider_meeting
    url = f"/anbieter/ende/{end_callback_token(row)}"

    # Nobody has opened the meeting yet (it expired unjoined): the appointment goes on, and
    # the next hand-off prepares a new meeting.
    assert app.test_client().get(f"{url}?meetingID={row.meeting_key}").status_code == 204
    assert _appointment(appointment.id).status is AppointmentStatus.SCHEDULED
    citizen.get("/termin/anruf")
    assert len(fake_bbb.meetings) == 2

    row = _appointment(appointment.id).provider_meeting
    url = f"/anbieter/ende/{end_callback_token(row)}"
    answer = app.test_client().get(f"{url}?meetingID={row.meeting_key}&recordingmarks=false")
    assert answer.status_code == 204
    ended = _appointment(appointment.id)
    assert ended.status is AppointmentStatus.ENDED
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "appointment.ended")).one()
    assert (event.actor, event.advisor_id) == ("provider", None)
    assert _state(appointment.citizen.id) is JourneyState.DONE
    assert app.test_client().get(url).status_code == 204  # once more: nothing changes


def test_the_end_callback_refuses_forged_tokens_and_is_rate_limited(
        app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    citizen.get("/termin/anruf")
    row = _appointment(appointment.id).provider_meeting
    token = end_callback_token(row)
    robot = app.test_client()
    for bad in ("x", token[:-2] + "aa", "a" * 300, "%00", "..%2F..%2Fetc",
                f"{row.meeting_key}.forged"):
        assert robot.get(f"/anbieter/ende/{bad}").status_code == 404, bad
    assert robot.get(f"/anbieter/ende/{token}?meetingID=other").status_code == 404
    assert robot.post(f"/anbieter/ende/{token}").status_code == 405
    assert _appointment(appointment.id).status is AppointmentStatus.SCHEDULED
    codes = [robot.get("/anbieter/ende/forged").status_code for _ in range(30)]
    assert codes[-1] == 429


# ---- the page BigBlueButton's logoutURL leads to -----------------------------------------

def test_leaving_bigbluebutton_lands_on_a_page_for_everyone(app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    citizen.get("/termin/anruf")
    assert fake_bbb.calls[0][1]["logoutURL"] == "http://portal.test/besprechung/verlassen"

    left = citizen.get("/besprechung/verlassen")
    html = left.get_data(as_text=True)
    assert left.status_code == 200 and 'href="/termin/anruf"' in html
    assert _state(appointment.citizen.id) is JourneyState.LEFT_CALL
    assert 'href="/beratung/warteschlange"' in \
        staff.get("/besprechung/verlassen").get_data(as_text=True)
    anonymous = app.test_client().get("/besprechung/verlassen")
    assert anonymous.status_code == 200
    assert "Einladungs-E-Mail" in anonymous.get_data(as_text=True)

    citizen.get("/termin/anruf")  # back in
    assert _state(appointment.citizen.id) is JourneyState.IN_CALL
    _post(staff, f"/beratung/termine/{appointment.id}/beenden")
    assert citizen.get("/besprechung/verlassen").headers["Location"] == "/termin/ende"


# ---- the provider per appointment ----------------------------------------------------------

def test_the_new_appointment_form_offers_the_configured_providers(app, staff, advisor):
    form = staff.get("/beratung/termine/neu").get_data(as_text=True)
    options = re.findall(r'<option (selected )?value="([a-z]+)">', form)
    providers = [v for _, v in options if v in ALL]
    assert providers == ALL  # the default first
    assert ("selected ", "bigbluebutton") in options
    token = csrf_token(staff, "/beratung/termine/neu")
    day = (to_local(utcnow()) + timedelta(days=1)).date()
    data = {"csrf_token": token, "day": day.isoformat(), "clock": "10:00", "duration": "30",
            "citizen_name": "Erika Mustermann", "citizen_email": "erika@example.org",
            "language": "de", "extras-0-role": "interpreter", "extras-0-name": "",
            "extras-0-email": ""}
    for bad in ("zoom", "link", "<script>", ""):
        answer = staff.post("/beratung/termine/neu", data={**data, "provider": bad})
        if bad == "":  # none sent: the default
            assert answer.status_code == 302
            continue
        assert answer.status_code == 422, bad
        html = answer.get_data(as_text=True)
        assert "Erika Mustermann" in html  # the form keeps what was entered
        assert ("persönlichen Besprechungsraum" in html) if bad == "link" else \
            "Wählen Sie einen der angebotenen Videodienste." in html
    answer = staff.post("/beratung/termine/neu", data={**data, "provider": "jitsi"})
    assert answer.status_code == 302
    created = db.session.scalars(select(Appointment).order_by(Appointment.id.desc())).first()
    assert created.provider == "jitsi"
    html = staff.get(f"/beratung/termine/{created.id}").get_data(as_text=True)
    assert '<option selected value="jitsi">' in html


def test_the_provider_can_change_until_the_meeting_is_prepared(app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    page_url = f"/beratung/termine/{appointment.id}"
    html = staff.get(page_url).get_data(as_text=True)
    assert "Videodienst speichern" in html
    _choose(staff, appointment, "webex")
    assert _appointment(appointment.id).provider == "webex"
    _choose(staff, appointment, "bigbluebutton")  # the default again: follows the setting
    assert _appointment(appointment.id).provider is None
    assert 'data-provider="bigbluebutton"' in staff.get(
        "/beratung/warteschlange").get_data(as_text=True)

    _admit(staff, appointment, appointment.citizen)
    html = staff.get(page_url).get_data(as_text=True)
    assert "Videodienst speichern" not in html and "lässt sich nicht mehr ändern" in html
    answer = _post(staff, f"{page_url}/videodienst", {"provider": "jitsi"}, htmx=False,
                   page_url="/beratung/termine")
    assert answer.status_code == 422
    assert "bereits mit BigBlueButton vorbereitet" in answer.get_data(as_text=True)
    for bad in ("", "zoom", "x" * 5000):
        answer = _post(staff, f"{page_url}/videodienst", {"provider": bad}, htmx=False,
                       page_url="/beratung/termine")
        assert answer.status_code in (302, 422), bad
    assert _appointment(appointment.id).provider_meeting.provider == \
        "bigbluebutton"


# ---- the personal room -----------------------------------------------------------------

def test_the_personal_room_address_is_checked_kept_and_removable(app, staff, advisor):
    assert 'href="/konto/besprechungsraum"' in staff.get("/beratung/termine").get_data(
        as_text=True)
    url = "/konto/besprechungsraum"
    for bad, message in (("http://teams.example/room", "beginnend mit https://"),
                         ("https://user:pw@zoom.example/j/1", "sieht nicht wie die Adresse"),
                         ("https://zoom.example/" + "x" * 600, "sieht nicht wie die Adresse")):
        answer = _post(staff, url, {"url": bad}, htmx=False, page_url=url)
        html = answer.get_data(as_text=True)
        assert answer.status_code == 422 and message in html, bad
        assert "Fehler:" in html and 'aria-invalid="true"' in html
    good = "https://teams.example/l/meetup-join/anna"
    assert _post(staff, url, {"url": f"  {good} "}, htmx=False, page_url=url).status_code == 302
    assert _fresh(Advisor, advisor.id).personal_room_url == good
    assert good in staff.get(url).get_data(as_text=True)
    assert _post(staff, url, {"url": ""}, htmx=False, page_url=url).status_code == 302
    db.session.expire_all()
    assert _fresh(Advisor, advisor.id).personal_room_url is None
    assert app.test_client().get(url).status_code == 302  # signed in only
    app.config["PROVIDERS"] = ["bigbluebutton"]  # no `link` here: no such page, no header link
    assert staff.get(url).status_code == 404
    assert 'href="/konto/besprechungsraum"' not in staff.get("/beratung/termine").get_data(
        as_text=True)


def test_hand_off_pages_are_limited_per_participant(app, staff, advisor, fake_bbb):
    appointment, paths, citizen = _waiting(app, advisor)
    _admit(staff, appointment, appointment.citizen)
    codes = [citizen.get("/termin/anruf").status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429
    assert len([c for c, _, _ in fake_bbb.calls if c == "create"]) == 21  # admission + 20


# ---- what the pages say about the providers ----------------------------------------------

def test_privacy_and_consent_pages_name_each_provider_and_what_it_receives(app, advisor):
    privacy = app.test_client().get("/datenschutz").get_data(as_text=True)
    for name in ALL:
        assert f'data-provider="{name}"' in privacy
    assert "BigBlueButton</strong>" in privacy and "Jitsi Meet</strong>" in privacy
    assert "Ihren Anzeigenamen" in privacy
    assert "Ton und Bild gehen direkt zwischen den Browsern" in privacy
    appointment, paths = book(advisor)
    citizen = app.test_client()
    citizen.get(paths["citizen"])
    consent = citizen.get("/termin/einwilligung").get_data(as_text=True)
    assert 'data-provider="bigbluebutton"' in consent and "Ihren Anzeigenamen" in consent
    assert "einen dieser Wege" in consent
