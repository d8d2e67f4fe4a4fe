"""The hand-off in real Chromium, for each provider against a fake of its service: waiting
room → admission → the citizen's browser lands on the provider's join page with the right
name and role, the advisor's too (as host); ending the appointment ends it there. Before the
hand-off no page of the citizen's sends a single request to another origin. A provider that
is down, slow or failing: nobody is sent on, the advisor reads why (announced, focus kept),
and "Try again" lets the citizen in once the provider is back."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus

from ..journey_helpers import book
from ..test_handoff import FakeRoom
from .conftest import serve_portal
from .steps import advisor_login, assert_accessible, citizen_to_waiting_room, wait_for_state

pytest_plugins = ["tests.fakes.fixtures"]  # provider_ca, fake_bbb, fake_jitsi, fake_webex


@pytest.fixture
def fake_room(provider_ca):
    fake = FakeRoom(provider_ca).start()
    yield fake
    fake.stop()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _serve(tmp_path, migrated_sqlite, fake, provider: str, **settings):
    return serve_portal(tmp_path, migrated_sqlite, **fake.portal_config(), PROVIDER=provider,
                        PROVIDERS=[provider], PROVIDER_TIMEOUT_SECONDS=1, **settings)


def _book(server):
    advisor = server.advisor()
    with server.app.app_context():
        appointment, paths = book(advisor)
        return appointment.id, appointment.citizen.id, server.url + paths["citizen"]


def _status(server, appointment_id: int) -> AppointmentStatus:
    with server.app.app_context():
        return db.session.get(Appointment, appointment_id).status


def _to_waiting_room(server, chromium, contexts, *, javascript=True):
    """The citizen waits (every request of theirs recorded) and the advisor sees it."""
    appointment_id, citizen_id, link = _book(server)
    citizen_context = contexts(chromium.new_context(ignore_https_errors=True,
                                                    java_script_enabled=javascript))
    requests = []
    citizen_context.on("request", lambda r: requests.append(
        (r.url, r.resource_type, r.frame == r.frame.page.main_frame)))
    citizen = citizen_context.new_page()
    advisor = contexts(chromium.new_context(ignore_https_errors=True)).new_page()
    if javascript:
        citizen_to_waiting_room(citizen, link)
    else:
        citizen.goto(link)
        citizen.locator("main a.button").click()
        citizen.locator("button[value=agree]").click()
        citizen.wait_for_url("**/termin/technik")
        citizen.locator("[data-check-form] button").click()  # no test without JavaScript
        citizen.locator(".warning-summary button").click()
        citizen.wait_for_url("**/termin/wartebereich")
    advisor_login(advisor, server.url)
    advisor.goto(f"{server.url}/beratung/warteschlange")
    wait_for_state(advisor, citizen_id, "waiting")
    return appointment_id, citizen_id, link, citizen, advisor, requests


def _assert_nothing_left_the_portal_before(requests, portal: str, provider: str) -> None:
    """Every request before the hand-off went to the portal's own origin; the first one
    that did not is the top-level navigation to the provider."""
    first = next(i for i, (url, _, _) in enumerate(requests) if _origin(url) != portal)
    assert first > 20, requests[:first]  # the pages before it did load through the portal
    url, kind, main_frame = requests[first]
    assert _origin(url) == provider and kind == "document" and main_frame, requests[first]


def _fact(page, fact: str) -> str:
    return page.locator(f"dd#{fact}").inner_text()


def _advisor_joins(advisor, appointment_id: int, provider_origin: str):
    """The queue's join link opens a new tab, which hands the advisor over as host."""
    with advisor.context.expect_page() as opened:
        advisor.locator(f"#open-call-{appointment_id}").click()
    host = opened.value
    host.wait_for_url(f"{provider_origin}/**")
    return host


def _end(advisor, server, appointment_id: int):
    advisor.locator(f"#end-{appointment_id}").click()
    advisor.locator(f'[data-appointment="{appointment_id}"][data-status="ended"]').wait_for()


# ---- each provider, the whole way ----------------------------------------------------------

def test_jitsi_journey(tmp_path, migrated_sqlite, chromium, contexts, fake_jitsi):
    with _serve(tmp_path, migrated_sqlite, fake_jitsi, "jitsi") as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts)
        assert "Jitsi Meet" in advisor.locator(f"#appointment-{appointment_id}").inner_text()
        advisor.locator(f"#admit-{citizen_id}").click()
        citizen.wait_for_url(f"{fake_jitsi.url}/**")
        assert (_fact(citizen, "name"), _fact(citizen, "role")) == (
            "Erika Mustermann", "participant")
        assert _fact(citizen, "lobby_bypass") == "True"
        _assert_nothing_left_the_portal_before(requests, server.url, fake_jitsi.url)
        wait_for_state(advisor, citizen_id, "in_call")

        host = _advisor_joins(advisor, appointment_id, fake_jitsi.url)
        assert (_fact(host, "name"), _fact(host, "role")) == ("Anna Berater", "moderator")

        # Back from Jitsi: the hand-off page stays (no trap that forwards again) and its
        # link opens the meeting anew.
        citizen.go_back()
        citizen.wait_for_url(f"{server.url}/termin/anruf")
        time.sleep(1.5)
        assert citizen.url == f"{server.url}/termin/anruf"
        assert_accessible(citizen, "hand-off page")
        citizen.set_viewport_size({"width": 320, "height": 640})
        assert citizen.evaluate("() => document.documentElement.scrollWidth - "
                                "document.documentElement.clientWidth") <= 0
        citizen.locator("[data-handoff]").click()
        citizen.wait_for_url(f"{fake_jitsi.url}/**")
        assert _fact(citizen, "role") == "participant"

        _end(advisor, server, appointment_id)
        assert _status(server, appointment_id) is AppointmentStatus.ENDED
        citizen.goto(link)
        citizen.wait_for_url("**/termin/ende")
        assert len(fake_jitsi.joins) == 3  # citizen, advisor, citizen again


def test_bigbluebutton_journey(tmp_path, migrated_sqlite, chromium, contexts, fake_bbb):
    with _serve(tmp_path, migrated_sqlite, fake_bbb, "bigbluebutton") as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts)
        advisor.locator(f"#admit-{citizen_id}").click()
        citizen.wait_for_url(f"{fake_bbb.base_url}/html5client/**")
        assert (_fact(citizen, "name"), _fact(citizen, "role")) == (
            "Erika Mustermann", "VIEWER")
        _assert_nothing_left_the_portal_before(requests, server.url, fake_bbb.base_url)

        host = _advisor_joins(advisor, appointment_id, fake_bbb.base_url)
        assert (_fact(host, "name"), _fact(host, "role")) == ("Anna Berater", "MODERATOR")
        (meeting,) = fake_bbb.meetings.values()

        # Dropped: the personal link again, in a new browser, leads straight back in.
        citizen.context.close()
        again = contexts(chromium.new_context(ignore_https_errors=True)).new_page()
        again.goto(link)
        again.wait_for_url(f"{fake_bbb.base_url}/html5client/**")
        assert _fact(again, "role") == "VIEWER"

        # Leaving BigBlueButton leads to the portal's neutral page, with the way back in.
        again.goto(meeting.params["logoutURL"])
        expect(again.locator("h1")).to_have_text("Sie haben die Videobesprechung verlassen")
        assert_accessible(again, "meeting left")
        wait_for_state(advisor, citizen_id, "left_call")
        again.locator("main a.button").click()
        again.wait_for_url(f"{fake_bbb.base_url}/html5client/**")

        _end(advisor, server, appointment_id)
        assert meeting.ended
        assert [c for c, _, _ in fake_bbb.calls].count("end") == 1
        # What BigBlueButton does next: everyone leaves through its logoutURL.
        again.goto(meeting.params["logoutURL"])
        again.wait_for_url("**/termin/ende")


def test_bigbluebutton_end_callback_ends_the_appointment(
        tmp_path, migrated_sqlite, chromium, contexts, fake_bbb):
    with _serve(tmp_path, migrated_sqlite, fake_bbb, "bigbluebutton") as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts)
        advisor.locator(f"#admit-{citizen_id}").click()
        citizen.wait_for_url(f"{fake_bbb.base_url}/html5client/**")
        (meeting_id,) = fake_bbb.meetings
        # The moderator ends the meeting in BigBlueButton: it calls the portal back.
        assert fake_bbb.fire_end_callback(meeting_id).status_code == 204
        advisor.locator(f'[data-appointment="{appointment_id}"][data-status="ended"]') \
            .wait_for()
        assert _status(server, appointment_id) is AppointmentStatus.ENDED
        citizen.goto(link)
        citizen.wait_for_url("**/termin/ende")


def test_webex_journey(tmp_path, migrated_sqlite, chromium, contexts, fake_webex):
    with _serve(tmp_path, migrated_sqlite, fake_webex, "webex") as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts)
        advisor.locator(f"#admit-{citizen_id}").click()
        citizen.wait_for_url(f"{fake_webex.base_url}/gen/v1/talk?**")
        assert _fact(citizen, "role") == "guest"
        _assert_nothing_left_the_portal_before(requests, server.url, fake_webex.base_url)
        host = _advisor_joins(advisor, appointment_id, fake_webex.base_url)
        assert host.url.startswith(f"{fake_webex.base_url}/gen/v1/login?")
        assert _fact(host, "role") == "host"
        assert _fact(host, "meeting") == _fact(citizen, "meeting")
        _end(advisor, server, appointment_id)
        assert _status(server, appointment_id) is AppointmentStatus.ENDED
        citizen.goto(link)
        citizen.wait_for_url("**/termin/ende")


def test_personal_room_journey(tmp_path, migrated_sqlite, chromium, contexts, fake_room):
    room = f"{fake_room.base_url}/anna-personal-room"
    with serve_portal(tmp_path, migrated_sqlite, PROVIDER="builtin",
                      PROVIDERS=["builtin", "link"]) as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts)
        # The advisor enters the room's address in the account, then chooses it.
        advisor.get_by_role("link", name="Besprechungsraum", exact=True).click()
        advisor.fill("#url", "http://not-https.example/room")
        advisor.get_by_role("button", name="Speichern").click()
        expect(advisor.locator(".error-summary")).to_be_focused()
        assert advisor.input_value("#url") == "http://not-https.example/room"
        assert_accessible(advisor, "personal room with an error")
        advisor.fill("#url", room)
        advisor.get_by_role("button", name="Speichern").click()
        expect(advisor.locator(".notice-success")).to_contain_text("gespeichert")
        advisor.goto(f"{server.url}/beratung/termine/{appointment_id}")
        advisor.select_option("#provider", "link")
        advisor.get_by_role("button", name="Videodienst speichern").click()
        expect(advisor.locator(".notice-success")).to_contain_text(
            "Persönlicher Besprechungsraum")

        advisor.goto(f"{server.url}/beratung/warteschlange")
        advisor.locator(f"#admit-{citizen_id}").click()
        citizen.wait_for_url(room)
        assert _fact(citizen, "room") == "anna-personal-room"
        _assert_nothing_left_the_portal_before(requests, server.url, fake_room.base_url)
        host = _advisor_joins(advisor, appointment_id, fake_room.base_url)
        assert host.url == room
        _end(advisor, server, appointment_id)
        assert _status(server, appointment_id) is AppointmentStatus.ENDED


def test_hand_off_without_javascript(tmp_path, migrated_sqlite, chromium, contexts,
                                     fake_jitsi):
    with _serve(tmp_path, migrated_sqlite, fake_jitsi, "jitsi") as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts, javascript=False)
        advisor.locator(f"#admit-{citizen_id}").click()
        # The <noscript> refresh leads to the hand-off page; its one link opens the meeting.
        citizen.wait_for_url(f"{server.url}/termin/anruf", timeout=15_000)
        expect(citizen.locator("h1")).to_have_text("Zur Videobesprechung")
        assert "Kamera und Mikrofon erlauben" in citizen.locator("main").inner_text()
        citizen.get_by_role("link", name="Videobesprechung bei Jitsi Meet öffnen").click()
        citizen.wait_for_url(f"{fake_jitsi.url}/**")
        assert _fact(citizen, "name") == "Erika Mustermann"


# ---- the provider fails ------------------------------------------------------------------

@pytest.mark.parametrize("mode, reason", [
    ("down", "BigBlueButton konnte nicht erreicht werden."),
    ("slow", "BigBlueButton hat nicht rechtzeitig geantwortet."),
    ("error", "Bei BigBlueButton ist ein interner Fehler aufgetreten."),
])
def test_a_failing_provider_keeps_the_citizen_waiting_until_try_again_works(
        tmp_path, migrated_sqlite, chromium, contexts, fake_bbb, mode, reason):
    with _serve(tmp_path, migrated_sqlite, fake_bbb, "bigbluebutton") as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts)
        fake_bbb.set_mode(mode, delay=4)
        advisor.locator(f"#admit-{citizen_id}").click()
        announcer = advisor.locator("#queue-announcer")
        expect(announcer).to_contain_text(f"Niemand wurde eingelassen: {reason}", timeout=20_000)
        notice = advisor.locator(f"#meeting-failure-{appointment_id}")
        expect(notice).to_contain_text(reason)
        expect(advisor.locator(f"#admit-{citizen_id}")).to_be_focused()
        assert_accessible(advisor, "queue with a failure")

        # The citizen is still waiting and was sent nowhere (several polls later).
        time.sleep(2.5)
        assert citizen.url == f"{server.url}/termin/wartebereich"
        assert "Wartebereich" in citizen.locator("h1").inner_text()
        assert all(_origin(url) == server.url for url, _, _ in requests)
        wait_for_state(advisor, citizen_id, "waiting")

        fake_bbb.set_mode("up")
        advisor.locator(f"#retry-{appointment_id}").click()
        expect(announcer).to_have_text("1 Person wurde eingelassen.")
        expect(notice).to_have_count(0)
        # The pressed button is gone: focus goes to the appointment, not to the page.
        expect(advisor.locator(f"#appointment-{appointment_id}-title")).to_be_focused()
        citizen.wait_for_url(f"{fake_bbb.base_url}/html5client/**")
        assert _fact(citizen, "role") == "VIEWER"


def test_a_failure_at_the_hand_off_is_announced_on_the_queue(
        tmp_path, migrated_sqlite, chromium, contexts, fake_bbb):
    """BigBlueButton fails between admission and the citizen's join: the citizen's page
    says so and tries again by itself; the advisor hears it without having done anything."""
    with _serve(tmp_path, migrated_sqlite, fake_bbb, "bigbluebutton") as server:
        appointment_id, citizen_id, link, citizen, advisor, requests = _to_waiting_room(
            server, chromium, contexts)
        # Admission needs BigBlueButton too: it answers then, and fails before the
        # hand-off page asks again (BigBlueButton is asked before every join).
        advisor.locator(f"#admit-{citizen_id}").click()
        citizen.wait_for_url(f"{fake_bbb.base_url}/html5client/**")
        fake_bbb.set_mode("error")
        citizen.goto(f"{server.url}/termin/anruf")
        expect(citizen.locator("h1")).to_have_text(
            "Die Videobesprechung lässt sich noch nicht öffnen")
        assert_accessible(citizen, "hand-off failed")
        expect(advisor.locator("#queue-announcer")).to_contain_text(
            "Bei BigBlueButton ist ein interner Fehler aufgetreten.")
        fake_bbb.set_mode("up")
        # The page asks again by itself (every 15 s) and gets the citizen in.
        citizen.wait_for_url(f"{fake_bbb.base_url}/html5client/**", timeout=25_000)
        expect(advisor.locator(f"#meeting-failure-{appointment_id}")).to_have_count(0)


def test_the_advisor_chooses_among_the_configured_providers(
        tmp_path, migrated_sqlite, chromium, contexts, fake_jitsi, fake_bbb):
    with serve_portal(tmp_path, migrated_sqlite, **{**fake_jitsi.portal_config(),
                                                    **fake_bbb.portal_config()},
                      PROVIDER="bigbluebutton", PROVIDERS=["bigbluebutton", "jitsi"]) as server:
        appointment_id, citizen_id, link = _book(server)
        advisor = contexts(chromium.new_context()).new_page()
        advisor_login(advisor, server.url)
        advisor.goto(f"{server.url}/beratung/termine/{appointment_id}")
        assert advisor.input_value("#provider") == "bigbluebutton"  # the default preselected
        assert_accessible(advisor, "appointment page with the provider choice")
        advisor.select_option("#provider", "jitsi")
        advisor.get_by_role("button", name="Videodienst speichern").click()
        expect(advisor.locator(".notice-success")).to_contain_text("Jitsi Meet")
        advisor.goto(f"{server.url}/beratung/warteschlange")
        expect(advisor.locator(f'#appointment-{appointment_id} [data-provider="jitsi"]')) \
            .to_have_count(1)
        with server.app.app_context():
            assert db.session.get(Appointment, appointment_id).provider == "jitsi"
