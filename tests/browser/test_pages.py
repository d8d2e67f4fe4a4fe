"""Pages without JavaScript, declining consent, and axe-core on every other page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, utcnow

from ..journey_helpers import book
from .steps import advisor_login, assert_accessible, citizen_to_waiting_room, wait_for_state


def _book(server, **kwargs):
    advisor = server.advisor()
    with server.app.app_context():
        appointment, paths = book(advisor, **kwargs)
        return appointment.id, appointment.citizen.id, server.url + paths["citizen"]


def test_consent_and_waiting_room_work_without_javascript(live_server, chromium, contexts):
    appointment_id, citizen_id, link = _book(live_server)
    page = contexts(chromium.new_context(java_script_enabled=False)).new_page()
    page.goto(link)
    page.locator("main a.button").click()
    page.locator("button[value=agree]").click()
    page.wait_for_url("**/termin/technik")
    page.locator("[data-check-form] button").click()  # no test possible: a warning first
    page.locator(".warning-summary button").click()
    page.wait_for_url("**/termin/wartebereich")
    assert "virtuellen Wartebereich" in page.locator("main").inner_text()

    advisor = contexts(chromium.new_context()).new_page()
    advisor_login(advisor, live_server.url)
    advisor.goto(f"{live_server.url}/beratung/warteschlange")
    wait_for_state(advisor, citizen_id, "waiting")
    advisor.locator(f"#admit-{citizen_id}").click()
    # The <noscript> refresh reloads the page, which now leads into the call.
    page.wait_for_url("**/termin/anruf", timeout=15_000)
    assert "JavaScript" in page.locator("main").inner_text()


def test_declining_consent_in_the_browser(live_server, chromium, contexts):
    appointment_id, citizen_id, link = _book(live_server)
    page = contexts(chromium.new_context()).new_page()
    page.goto(link)
    page.locator("main a.button").click()
    page.locator("button[value=decline]").click()
    page.wait_for_url("**/termin/abgelehnt")
    assert "keine Nachteile" in page.locator("main").inner_text()
    assert_accessible(page, "declined")
    advisor = contexts(chromium.new_context()).new_page()
    advisor_login(advisor, live_server.url)
    advisor.goto(f"{live_server.url}/beratung/warteschlange")
    wait_for_state(advisor, citizen_id, "declined")


@pytest.mark.parametrize("device", [None, "Pixel 7"])
def test_other_pages_are_accessible(live_server, chromium, contexts, playwright, device):
    appointment_id, citizen_id, link = _book(live_server)
    args = dict(playwright.devices[device]) if device else {}
    page = contexts(chromium.new_context(**args)).new_page()
    for path in ("/", "/technische-voraussetzungen", "/datenschutz", "/technik-check",
                 "/t/" + "x" * 43, "/anmelden", "/nicht-da"):
        page.goto(live_server.url + path)
        assert_accessible(page, path)
    page.goto(live_server.url + "/anmelden")
    page.locator("main button[type=submit]").click()  # empty form: error summary
    assert page.locator(".error-summary").is_visible()
    assert_accessible(page, "login with errors")

    advisor_login(page, live_server.url)
    for path in ("/beratung/termine", "/beratung/termine/neu",
                 f"/beratung/termine/{appointment_id}",
                 f"/beratung/termine/{appointment_id}/verschieben",
                 f"/beratung/termine/{appointment_id}/absagen", "/beratung/warteschlange"):
        page.goto(live_server.url + path)
        assert_accessible(page, path)
    page.goto(live_server.url + "/beratung/termine/neu")
    page.fill("#citizen_name", "")
    page.locator("input[name=submit]").click()
    # The summary takes the focus once the page's script has run: wait for it, not a moment.
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "new appointment with errors")


def test_usable_at_320_pixels(live_server, chromium, contexts):
    appointment_id, citizen_id, link = _book(live_server)
    page = contexts(chromium.new_context(viewport={"width": 320, "height": 640})).new_page()
    citizen_to_waiting_room(page, link)
    for path in ("/termin/wartebereich", "/termin/einwilligung", "/termin/technik"):
        page.goto(live_server.url + path)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"


def test_keyboard_only_through_consent(live_server, chromium, contexts):
    appointment_id, citizen_id, link = _book(live_server)
    page = contexts(chromium.new_context()).new_page()
    page.goto(link)
    page.keyboard.press("Tab")  # the skip link comes first and is visible when focused
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.locator("main a.button").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/termin/einwilligung")
    page.locator("button[value=agree]").focus()
    outline = page.evaluate(
        "() => getComputedStyle(document.activeElement).backgroundColor")
    assert outline == "rgb(255, 221, 0)"  # the visible yellow focus style
    page.keyboard.press("Enter")
    page.wait_for_url("**/termin/technik")


@pytest.mark.parametrize("device", [None, "iPhone 13"])
def test_end_and_error_pages_are_accessible(live_server, chromium, contexts, playwright, device):
    args = dict(playwright.devices[device]) if device else {}
    appointment_id, citizen_id, link = _book(live_server)
    page = contexts(chromium.new_context(**args)).new_page()
    citizen_to_waiting_room(page, link)
    page.goto(live_server.url + "/termin/anruf/verlassen")  # "you left the call"
    assert_accessible(page, "left the call")

    # A form whose CSRF token no longer fits (e.g. a session that expired meanwhile).
    page.goto(live_server.url + "/termin/absagen")
    assert_accessible(page, "cancel: confirmation")
    page.evaluate("() => document.querySelectorAll('input[name=csrf_token]')"
                  ".forEach((field) => { field.value = 'stale'; })")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("h1")).to_have_text("Die Seite ist abgelaufen")
    assert_accessible(page, "CSRF error")

    page.goto(live_server.url + "/termin/absagen")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("h1")).to_have_text("Ihr Termin wurde abgesagt")
    assert_accessible(page, "cancelled")

    # An appointment that is over: its link still opens, to say so.
    ended_id, _, ended_link = _book(live_server, starts_in=timedelta(minutes=-40))
    with live_server.app.app_context():
        appointment = db.session.get(Appointment, ended_id)
        appointment.status, appointment.ended_at = AppointmentStatus.ENDED, utcnow()
        db.session.commit()
    other = contexts(chromium.new_context(**args)).new_page()
    other.goto(ended_link)
    other.wait_for_url("**/termin/vorbei")
    assert_accessible(other, "appointment over")
