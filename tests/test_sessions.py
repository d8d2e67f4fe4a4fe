"""Advisor sessions end on the server (sign-out, password change, deactivation), time out
when idle (automatic polls don't count), and sign-in is limited per account and per IP."""

from __future__ import annotations

import time

import pytest
import redis

from portal import create_app
from portal.auth.sessions import SEEN_KEY
from portal.extensions import db
from portal.models import Advisor, AuditEvent

from .conftest import PASSWORD, IsolatedClient
from .helpers import csrf_token, login

REDIS_URL = "redis://127.0.0.1:6379/2"
HTMX_POLL = {"HX-Request": "true"}


@pytest.fixture
def config(config, request):
    config.update(getattr(request, "param", {}))
    return config


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _browser_with(app, cookie_value: str):
    """Another browser holding a copy of a session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie_value)
    return other


def _actions():
    return [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]


# --- Ending sessions on the server ------------------------------------------------------

def test_a_cookie_copied_before_sign_out_is_signed_out_afterwards(app, staff):
    copied = _cookie(staff)
    thief = _browser_with(app, copied)
    assert thief.get("/beratung/termine").status_code == 200  # the copy works while signed in

    staff.post("/abmelden", data={"csrf_token": csrf_token(staff, "/beratung/termine")})

    response = thief.get("/beratung/termine")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/anmelden")
    assert staff.get("/beratung/termine").status_code == 302


def test_sign_out_ends_the_advisors_sessions_in_every_browser(app, advisor):
    office, laptop = app.test_client(), app.test_client()
    login(office, advisor.email)
    login(laptop, advisor.email)
    office.post("/abmelden", data={"csrf_token": csrf_token(office, "/beratung/termine")})
    assert laptop.get("/beratung/termine").status_code == 302


def test_deactivating_an_advisor_ends_their_sessions(app, staff, advisor, runner):
    result = runner.invoke(args=["advisor", "deactivate", advisor.email])
    assert result.exit_code == 0, result.output
    assert staff.get("/beratung/termine").status_code == 302
    assert login(app.test_client(), advisor.email).status_code == 200  # refused


def test_deactivation_alone_is_enough_to_end_a_session(app, staff, advisor):
    # Even when set directly in the database (no generation change), the account is out.
    db.session.get(Advisor, advisor.id).active = False
    db.session.commit()
    assert staff.get("/beratung/termine").status_code == 302


def test_sign_in_renews_the_session_and_the_csrf_token(app, advisor):
    client = app.test_client()
    before = csrf_token(client, "/anmelden")
    cookie_before = _cookie(client)
    response = client.post("/anmelden", data={"csrf_token": before, "email": advisor.email,
                                              "password": PASSWORD})
    assert response.status_code == 302
    after = csrf_token(client, "/beratung/termine/neu")
    assert after != before
    # The cookie from before sign-in (a planted session) is not signed in.
    client_with_old = _browser_with(app, cookie_before)
    assert client_with_old.get("/beratung/termine").status_code == 302


# --- Password change --------------------------------------------------------------------

def _change(client, **overrides):
    data = {"csrf_token": csrf_token(client, "/konto/passwort"), "current_password": PASSWORD,
            "new_password": "a much longer new secret", "new_password_again":
            "a much longer new secret"}
    data.update(overrides)
    return client.post("/konto/passwort", data=data)


def test_password_change_keeps_this_browser_and_ends_the_others(app, staff, advisor):
    elsewhere = app.test_client()
    login(elsewhere, advisor.email)
    response = _change(staff)
    assert response.status_code == 302
    page = staff.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Ihr Passwort wurde geändert" in page.get_data(as_text=True)
    assert elsewhere.get("/beratung/termine").status_code == 302
    # Old password out, new one in.
    assert login(app.test_client(), advisor.email).status_code == 200
    assert login(app.test_client(), advisor.email, "a much longer new secret").status_code == 302
    assert "advisor.password_changed" in _actions()


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"current_password": "not my password"}, "current_password",
     "Das aktuelle Passwort ist nicht richtig."),
    ({"new_password": "short", "new_password_again": "short"}, "new_password",
     "mindestens 12 Zeichen"),
    ({"new_password_again": "something else entirely"}, "new_password_again",
     "stimmen nicht überein"),
    ({"current_password": ""}, "current_password", "Geben Sie Ihr aktuelles Passwort ein."),
])
def test_password_change_errors_are_explained_and_change_nothing(app, staff, advisor,
                                                                  overrides, field, message):
    response = _change(staff, **overrides)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html
    assert f'href="#{field}"' in html  # the error summary links to the field
    assert "<title>Fehler:" in html
    assert "a much longer new secret" not in html and PASSWORD not in html  # never echoed
    assert staff.get("/beratung/termine").status_code == 200  # still signed in
    assert login(app.test_client(), advisor.email).status_code == 302  # password unchanged


def test_password_change_needs_a_sign_in_and_a_csrf_token(app, client, staff):
    assert client.get("/konto/passwort").status_code == 302
    assert staff.post("/konto/passwort", data={
        "current_password": PASSWORD, "new_password": "a much longer new secret",
        "new_password_again": "a much longer new secret"}).status_code == 400


# --- Idle timeout -----------------------------------------------------------------------

def _idle_for(client, minutes: float) -> None:
    with client.session_transaction() as s:
        s[SEEN_KEY] = int(time.time() - minutes * 60)


def test_idle_advisor_is_signed_out_and_told_why(app, staff):
    _idle_for(staff, 31)
    response = staff.get("/beratung/termine")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/anmelden?next=/beratung/termine")
    page = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "ohne Aktivität abgemeldet" in page
    _idle_for(staff, 0)  # the timestamp alone brings nobody back: the sign-in is gone
    assert staff.get("/beratung/termine").status_code == 302


def test_idle_htmx_request_gets_hx_redirect(app, staff):
    _idle_for(staff, 31)
    response = staff.get("/beratung/warteschlange", headers=HTMX_POLL)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/anmelden"


def test_polls_are_not_activity_but_real_requests_are(app, staff):
    _idle_for(staff, 29)
    with staff.session_transaction() as s:
        seen = s[SEEN_KEY]
    poll = staff.get("/beratung/warteschlange", headers=HTMX_POLL)
    assert poll.status_code in (200, 204)
    assert "Set-Cookie" not in poll.headers  # a poll never rewrites the session cookie
    with staff.session_transaction() as s:
        assert s[SEEN_KEY] == seen
    assert staff.get("/beratung/termine").status_code == 200  # a real request
    with staff.session_transaction() as s:
        assert s[SEEN_KEY] > seen + 28 * 60


def test_polls_alone_end_in_a_sign_out(app, staff):
    _idle_for(staff, 29)
    assert staff.get("/beratung/warteschlange", headers=HTMX_POLL).status_code in (200, 204)
    _idle_for(staff, 30.5)
    assert "HX-Redirect" in staff.get("/beratung/warteschlange", headers=HTMX_POLL).headers


def test_stay_signed_in_refreshes_activity(app, staff):
    _idle_for(staff, 29)
    token = csrf_token(staff, "/beratung/termine")
    _idle_for(staff, 29)
    response = staff.post("/sitzung/verlaengern", data={"csrf_token": token},
                          headers={"X-Requested-With": "fetch"})
    assert response.status_code == 204
    status = staff.get("/sitzung", headers=HTMX_POLL).get_json()
    assert status["seconds_left"] > 29 * 60
    assert staff.post("/sitzung/verlaengern").status_code == 400  # no CSRF token


def test_the_idle_check_leaves_sessions_without_a_sign_in_alone(app, client):
    # A visitor's session (a CSRF token, not signed in): the device check's hundreds of
    # requests neither load an advisor nor rewrite the cookie.
    csrf_token(client, "/anmelden")
    for _ in range(3):
        response = client.get("/netcheck/ping")
        assert response.status_code < 400
        assert "Set-Cookie" not in response.headers


def test_session_status_is_a_poll(app, staff):
    _idle_for(staff, 10)
    left = staff.get("/sitzung", headers=HTMX_POLL).get_json()["seconds_left"]
    assert 19 * 60 < left <= 20 * 60
    assert staff.get("/sitzung", headers=HTMX_POLL).get_json()["seconds_left"] <= left


def test_signed_in_pages_carry_the_idle_warning(app, staff):
    html = staff.get("/beratung/termine").get_data(as_text=True)
    assert 'role="alertdialog"' in html and "js/idle.js" in html
    assert 'data-idle-seconds="1800"' in html and 'data-warning-seconds="120"' in html
    assert "Sie werden in 2 Minuten abgemeldet." in html


# --- Sign-in limits ----------------------------------------------------------------------

def _attempt(client, email, password="wrong password!", ip="192.0.2.1"):
    token = csrf_token(client, "/anmelden")
    return client.post("/anmelden", data={"csrf_token": token, "email": email,
                                          "password": password},
                       environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def limited_config(config):
    config.update(LOGIN_ACCOUNT_RATE_LIMIT="3 per 15 minutes")
    return config


def _limited_app(config, **extra):
    app = create_app({**config, **extra})
    app.test_client_class = IsolatedClient
    return app


def _assert_limited(response, email):
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Zu viele Versuche. Versuchen Sie es in " in html
    assert f'value="{email}"' in html
    assert "<title>Fehler:" in html


def test_failed_sign_ins_are_limited_per_account_whatever_the_address(app, advisor,
                                                                       limited_config):
    limited = _limited_app(limited_config)
    client = limited.test_client()
    for n in range(3):
        assert _attempt(client, advisor.email, ip=f"192.0.2.{n + 1}").status_code == 200
    response = _attempt(client, advisor.email.upper(), PASSWORD, ip="198.51.100.7")
    _assert_limited(response, advisor.email.upper())
    assert "Versuchen Sie es in 15 Minuten erneut" in response.get_data(as_text=True)
    assert 'name="csrf_token"' in response.get_data(as_text=True)  # the form can be sent again
    assert client.get("/beratung/termine").status_code == 302  # even the right password waits
    # Another account is not affected.
    other_email = "bernd@jobcenter.example"
    with limited.app_context():
        other = Advisor(name="Bernd", email=other_email)
        other.set_password(PASSWORD)
        db.session.add(other)
        db.session.commit()
    assert _attempt(limited.test_client(), other_email, PASSWORD).status_code == 302


def test_successful_sign_ins_do_not_use_up_the_account_limit(app, advisor, limited_config):
    limited = _limited_app(limited_config)
    for _ in range(4):
        assert _attempt(limited.test_client(), advisor.email, PASSWORD).status_code == 302


def test_per_ip_limit_has_the_same_friendly_page(app, advisor, config):
    limited = _limited_app(config, LOGIN_RATE_LIMIT="2 per minute")
    client = limited.test_client()
    _attempt(client, "a@example.org")
    _attempt(client, "b@example.org")
    response = _attempt(client, "c@example.org")
    _assert_limited(response, "c@example.org")
    assert "Versuchen Sie es in 1 Minute erneut" in response.get_data(as_text=True)


@pytest.fixture
def shared_redis():
    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def test_limits_hold_across_instances_with_redis(app, advisor, limited_config, shared_redis):
    instance_a = _limited_app(limited_config, RATELIMIT_STORAGE_URI=REDIS_URL)
    instance_b = _limited_app(limited_config, RATELIMIT_STORAGE_URI=REDIS_URL)
    _attempt(instance_a.test_client(), advisor.email, ip="192.0.2.1")
    _attempt(instance_b.test_client(), advisor.email, ip="192.0.2.2")
    _attempt(instance_a.test_client(), advisor.email, ip="192.0.2.3")
    _assert_limited(_attempt(instance_b.test_client(), advisor.email, ip="192.0.2.4"),
                    advisor.email)
    assert shared_redis.dbsize() > 0  # the counters really live in Redis

    shared_redis.flushdb()
    per_ip = [_limited_app(limited_config, RATELIMIT_STORAGE_URI=REDIS_URL,
                           LOGIN_RATE_LIMIT="2 per minute") for _ in range(2)]
    _attempt(per_ip[0].test_client(), "a@example.org")
    _attempt(per_ip[1].test_client(), "b@example.org")
    _assert_limited(_attempt(per_ip[0].test_client(), "c@example.org"), "c@example.org")


@pytest.mark.parametrize("config", [{"LOGIN_ACCOUNT_RATE_LIMIT": "2 per 15 minutes"}],
                         indirect=True)
def test_guessing_the_current_password_is_limited(app, staff, advisor):
    for _ in range(2):
        assert _change(staff, current_password="a guess of mine").status_code == 200
    response = _change(staff)  # even the right one waits now
    assert response.status_code == 429
    assert "Versuchen Sie es in 15 Minuten erneut" in response.get_data(as_text=True)
    assert login(app.test_client(), advisor.email).status_code == 302  # unchanged
