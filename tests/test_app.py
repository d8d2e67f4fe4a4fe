"""The app's shape: configuration, security headers, error pages."""

from __future__ import annotations

import pytest

from portal import create_app


def test_refuses_to_start_without_secret_key_outside_debug(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="PORTAL_SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})


def test_settings_come_from_portal_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s3cret")
    monkeypatch.setenv("PORTAL_AGENCY_NAME", "Agentur für Arbeit Beispielstadt")
    monkeypatch.setenv("PORTAL_MAIL_PORT", "2525")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://video.example.org/")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["AGENCY_NAME"] == "Agentur für Arbeit Beispielstadt"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["BASE_URL"] == "https://video.example.org"
    # Production defaults: secure session cookie.
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_every_page_has_strict_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_load_nothing_from_other_hosts(client):
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html.replace("http://portal.test", "")
    assert "https://" not in html
    assert "/static/js/vendor/htmx.min.js" in html
    assert "<style" not in html and " style=" not in html
    assert "<script>" not in html  # only external same-origin scripts


def test_german_is_the_default_and_english_can_be_chosen(client):
    assert 'lang="de"' in client.get("/").get_data(as_text=True)
    english = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="en"' in english and "Video appointment" in english
    # The choice is remembered.
    assert 'lang="en"' in client.get("/datenschutz").get_data(as_text=True)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/does-not-exist")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


def test_wrong_method_is_405_not_500(client):
    assert client.delete("/anmelden").status_code == 405
    assert client.get("/abmelden").status_code == 405
