"""TURN for the built-in call: credentials in the TURN REST API format (coturn's
use-auth-secret), handed out only at the call's join, and refused configurations."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from portal import create_app
from portal.call.turn import credentials

from .conftest import base_config
from .helpers import csrf_token, login
from .journey_helpers import book, to_waiting_room
from .test_call_limits import (
    Caller,
    call,  # noqa: F401 (a fixture, used below)
)

SECRET = "north-wind-shared-secret"
TURN = {"TURN_URLS": ["turn:turn.example.org:3478", "turns:turn.example.org:5349?transport=tcp"],
        "TURN_SECRET": SECRET, "ICE_SERVERS": [{"urls": "stun:stun.example.org:3478"}]}


def expiry_of(username: str) -> int:
    """The unix time after which the TURN server refuses these credentials."""
    return int(username.split(":", 1)[0])


def valid_for_coturn(entry: dict, secret: str = SECRET) -> bool:
    """What coturn computes from its static-auth-secret for this username."""
    digest = hmac.new(secret.encode(), entry["username"].encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode() == entry["credential"]


def turn_entries(response) -> list[dict]:
    return [s for s in response.get_json()["ice_servers"] if "username" in s]


# ---- the credentials themselves --------------------------------------------------------

def test_credentials_match_a_hand_computed_hmac():
    # printf '1700003600:abc' | openssl dgst -sha1 -hmac north -binary | base64
    assert credentials("north", 3600, now=1_700_000_000, opaque_id="abc") == \
        ("1700003600:abc", "IMSPYGMI9e0aXDFcZousOwkA8N0=")


def test_credentials_expire_after_the_lifetime_and_carry_a_random_id():
    before = int(time.time())
    first, _ = credentials("s", 4 * 3600)
    second, _ = credentials("s", 4 * 3600)
    assert before + 4 * 3600 <= expiry_of(first) <= int(time.time()) + 4 * 3600
    expiry, opaque = first.split(":")
    assert len(opaque) == 16 and int(opaque, 16) >= 0  # random hex, nothing personal
    assert first != second


# ---- who receives them -----------------------------------------------------------------

@pytest.fixture
def config(config, request):
    """TURN configured, unless a test gives other settings."""
    config.update(getattr(request, "param", TURN))
    return config


@pytest.fixture
def admitted(request):
    """test_call_limits' `call`: an appointment with the citizen (`client`) admitted."""
    return request.getfixturevalue("call")


def test_admitted_citizen_and_advisor_get_their_own_fresh_credentials(admitted, client, staff):
    answers = [Caller(client, admitted.id, "participant").join(),
               Caller(staff, admitted.id, "advisor").join()]
    entries = []
    for answer in answers:
        assert answer.status_code == 200
        servers = answer.get_json()["ice_servers"]
        assert servers[0] == {"urls": "stun:stun.example.org:3478"}  # STUN still there
        (entry,) = turn_entries(answer)
        assert entry["urls"] == TURN["TURN_URLS"]
        assert valid_for_coturn(entry)
        assert 0 < expiry_of(entry["username"]) - time.time() <= 4 * 3600
        entries.append(entry)
    assert entries[0]["username"] != entries[1]["username"]
    # Nothing personal in what the TURN server sees.
    for entry in entries:
        for personal in ("Erika", "Mustermann", "erika@example.org", "123D456789", "Anna"):
            assert personal not in entry["username"]


def test_nobody_else_receives_credentials(app, client, staff, advisor, make_advisor):
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])  # waiting, not admitted
    refused = client.post(f"/anruf/{appointment.id}/beitreten?as=participant", json={},
                          headers={"X-CSRFToken": csrf_token(client, "/termin/wartebereich")})
    assert refused.status_code == 404 and b"credential" not in refused.data

    other = make_advisor(email="bernd.berater@jobcenter.example", name="Bernd Berater")
    stranger = app.test_client()
    login(stranger, other.email)
    token = csrf_token(stranger, "/beratung/termine")
    answer = stranger.post(f"/anruf/{appointment.id}/beitreten?as=advisor", json={},
                           headers={"X-CSRFToken": token})
    assert answer.status_code == 404 and b"credential" not in answer.data

    anonymous = app.test_client()
    answer = anonymous.post(f"/anruf/{appointment.id}/beitreten?as=participant", json={})
    assert answer.status_code in (400, 403, 404) and b"credential" not in answer.data


@pytest.mark.parametrize("config", [{"ICE_SERVERS": [{"urls": "stun:stun.example.org"}]}],
                         indirect=True)
def test_without_turn_only_the_configured_ice_servers(admitted, client, staff):
    for answer in (Caller(client, admitted.id, "participant").join(),
                   Caller(staff, admitted.id, "advisor").join()):
        assert answer.get_json()["ice_servers"] == [{"urls": "stun:stun.example.org"}]


# ---- configuration ---------------------------------------------------------------------

def _start(tmp_path, **settings):
    return create_app({**base_config(tmp_path, f"sqlite:///{tmp_path}/x.db"), **settings})


@pytest.mark.parametrize("settings, message", [
    ({"TURN_URLS": ["turn:turn.example.org:3478"]}, "PORTAL_TURN_SECRET is not"),
    ({"TURN_SECRET": "s"}, "PORTAL_TURN_URLS is not"),
    ({"TURN_URLS": ["https://turn.example.org"], "TURN_SECRET": "s"}, "not a turn: or turns:"),
    ({"TURN_URLS": ["stun:turn.example.org"], "TURN_SECRET": "s"}, "not a turn: or turns:"),
    ({"TURN_URLS": {"a": 1}, "TURN_SECRET": "s"}, "must be a list"),
    ({"TURN_URLS": ["turn:t.example.org"], "TURN_SECRET": "s", "TURN_TTL_SECONDS": 0},
     "PORTAL_TURN_TTL_SECONDS"),
])
def test_bad_turn_configuration_stops_start_up(tmp_path, settings, message):
    with pytest.raises(RuntimeError, match=message):
        _start(tmp_path, **settings)


def test_turn_urls_from_the_environment_as_json_or_comma_separated(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_TURN_SECRET", "s")
    monkeypatch.setenv("PORTAL_TURN_URLS", '["turn:a.example.org:3478"]')
    assert _start(tmp_path).config["TURN_URLS"] == ["turn:a.example.org:3478"]
    monkeypatch.setenv("PORTAL_TURN_URLS",
                       "turn:a.example.org:3478, turns:a.example.org:5349?transport=tcp")
    assert _start(tmp_path).config["TURN_URLS"] == [
        "turn:a.example.org:3478", "turns:a.example.org:5349?transport=tcp"]
    monkeypatch.setenv("PORTAL_TURN_SECRET", "12345")  # JSON makes this a number
    with pytest.raises(RuntimeError, match="PORTAL_TURN_SECRET was read as a number"):
        _start(tmp_path)
