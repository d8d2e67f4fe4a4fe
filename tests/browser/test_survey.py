"""The survey in real Chromium after a real call: offered on the closing page, answered with
the keyboard, errors summarised and focused, left without answering, and without JavaScript."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.models import StatCounter

from .steps import assert_accessible
from .test_call import _admit_into_call, _book, _waiting_with_advisor


def _survey_counts(server) -> dict[tuple[str, str], int]:
    with server.app.app_context():
        return {(c.dimension, c.value): c.count for c in db.session.scalars(
            sa.select(StatCounter).where(StatCounter.dimension.like("survey_%")))}


def _call_then_closing_page(server, chromium, contexts, **context_args):
    appointment_id, links, ids = _book(server)
    citizen, advisor = _waiting_with_advisor(server, chromium, contexts, ids, links["citizen"])
    _admit_into_call(server, citizen, advisor, appointment_id, ids["citizen"])
    advisor.locator("[data-end-call]").click()
    citizen.wait_for_url("**/termin/ende")
    return citizen


def test_the_survey_is_answered_with_the_keyboard_after_a_call(live_server, chromium, contexts):
    citizen = _call_then_closing_page(live_server, chromium, contexts)
    offer = citizen.get_by_role("link", name="An der Umfrage teilnehmen")
    offer.focus()
    citizen.keyboard.press("Enter")
    citizen.wait_for_url("**/termin/umfrage")
    assert citizen.locator("h1").inner_text() == "Wie war Ihr Videotermin?"
    assert_accessible(citizen, "survey")

    # Sent without any answer: the error summary takes the focus and links to each question.
    citizen.get_by_role("button", name="Antworten senden").click()
    citizen.wait_for_function("() => document.activeElement?.classList.contains('error-summary')")
    assert citizen.title().startswith("Fehler:")
    assert citizen.locator(".error-summary a").count() == 3
    assert_accessible(citizen, "survey with errors")
    citizen.locator(".error-summary a").first.click()
    assert citizen.evaluate("document.activeElement.id") == "overall-1"

    # Keyboard only: the arrow keys move within a question's radios, Tab to the next one.
    citizen.keyboard.press("ArrowDown")  # overall: 2
    citizen.keyboard.press("ArrowDown")  # overall: 3
    citizen.keyboard.press("ArrowDown")  # overall: 4
    citizen.locator("#av_quality-5").check()
    citizen.locator("#use_again-yes").focus()
    citizen.keyboard.press("Space")
    citizen.get_by_role("button", name="Antworten senden").focus()
    citizen.keyboard.press("Enter")
    citizen.wait_for_url("**/termin/umfrage/danke")
    assert citizen.locator("h1").inner_text() == "Vielen Dank für Ihre Antworten"
    assert_accessible(citizen, "survey thanks")
    assert _survey_counts(live_server) == {
        ("survey_overall", "4"): 1, ("survey_av_quality", "5"): 1,
        ("survey_use_again", "yes"): 1}

    # Back to the form (the back button, a second tab): refused.
    citizen.goto(f"{live_server.url}/termin/umfrage")
    assert citizen.locator("h1").inner_text() == "Sie haben die Umfrage bereits beantwortet"


def test_leaving_the_survey_half_way_stores_nothing(live_server, chromium, contexts):
    citizen = _call_then_closing_page(live_server, chromium, contexts)
    citizen.get_by_role("link", name="An der Umfrage teilnehmen").click()
    citizen.locator("#overall-2").check()
    citizen.get_by_role("link", name="Umfrage ohne Antwort verlassen").click()
    citizen.wait_for_url("**/termin/umfrage/verlassen")
    assert "Es wurde nichts gespeichert" in citizen.locator("main").inner_text()
    assert_accessible(citizen, "survey left")
    assert _survey_counts(live_server) == {}


def test_the_survey_on_a_narrow_phone_without_javascript(live_server, chromium, contexts):
    appointment_id, links, ids = _book(live_server)
    citizen, advisor = _waiting_with_advisor(live_server, chromium, contexts, ids,
                                             links["citizen"])
    _admit_into_call(live_server, citizen, advisor, appointment_id, ids["citizen"])
    advisor.locator("[data-end-call]").click()
    citizen.wait_for_url("**/termin/ende")
    # The same person's session in a 320 px wide browser without JavaScript.
    state = citizen.context.storage_state()
    phone = contexts(chromium.new_context(storage_state=state, java_script_enabled=False,
                                          viewport={"width": 320, "height": 640}))
    page = phone.new_page()
    page.goto(f"{live_server.url}/termin/umfrage")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.locator("#overall-5").check()
    page.get_by_role("button", name="Antworten senden").click()
    page.locator(".error-summary").wait_for()
    # The given answer is kept, the missing ones are named.
    assert page.locator("#overall-5").is_checked()
    assert page.locator(".error-summary a").count() == 2
    page.locator("#av_quality-3").check()
    page.locator("#use_again-no").check()
    page.get_by_role("button", name="Antworten senden").click()
    page.wait_for_url("**/termin/umfrage/danke")
    assert _survey_counts(live_server) == {
        ("survey_overall", "5"): 1, ("survey_av_quality", "3"): 1,
        ("survey_use_again", "no"): 1}
