"""Advisor sign-in in real Chromium: TOTP enrolment and the two-step sign-in, a copied cookie
after sign-out, the idle warning (keyboard only) and the idle sign-out, axe on the new pages."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Advisor, Role

from ..conftest import PASSWORD
from .steps import assert_accessible


def _code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset_steps * 30)


def _password(page, url: str, email: str) -> None:
    page.goto(f"{url}/anmelden")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main button[type=submit]").click()


def _sideways(page) -> int:
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def _make_admin(live_server) -> str:
    with live_server.app.app_context():
        admin = Advisor(name="Ada Admin", email="admin@jobcenter.example", role=Role.ADMIN)
        admin.set_password(PASSWORD)
        db.session.add(admin)
        db.session.commit()
    return "admin@jobcenter.example"


@pytest.mark.parametrize("live_server", [{"REQUIRE_2FA": True}], indirect=True)
def test_totp_enrolment_sign_in_and_a_copied_cookie(live_server, chromium, contexts):
    advisor = live_server.advisor()
    page = contexts(chromium.new_context()).new_page()

    _password(page, live_server.url, advisor.email)
    page.wait_for_url("**/konto/zweiter-faktor")
    assert page.locator("img.qr-code").evaluate("img => img.naturalWidth") > 100  # it renders
    assert_accessible(page, "enrolment")
    secret = page.locator(".secret-key code").inner_text().replace(" ", "")
    page.fill("#code", "000000")
    page.locator("main button[type=submit]").click()
    assert page.locator(".error-summary").is_visible()
    assert_accessible(page, "enrolment with an error")
    page.set_viewport_size({"width": 320, "height": 640})
    assert _sideways(page) <= 0, "the enrolment page scrolls sideways at 320 px"
    page.fill("#code", _code(secret))
    page.locator("main button[type=submit]").click()
    page.locator(".recovery-codes").wait_for()
    assert page.locator(".recovery-codes li").count() == 10
    assert_accessible(page, "recovery codes")
    assert _sideways(page) <= 0, "the recovery codes scroll sideways at 320 px"
    page.set_viewport_size({"width": 1280, "height": 720})
    page.get_by_role("link", name="Ich habe die Codes aufbewahrt, weiter").click()
    page.wait_for_url("**/beratung/termine")

    page.goto(live_server.url + "/konto/passwort")
    assert_accessible(page, "change password")
    page.locator("main button[type=submit]").click()
    assert page.locator(".error-summary").is_visible()
    assert_accessible(page, "change password with errors")

    # Sign out; then the second step in a fresh browser.
    page.goto(live_server.url + "/beratung/termine")
    cookies = page.context.cookies()
    page.get_by_role("button", name="Abmelden").click()
    page.wait_for_url("**/anmelden")

    thief = contexts(chromium.new_context()).new_page()
    thief.context.add_cookies(cookies)
    thief.goto(live_server.url + "/beratung/termine")
    assert "/anmelden" in thief.url  # the copied cookie opens nothing after sign-out

    _password(page, live_server.url, advisor.email)
    page.wait_for_url("**/anmelden/code")
    assert_accessible(page, "code step")
    page.fill("#code", _code(secret, 1))
    page.locator("main button[type=submit]").click()
    page.wait_for_url("**/beratung/termine")


def test_admin_page_is_accessible(live_server, chromium, contexts):
    live_server.advisor()
    email = _make_admin(live_server)
    page = contexts(chromium.new_context()).new_page()
    _password(page, live_server.url, email)
    page.wait_for_url("**/beratung/termine")
    page.get_by_role("link", name="Beratende").click()
    page.wait_for_url("**/verwaltung/beratende")
    assert page.locator("table").is_visible()
    assert_accessible(page, "advisors")


# 15 s idle, warned 9 s before: the warning shows 6 s after the last real request.
@pytest.mark.parametrize("live_server", [{"ADVISOR_IDLE_MINUTES": 0.25,
                                          "ADVISOR_IDLE_WARNING_MINUTES": 0.15}],
                         indirect=True)
def test_idle_warning_then_sign_out(live_server, chromium, contexts):
    advisor = live_server.advisor()
    page = contexts(chromium.new_context()).new_page()
    _password(page, live_server.url, advisor.email)
    page.wait_for_url("**/beratung/termine")
    page.get_by_role("link", name="Termine", exact=True).focus()

    dialog = page.get_by_role("alertdialog")
    dialog.wait_for(state="visible", timeout=15_000)
    assert page.evaluate("() => document.activeElement.id") == "idle-warning"
    assert "Sie werden in 1 Minute abgemeldet." in dialog.inner_text()
    assert_accessible(page, "idle warning")

    page.keyboard.press("Tab")  # keyboard only: to "Stay signed in"
    assert page.evaluate("() => document.activeElement.textContent.trim()") == \
        "Angemeldet bleiben"
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Termine"
    with live_server.app.app_context():  # still signed in: the server says so too
        assert db.session.scalar(select(Advisor.session_generation)
                                 .where(Advisor.id == advisor.id)) == 0

    # The warning comes again; this time nobody answers.
    dialog.wait_for(state="visible", timeout=15_000)
    page.wait_for_url("**/anmelden**", timeout=20_000)
    assert "ohne Aktivität abgemeldet" in page.locator("main").inner_text()
    page.goto(live_server.url + "/beratung/termine")
    assert "/anmelden" in page.url
