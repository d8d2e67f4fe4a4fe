"""End to end in real Chromium: link → consent → device check → waiting room → admission →
peer-to-peer call with video both ways → the advisor ends → closing page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from ..journey_helpers import book
from .steps import (
    advisor_login,
    assert_accessible,
    citizen_to_waiting_room,
    wait_for_state,
    wait_for_video,
)


def _book(server, **kwargs):
    advisor = server.advisor()
    with server.app.app_context():
        appointment, paths = book(advisor, **kwargs)
        ids = {p.role.value: p.id for p in appointment.participants}
        return appointment.id, {k: server.url + v for k, v in paths.items()}, ids


def _waiting_with_advisor(server, chromium, contexts, ids, link):
    """The citizen is in the waiting room and the advisor sees them on the queue page."""
    citizen = contexts(chromium.new_context()).new_page()
    advisor = contexts(chromium.new_context()).new_page()
    citizen_to_waiting_room(citizen, link)
    advisor_login(advisor, server.url)
    advisor.goto(f"{server.url}/beratung/warteschlange")
    wait_for_state(advisor, ids["citizen"], "waiting")
    return citizen, advisor


def _admit_into_call(server, citizen, advisor, appointment_id, citizen_id):
    advisor.locator(f"#admit-{citizen_id}").click()
    citizen.wait_for_url("**/termin/anruf")
    advisor.goto(f"{server.url}/beratung/termine/{appointment_id}/anruf")
    wait_for_video(citizen, advisor)


def _journey(server, chromium, contexts, citizen_context_args, check_a11y):
    appointment_id, links, ids = _book(server)
    citizen = contexts(chromium.new_context(**citizen_context_args)).new_page()
    advisor = contexts(chromium.new_context()).new_page()

    advisor_login(advisor, server.url)
    advisor.goto(f"{server.url}/beratung/warteschlange")
    wait_for_state(advisor, ids["citizen"], "invited")
    assert not advisor.title().startswith("(")
    citizen_to_waiting_room(citizen, links["citizen"], check_a11y=check_a11y)
    wait_for_state(advisor, ids["citizen"], "waiting")
    # The queue page updated itself: count in the title, announced for screen readers.
    advisor.wait_for_function("() => document.title.startsWith('(1) ')")
    assert advisor.locator("#queue-announcer").inner_text() == "Jetzt im Wartebereich: 1"
    if check_a11y:
        assert_accessible(advisor, "queue")
    advisor.locator(f"#admit-{ids['citizen']}").click()

    citizen.wait_for_url("**/termin/anruf")
    wait_for_state(advisor, ids["citizen"], "in_call")
    advisor.goto(f"{server.url}/beratung/termine/{appointment_id}/anruf")
    counts = wait_for_video(citizen, advisor)
    assert all(c > 0 for c in counts)
    if check_a11y:
        assert_accessible(citizen, "call (citizen)")
        assert_accessible(advisor, "call (advisor)")

    advisor.locator("[data-end-call]").click()
    citizen.wait_for_url("**/termin/ende")
    assert citizen.locator("h1").inner_text() == "Ihr Videotermin ist beendet"
    if check_a11y:
        assert_accessible(citizen, "closing page")
    advisor.wait_for_url("**/beratung/warteschlange")


def test_desktop_journey_to_a_real_call(live_server, chromium, contexts):
    _journey(live_server, chromium, contexts, {}, check_a11y=True)


@pytest.mark.parametrize("device", ["Pixel 7", "iPhone 13"])
def test_phone_journey_to_a_real_call(live_server, chromium, contexts, playwright, device):
    _journey(live_server, chromium, contexts, dict(playwright.devices[device]), check_a11y=True)


def test_three_way_call_with_an_interpreter(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server, interpreter=True)
    citizen = contexts(chromium.new_context()).new_page()
    interpreter = contexts(chromium.new_context()).new_page()
    advisor = contexts(chromium.new_context()).new_page()
    citizen_to_waiting_room(citizen, links["citizen"])
    citizen_to_waiting_room(interpreter, links["interpreter"])
    advisor_login(advisor, live_server.url)
    advisor.goto(f"{live_server.url}/beratung/warteschlange")
    wait_for_state(advisor, ids["interpreter"], "waiting")
    advisor.locator(f"#admit-all-{appointment_id}").click()
    citizen.wait_for_url("**/termin/anruf")
    interpreter.wait_for_url("**/termin/anruf")
    advisor.goto(f"{live_server.url}/beratung/termine/{appointment_id}/anruf")
    wait_for_video(citizen, interpreter, advisor)
    names = advisor.locator("[data-tiles] figcaption").all_inner_texts()
    assert "Erika Mustermann" in names and "Ivan Dolmetscher" in names


def test_reload_and_reopening_the_link_reconnect_without_new_admission(
        live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server)
    citizen, advisor = _waiting_with_advisor(live_server, chromium, contexts, ids,
                                             links["citizen"])
    _admit_into_call(live_server, citizen, advisor, appointment_id, ids["citizen"])

    citizen.reload()
    wait_for_video(citizen, advisor)
    expect(advisor.locator("[data-tiles] figure")).to_have_count(2)  # the old one is gone

    # The connection dropped entirely: the link from the e-mail, in a new browser.
    citizen.context.close()
    again = contexts(chromium.new_context()).new_page()
    again.goto(links["citizen"])
    again.wait_for_url("**/termin/anruf")
    wait_for_video(again, advisor)


def test_leaving_and_reentering_the_waiting_room(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server)
    citizen, advisor = _waiting_with_advisor(live_server, chromium, contexts, ids,
                                             links["citizen"])
    citizen.locator("form[action$='/verlassen'] button").click()
    citizen.wait_for_url("**/termin/wartebereich/verlassen")
    wait_for_state(advisor, ids["citizen"], "left")
    assert_accessible(citizen, "left the waiting room")
    citizen.locator("main a.button").click()
    citizen.wait_for_url("**/termin/wartebereich")
    wait_for_state(advisor, ids["citizen"], "waiting")


def test_closing_the_tab_shows_connection_lost(live_server, chromium, contexts):
    # Longer than the 5 s between presence writes, so an open tab never looks lost.
    live_server.app.config["PRESENCE_TIMEOUT_SECONDS"] = 8
    appointment_id, links, ids = _book(live_server)
    citizen, advisor = _waiting_with_advisor(live_server, chromium, contexts, ids,
                                             links["citizen"])
    citizen.context.close()
    wait_for_state(advisor, ids["citizen"], "connection_lost")


def test_advisor_is_told_when_the_citizen_cancels(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server)
    citizen, advisor = _waiting_with_advisor(live_server, chromium, contexts, ids,
                                             links["citizen"])
    citizen.goto(f"{live_server.url}/termin/absagen")
    citizen.locator("main form button[type=submit]").first.click()
    expect(citizen.locator("h1")).to_have_text("Ihr Termin wurde abgesagt")
    # Announced through the queue's live region, not only shown as a changed tag.
    expect(advisor.locator("#queue-announcer")).to_have_text("Ein Termin wurde abgesagt.")
    expect(advisor.locator(f'[data-appointment="{appointment_id}"]')).to_have_attribute(
        "data-status", "cancelled")


def test_advisor_message_is_announced_in_the_waiting_room(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server)
    citizen = contexts(chromium.new_context()).new_page()
    advisor = contexts(chromium.new_context()).new_page()
    citizen_to_waiting_room(citizen, links["citizen"])
    advisor_login(advisor, live_server.url)
    advisor.goto(f"{live_server.url}/beratung/warteschlange")
    advisor.fill(f"#message-{appointment_id}", "Ich komme fünf Minuten später.")
    advisor.locator(f"#send-message-{appointment_id}").click()
    message = citizen.locator("[aria-live=polite] [data-advisor-message]")
    message.wait_for()
    assert message.inner_text() == "Ich komme fünf Minuten später."
    expect(advisor.locator(f"#message-{appointment_id}")).to_have_value("")


def test_admission_in_a_background_tab_changes_the_title(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server)
    context = contexts(chromium.new_context())
    citizen = context.new_page()
    citizen_to_waiting_room(citizen, links["citizen"])
    context.new_page().goto(f"{live_server.url}/")  # another tab in front
    citizen.evaluate("() => Object.defineProperty(document, 'visibilityState', "
                     "{get: () => 'hidden'})")
    advisor = contexts(chromium.new_context()).new_page()
    advisor_login(advisor, live_server.url)
    advisor.goto(f"{live_server.url}/beratung/warteschlange")
    wait_for_state(advisor, ids["citizen"], "waiting")
    advisor.locator(f"#admit-{ids['citizen']}").click()
    citizen.wait_for_function("() => document.title.startsWith('Sie sind an der Reihe')")
    assert "termin/wartebereich" in citizen.url  # waits until the participant looks
    assert citizen.locator("[aria-live=polite] [data-admitted]").count() == 1


def test_too_early_start_page(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server, starts_in=timedelta(hours=3))
    page = contexts(chromium.new_context()).new_page()
    page.goto(links["citizen"])
    assert "öffnet um" in page.locator("main").inner_text()
    assert_accessible(page, "start page (too early)")


def test_one_person_plays_both_roles_in_two_windows_of_one_browser(
        live_server, chromium, contexts):
    """`make run`'s promise: one browser, two windows, a real call between them."""
    appointment_id, links, ids = _book(live_server)
    context = contexts(chromium.new_context())
    advisor, citizen = context.new_page(), context.new_page()
    advisor_login(advisor, live_server.url)
    citizen_to_waiting_room(citizen, links["citizen"])
    advisor.goto(f"{live_server.url}/beratung/warteschlange")
    wait_for_state(advisor, ids["citizen"], "waiting")
    _admit_into_call(live_server, citizen, advisor, appointment_id, ids["citizen"])
    advisor.locator("[data-end-call]").click()
    citizen.wait_for_url("**/termin/ende")


def test_a_second_tab_takes_over_the_call_and_the_first_is_told(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server)
    citizen, advisor = _waiting_with_advisor(live_server, chromium, contexts, ids,
                                             links["citizen"])
    _admit_into_call(live_server, citizen, advisor, appointment_id, ids["citizen"])

    second = citizen.context.new_page()  # the same person, another tab of the same browser
    second.goto(f"{live_server.url}/termin/anruf")
    wait_for_video(second, advisor)

    # The first tab stops its media and says why, with focus on the message.
    notice = citizen.locator("[data-replaced]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("in einem anderen Fenster oder Tab geöffnet")
    expect(notice).to_be_focused()
    assert notice.get_attribute("role") == "alert"
    expect(citizen.locator("[data-tiles]")).to_be_hidden()
    assert citizen.evaluate("window.portalCall.connectedPeers()") == 0
    assert citizen.evaluate("document.querySelector('[data-local]').srcObject") is None
    # The advisor sees one participant, the new tab.
    expect(advisor.locator("[data-tiles] figure")).to_have_count(2)
    assert advisor.evaluate("window.portalCall.connectedPeers()") == 1

    # Taking it back by keyboard: the first tab has the call again, the second is told.
    citizen.keyboard.press("Tab")
    expect(notice.get_by_role("link")).to_be_focused()
    with citizen.expect_navigation():
        citizen.keyboard.press("Enter")
    citizen.wait_for_function("() => window.portalCall !== undefined")
    wait_for_video(citizen, advisor)
    expect(second.locator("[data-replaced]")).to_be_visible()
    expect(advisor.locator("[data-tiles] figure")).to_have_count(2)
    assert_accessible(second, "call taken over by another tab")


def test_the_call_connects_although_the_portal_refuses_signals_for_a_while(
        live_server, chromium, contexts):
    """A full mailbox answers 429: offers and answers are sent again, a candidate may be
    dropped, and the call still connects."""
    live_server.app.config["CALL_MAX_PENDING_SIGNALS"] = 2
    appointment_id, links, ids = _book(live_server)
    citizen, advisor = _waiting_with_advisor(live_server, chromium, contexts, ids,
                                             links["citizen"])
    refused = []
    for page in (citizen, advisor):
        page.on("response", lambda r: r.status == 429 and refused.append(r.url))
    # The advisor comes in last: the offer and its candidates arrive faster than polled.
    _admit_into_call(live_server, citizen, advisor, appointment_id, ids["citizen"])
    assert refused, "the mailbox never filled: the test proved nothing"
