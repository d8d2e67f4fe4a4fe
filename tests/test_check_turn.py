"""The device check's media-path step on the server: short-lived TURN credentials for a
participant who has consented (and nobody else), rate limited and never cached; the page
offers the relay test only where it may run, and says so when no relay is configured; the
outcome is stored with the check's warnings and a relay nothing gets through is a problem
the participant confirms. (The step itself runs in Chromium: tests/browser/test_turn.py.)"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import DeviceCheck, Participant
from portal.scheduling import cancel_appointment

from .journey_helpers import book, consent, device_check
from .test_turn import SECRET, expiry_of, valid_for_coturn

TURN = {"TURN_URLS": ["turn:turn.example.org:3478?transport=udp",
                      "turn:turn.example.org:3478?transport=tcp"],
        "TURN_SECRET": SECRET}
RELAY = "/termin/technik/relais"
META_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture
def config(config, request):
    """TURN configured, unless a test gives other settings."""
    config.update(getattr(request, "param", TURN))
    return config


def _csrf(client, page="/termin/technik") -> dict:
    html = client.get(page).get_data(as_text=True)
    return {"X-CSRFToken": META_CSRF.search(html).group(1)}


def _ask(client, headers=None):
    return client.post(RELAY, json={}, headers=headers if headers is not None else _csrf(client))


@pytest.fixture
def booked(advisor):
    appointment, paths = book(advisor, interpreter=True)
    return appointment, paths


@pytest.fixture
def consented(client, booked):
    """The citizen's browser, on the device check after consent."""
    client.get(booked[1]["citizen"])
    consent(client)
    return client


# ---- who receives credentials -----------------------------------------------------------

def test_a_consented_participant_gets_relay_credentials_for_minutes_only(consented):
    before = time.time()
    answer = _ask(consented)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    (entry,) = answer.get_json()["ice_servers"]
    assert entry["urls"] == TURN["TURN_URLS"]
    assert valid_for_coturn(entry)
    # The call's credentials last PORTAL_TURN_TTL_SECONDS (4 h by default); these 10 minutes.
    assert before + 590 <= expiry_of(entry["username"]) <= time.time() + 600
    assert answer.get_json()["ttl_seconds"] == 600
    again = _ask(consented).get_json()["ice_servers"][0]
    assert again["username"] != entry["username"]  # a fresh random id each time
    for personal in ("Erika", "Mustermann", "erika@example.org", "123D456789"):
        assert personal not in entry["username"]


@pytest.mark.parametrize("config", [{**TURN, "TURN_TTL_SECONDS": 420}], indirect=True)
def test_a_shorter_configured_lifetime_is_kept(consented):
    (entry,) = _ask(consented).get_json()["ice_servers"]
    assert expiry_of(entry["username"]) <= time.time() + 420


def test_no_credentials_without_a_link_or_before_consent(app, client, booked):
    anonymous = app.test_client()
    headers = _csrf(anonymous, "/technik-check")
    refused = anonymous.post(RELAY, json={}, headers=headers)
    assert refused.status_code == 404 and b"credential" not in refused.data

    client.get(booked[1]["citizen"])  # the link is opened, nothing agreed yet
    refused = _ask(client, _csrf(client, "/termin"))
    assert refused.status_code == 404 and b"credential" not in refused.data

    consent(client, agree=False)
    refused = _ask(client, _csrf(client, "/termin"))
    assert refused.status_code == 404 and b"credential" not in refused.data


def test_no_credentials_once_the_appointment_is_cancelled(consented, booked):
    headers = _csrf(consented)
    cancel_appointment(db.session.merge(booked[0]))
    refused = _ask(consented, headers)
    assert refused.status_code == 404 and b"credential" not in refused.data


def test_the_request_needs_the_pages_csrf_token(consented):
    refused = consented.post(RELAY, json={})
    assert refused.status_code == 400 and b"credential" not in refused.data
    assert consented.get(RELAY).status_code == 405  # no GET: never a cacheable link


@pytest.mark.parametrize("config", [{"ICE_SERVERS": [{"urls": "stun:stun.example.org"}]}],
                         indirect=True)
def test_without_turn_there_is_nothing_to_hand_out(consented):
    refused = _ask(consented)
    assert refused.status_code == 404 and b"credential" not in refused.data


@pytest.mark.parametrize("config", [{**TURN, "CALL_JOIN_RATE_LIMIT": "3 per minute"}],
                         indirect=True)
def test_credentials_are_rate_limited_per_participant(app, consented, booked):
    headers = _csrf(consented)
    assert [_ask(consented, headers).status_code for _ in range(4)] == [200, 200, 200, 429]
    # The interpreter of the same appointment has a bucket of their own.
    interpreter = app.test_client()
    interpreter.get(booked[1]["interpreter"])
    consent(interpreter)
    assert _ask(interpreter).status_code == 200


# ---- the page ----------------------------------------------------------------------------

def _root(html: str) -> str:
    return re.search(r"<section class=\"device-check\"[^>]*>", html).group(0)


def test_the_participants_page_tests_the_relay_and_the_public_check_does_not(app, consented):
    root = _root(consented.get("/termin/technik").get_data(as_text=True))
    assert 'data-media-path="relay"' in root and f'data-relay-url="{RELAY}"' in root
    public = _root(app.test_client().get("/technik-check").get_data(as_text=True))
    assert 'data-media-path="relay"' not in public and "data-relay-url" not in public


@pytest.mark.parametrize("config", [{}], indirect=True)
def test_without_a_relay_the_page_says_the_path_cannot_be_tested(consented):
    html = consented.get("/termin/technik").get_data(as_text=True)
    root = _root(html)
    assert 'data-media-path="none"' in root and 'data-relay-configured="no"' in root
    assert "data-relay-url" not in root
    assert 'data-step="ice"' in html  # the step is listed, and its texts say why
    assert "ohne Relay-Server" in html and "keinen Relay-Server" in html


# ---- the result ----------------------------------------------------------------------------

def _stored(citizen_id: int) -> DeviceCheck:
    db.session.expire_all()
    return db.session.scalar(select(DeviceCheck).where(DeviceCheck.participant_id == citizen_id)
                             .order_by(DeviceCheck.id.desc()))


def test_a_relay_over_tcp_only_is_stored_without_bothering_the_participant(consented, booked):
    answer = device_check(consented, warnings="relay_tcp_only")
    assert answer.status_code == 302 and answer.location.endswith("/termin/wartebereich")
    check = _stored(booked[0].citizen.id)
    assert check.warnings == "relay_tcp_only" and not check.continued_with_warning


def test_an_unreachable_relay_is_a_problem_the_participant_confirms(consented, booked):
    answer = device_check(consented, warnings="relay_unreachable")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Relay-Server" in html and "Trotzdem weiter" in html
    assert 'name="warnings" value="relay_unreachable"' in html  # kept for the confirmation
    assert _stored(booked[0].citizen.id) is None
    confirmed = device_check(consented, warnings="relay_unreachable", confirm=True)
    assert confirmed.status_code == 302
    check = _stored(booked[0].citizen.id)
    assert check.warnings == "relay_unreachable" and check.continued_with_warning


@pytest.mark.parametrize("config", [{}], indirect=True)
def test_without_a_relay_no_relay_outcome_is_accepted(consented, booked):
    answer = device_check(consented, warnings="relay_unreachable,camera_frozen")
    assert answer.status_code == 302
    assert _stored(booked[0].citizen.id).warnings == "camera_frozen"


def test_the_advisor_sees_the_relay_outcome(app, consented, booked, staff):
    device_check(consented, warnings="relay_unreachable", confirm=True)
    queue = staff.get("/beratung/warteschlange").get_data(as_text=True)
    assert 'data-warning="relay_unreachable"' in queue
    assert "Video-Relay nicht erreichbar" in queue
    citizen = db.session.get(Participant, booked[0].citizen.id)
    assert citizen.device_check.warnings == "relay_unreachable"
