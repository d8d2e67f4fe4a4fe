"""HTTPS behaviour without a browser: the origin check that goes with CSRF tokens, the
__Host- session cookie, HSTS, and a fresh session when a personal link binds a browser.
(tests/production/ runs the same in Chromium through nginx.)"""

from __future__ import annotations

import pytest

from portal import create_app

from .conftest import PASSWORD, IsolatedClient
from .helpers import csrf_token
from .journey_helpers import book

HTTPS = "https://portal.test"
EXPIRED = "Die Seite ist abgelaufen"


class HttpsClient(IsolatedClient):
    """A browser on https://portal.test (as ProxyFix presents it behind nginx)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", HTTPS)
        return super().open(*args, **kwargs)


@pytest.fixture
def secure_app(config):
    """The portal as served over https behind a proxy: Secure cookies, HSTS."""
    app = create_app({**config, "SESSION_COOKIE_SECURE": True, "BASE_URL": HTTPS})
    app.test_client_class = HttpsClient
    with app.app_context():
        yield app
        from portal.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def browser(secure_app):
    return secure_app.test_client()


def sign_in(client, email, headers):
    token = csrf_token(client, "/anmelden")
    return client.post("/anmelden", headers=headers,
                       data={"csrf_token": token, "email": email, "password": PASSWORD})


def advisor_in(app):
    from portal.extensions import db
    from portal.models import Advisor, Role

    advisor = Advisor(name="Anna Berater", email="anna.berater@jobcenter.example",
                      role=Role.ADVISOR)
    advisor.set_password(PASSWORD)
    db.session.add(advisor)
    db.session.commit()
    return advisor


@pytest.mark.parametrize("headers", [
    {"Origin": HTTPS},
    {"Origin": "https://PORTAL.test:443"},  # the same origin, spelt out
    {"Referer": HTTPS + "/anmelden"},  # an older browser that sends no Origin
])
def test_same_origin_post_over_https_passes(secure_app, browser, headers):
    advisor = advisor_in(secure_app)
    response = sign_in(browser, advisor.email, headers)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert browser.get("/beratung/termine").status_code == 200


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # what Chromium sends under Referrer-Policy: no-referrer, or sandboxed
    {"Origin": "http://portal.test"},  # downgraded scheme
    {"Origin": "https://portal.test:8443"},  # another port is another origin
    {"Origin": "https://portal.test.evil.example"},
    {"Referer": "https://evil.example/anmelden"},
    {"Origin": "https://evil.example", "Referer": HTTPS + "/anmelden"},  # Origin decides
    {},  # over https a request must say where it comes from
])
def test_foreign_or_missing_origin_is_refused_with_the_translated_page(secure_app, browser,
                                                                      headers):
    advisor = advisor_in(secure_app)
    response = sign_in(browser, advisor.email, headers)
    assert response.status_code == 400
    assert EXPIRED in response.get_data(as_text=True)
    assert browser.get("/beratung/termine").status_code == 302  # not signed in


def test_foreign_origin_is_refused_even_with_a_valid_token_on_a_citizen_form(secure_app,
                                                                            browser):
    _, paths = book(advisor_in(secure_app))
    browser.get(paths["citizen"])
    token = csrf_token(browser, "/termin/einwilligung")
    refused = browser.post("/termin/einwilligung", headers={"Origin": "https://evil.example"},
                           data={"csrf_token": token, "decision": "agree"})
    assert refused.status_code == 400 and EXPIRED in refused.get_data(as_text=True)
    accepted = browser.post("/termin/einwilligung", headers={"Origin": HTTPS},
                            data={"csrf_token": token, "decision": "agree"})
    assert accepted.status_code == 302


def test_the_token_is_still_required_from_the_same_origin(secure_app, browser):
    advisor = advisor_in(secure_app)
    browser.get("/anmelden")
    response = browser.post("/anmelden", headers={"Origin": HTTPS},
                            data={"email": advisor.email, "password": PASSWORD})
    assert response.status_code == 400


def test_plain_http_without_origin_still_works(app, client, advisor):
    # The test client and old clients send neither header over http: the token decides.
    token = csrf_token(client, "/anmelden")
    response = client.post("/anmelden", data={"csrf_token": token, "email": advisor.email,
                                              "password": PASSWORD})
    assert response.status_code == 302


def test_plain_http_foreign_origin_is_refused(app, client, advisor):
    token = csrf_token(client, "/anmelden")
    response = client.post("/anmelden", headers={"Origin": "http://evil.example"},
                           data={"csrf_token": token, "email": advisor.email,
                                 "password": PASSWORD})
    assert response.status_code == 400


def test_exempt_measurement_endpoints_stay_exempt(browser):
    # The device check's uploads carry no token and no state change (and speedtest-cli
    # sends no Origin): neither check applies.
    for path in ("/netcheck/upload", "/speedtest/upload.php"):
        response = browser.post(path, data=b"x" * 1000, headers={
            "Content-Type": "application/octet-stream", "Origin": "null"})
        assert response.status_code == 200, path
        response = browser.post(path, data=b"x" * 10,
                                headers={"Content-Type": "application/octet-stream"})
        assert response.status_code == 200, path


def test_secure_session_cookie_is_host_prefixed(secure_app, browser):
    advisor = advisor_in(secure_app)
    response = sign_in(browser, advisor.email, {"Origin": HTTPS})
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = [c for c in cookies if c.startswith("__Host-session=")]
    assert session_cookie, cookies
    attributes = [a.strip().lower() for a in session_cookie[0].split(";")[1:]]
    assert "secure" in attributes and "httponly" in attributes
    assert "samesite=lax" in attributes and "path=/" in attributes
    assert not any(a.startswith("domain") for a in attributes)
    # No plain "session" cookie and no remember-me cookie at all.
    assert not [c for c in cookies if c.startswith(("session=", "remember", "__Host-remember"))]


def test_plain_http_keeps_the_plain_cookie_name(config):
    # `make run` serves plain http on 127.0.0.1: a __Host- cookie would never come back.
    app = create_app({**config, "SESSION_COOKIE_SECURE": False})
    client = app.test_client()
    client.get("/anmelden")
    assert client.get_cookie("session") is not None
    assert client.get_cookie("__Host-session") is None


def test_hsts_with_subdomains_by_default(browser):
    response = browser.get("/")
    assert response.headers["Strict-Transport-Security"] == \
        "max-age=31536000; includeSubDomains"


def test_hsts_is_configurable_from_the_environment(config, monkeypatch):
    monkeypatch.setenv("PORTAL_HSTS_MAX_AGE", "600")
    monkeypatch.setenv("PORTAL_HSTS_INCLUDE_SUBDOMAINS", "false")
    app = create_app({**config, "SESSION_COOKIE_SECURE": True})
    app.test_client_class = HttpsClient
    response = app.test_client().get("/")
    assert response.headers["Strict-Transport-Security"] == "max-age=600"


def test_no_hsts_over_plain_http(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_referrer_policy_is_same_origin_in_header_and_page(browser):
    response = browser.get("/anmelden")
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert '<meta name="referrer" content="same-origin">' in response.get_data(as_text=True)


def test_binding_a_link_renews_the_csrf_token_and_keeps_language(secure_app, browser):
    _, paths = book(advisor_in(secure_app))
    browser.get("/?lang=en")
    old_token = csrf_token(browser, "/anmelden")
    browser.get(paths["citizen"])
    # A token seen (or planted) before the link was opened is worth nothing afterwards.
    response = browser.post("/termin/einwilligung", headers={"Origin": HTTPS},
                            data={"csrf_token": old_token, "decision": "agree"})
    assert response.status_code == 400
    assert "The page had expired" in response.get_data(as_text=True)  # English kept
    new_token = csrf_token(browser, "/termin/einwilligung")
    assert new_token != old_token
    response = browser.post("/termin/einwilligung", headers={"Origin": HTTPS},
                            data={"csrf_token": new_token, "decision": "agree"})
    assert response.status_code == 302


def test_binding_a_link_keeps_an_advisor_signed_in_in_the_same_browser(secure_app, browser):
    advisor = advisor_in(secure_app)
    _, paths = book(advisor)
    assert sign_in(browser, advisor.email, {"Origin": HTTPS}).status_code == 302
    assert browser.get(paths["citizen"]).status_code == 302
    assert browser.get("/beratung/termine").status_code == 200
    assert browser.get("/termin").status_code == 200


def test_a_second_link_replaces_the_first_binding(secure_app, browser):
    advisor = advisor_in(secure_app)
    first, first_paths = book(advisor)
    _, second_paths = book(advisor)
    browser.get(first_paths["citizen"])
    browser.get(second_paths["citizen"])
    # Bound to the second participant only: consenting there leaves the first untouched.
    token = csrf_token(browser, "/termin/einwilligung")
    browser.post("/termin/einwilligung", headers={"Origin": HTTPS},
                 data={"csrf_token": token, "decision": "agree"})
    from portal.extensions import db

    db.session.expire_all()
    assert not any(p.has_consented for p in first.participants)
