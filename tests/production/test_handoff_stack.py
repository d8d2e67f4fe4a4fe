"""The hand-off to BigBlueButton as an agency runs it: Chromium over https through the deploy/
nginx config to two gunicorn instances (PostgreSQL, Redis), the portal trusting the provider's
own CA (PORTAL_PROVIDER_CA_FILE). The provider is down at the first admission on instance A:
the citizen, polling on instance B, keeps waiting; "Try again" on A (the session remembers whom
the failed admission was for) sends them to BigBlueButton as a viewer, the advisor joins as
moderator, and BigBlueButton's end callback through nginx ends the appointment. Forged
callbacks are refused, and their rate limit is one Redis bucket across both instances."""

from __future__ import annotations

import pyotp
import pytest

from ..browser.conftest import BASE_ARGS, CHROMIUM, FAKE_MEDIA
from ..browser.steps import run_check
from ..fakes.bigbluebutton import FakeBigBlueButton
from ..fakes.server import shown
from ..fakes.tls import make_ca
from .stack import ADVISOR_EMAIL, PASSWORD, production_stack
from .test_stack import fetch, in_own_thread


@pytest.fixture(scope="module")
def bbb(tmp_path_factory):
    fake = FakeBigBlueButton(make_ca(tmp_path_factory.mktemp("provider-ca"))).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, bbb):
    with production_stack(tmp_path_factory.mktemp("production-handoff"),
                          PROVIDER="bigbluebutton", PROVIDERS="bigbluebutton",
                          BBB_URL=bbb.api_url, BBB_SECRET=bbb.secret,
                          PROVIDER_CA_FILE=str(bbb.ca.ca_file),
                          PROVIDER_TIMEOUT_SECONDS="2") as running:
        yield running


def _sign_in(advisor, stack) -> None:
    """Production requires a second factor: the first sign-in enrols one (TOTP)."""
    advisor.goto(f"{stack.url_a}/anmelden")
    advisor.fill("#email", ADVISOR_EMAIL)
    advisor.fill("#password", PASSWORD)
    advisor.locator("main button[type=submit]").click()
    advisor.wait_for_url("**/konto/zweiter-faktor")
    secret = advisor.locator(".secret-key code").inner_text().replace(" ", "")
    advisor.fill("#code", pyotp.TOTP(secret).now())
    advisor.locator("main button[type=submit]").click()
    advisor.locator(".recovery-codes").wait_for()
    advisor.locator("main a.button").click()
    advisor.wait_for_url("**/beratung/termine")


def journey(stack, bbb, link: str, appointment_id: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    seen = []  # (method, url, status) of every response either browser got
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            *BASE_ARGS, *FAKE_MEDIA, "--ignore-certificate-errors"])
        try:
            contexts = [browser.new_context(ignore_https_errors=True) for _ in range(2)]
            advisor, citizen = (c.new_page() for c in contexts)
            for context in contexts:
                context.set_default_timeout(20_000)
                context.on("response", lambda r: seen.append(
                    (r.request.method, r.url, r.status)))
            _sign_in(advisor, stack)

            citizen.goto(link)
            citizen.wait_for_url("**/termin")
            citizen.goto(f"{stack.url_a}/termin/einwilligung")
            citizen.locator("button[value=agree]").click()
            citizen.wait_for_url("**/termin/technik")
            run_check(citizen)
            citizen.locator("[data-check-form] button").click()
            citizen.wait_for_url("**/termin/wartebereich")
            citizen.goto(f"{stack.url_b}/termin/wartebereich")

            advisor.goto(f"{stack.url_a}/beratung/warteschlange")
            waiting = advisor.locator('[data-participant][data-state="waiting"]')
            waiting.wait_for()
            participant_id = waiting.get_attribute("data-participant")

            bbb.set_mode("down")
            advisor.locator(f"#admit-{participant_id}").click()
            expect(advisor.locator("#queue-announcer")).to_contain_text(
                "Niemand wurde eingelassen: BigBlueButton konnte nicht erreicht werden.")
            expect(advisor.locator(f"#meeting-failure-{appointment_id}")).to_be_visible()
            citizen.wait_for_timeout(2500)  # a few polls on instance B
            still_waiting = citizen.url

            bbb.set_mode("up")
            advisor.locator(f"#retry-{appointment_id}").click()
            expect(advisor.locator("#queue-announcer")).to_have_text(
                "1 Person wurde eingelassen.")
            citizen.wait_for_url(f"{bbb.base_url}/html5client/**")
            viewer = citizen.content()

            advisor.goto(f"{stack.url_b}/beratung/termine/{appointment_id}/anruf")
            advisor.wait_for_url(f"{bbb.base_url}/html5client/**")
            moderator = advisor.content()

            (meeting_id,) = bbb.meetings
            callback = bbb.fire_end_callback(meeting_id)
            citizen.goto(link)
            citizen.wait_for_url("**/termin/ende")
            ended = citizen.locator("h1").inner_text()
            return dict(seen=seen, still_waiting=still_waiting, viewer=viewer,
                        moderator=moderator, callback=callback.status_code, ended=ended,
                        params=bbb.meetings[meeting_id].params)
        finally:
            browser.close()


def test_bigbluebutton_hand_off_through_nginx_on_two_instances(stack, bbb):
    booked = stack.book(starts_in_minutes=5)
    link = next(p["link"] for p in booked["participants"] if p["role"] == "citizen")

    result = in_own_thread(lambda: journey(stack, bbb, link, booked["appointment_id"]))

    assert result["still_waiting"] == f"{stack.url_b}/termin/wartebereich"
    assert (shown(result["viewer"], "name"), shown(result["viewer"], "role")) == (
        "Erika Mustermann", "VIEWER")
    assert (shown(result["moderator"], "name"), shown(result["moderator"], "role")) == (
        "Anna Berater", "MODERATOR")
    # What BigBlueButton was told: the portal's public https address behind nginx.
    assert result["params"]["logoutURL"] == f"{stack.url}/besprechung/verlassen"
    assert result["params"]["meta_endCallbackUrl"].startswith(f"{stack.url}/anbieter/ende/")
    assert result["callback"] == 204
    assert result["ended"] == "Ihr Videotermin ist beendet"
    portal_posts = [(u, s) for m, u, s in result["seen"] if m == "POST" and
                    u.startswith(("https://127.0.0.1:" + stack.url.rsplit(":", 1)[1],
                                  stack.url_a, stack.url_b))]
    assert portal_posts and all(s < 400 for _, s in portal_posts), portal_posts
    assert not [s for s in result["seen"] if s[2] >= 500 and "anruf" not in s[1]]


def test_forged_end_callbacks_are_refused_and_limited_across_both_instances(stack):
    codes = [fetch(f"{door}/anbieter/ende/forged-{n}")[0]
             for n, door in enumerate([stack.url_a, stack.url_b] * 16)]
    # 30 per minute, counted once for both instances (16 each would pass two buckets of
    # their own); the journey's real callback may have used one already.
    first_refused = codes.index(429)
    assert 29 <= first_refused <= 30, codes
    assert set(codes[:first_refused]) == {404} and set(codes[first_refused:]) == {429}
