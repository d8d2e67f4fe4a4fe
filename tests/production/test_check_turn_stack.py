"""The device check's relay test as an agency runs it: Chromium over https through the deploy/
nginx config to two gunicorn instances (PostgreSQL, Redis), Debian's coturn on a host address
of its own. The credentials' POST passes the origin and CSRF checks behind nginx, the check
sends data through the relay, and its rate limit is one bucket across both instances."""

from __future__ import annotations

import pytest

from .. import netlab
from ..browser.conftest import BASE_ARGS, CHROMIUM, FAKE_MEDIA
from ..browser.steps import run_check
from ..coturn import turnserver
from .stack import production_stack
from .test_stack import in_own_thread

JOIN_LIMIT = 4  # PORTAL_CALL_JOIN_RATE_LIMIT per minute: also the relay credentials' limit


@pytest.fixture(scope="module")
def relay():
    """coturn on a 10.214.x.1 host address (not loopback: coturn refuses loopback peers)."""
    reason = netlab.unavailable_reason()
    if reason:
        pytest.fail(reason)
    with netlab.service_address() as address, turnserver(address) as server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, relay):
    # Comma-separated, as portal.env gives it (systemd's EnvironmentFile strips JSON quotes).
    with production_stack(tmp_path_factory.mktemp("production-turn"),
                          TURN_URLS=",".join(relay.urls("udp", "tcp")),
                          TURN_SECRET=relay.secret,
                          CALL_JOIN_RATE_LIMIT=f"{JOIN_LIMIT} per minute") as running:
        yield running


ASK_AGAIN = """async (times) => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const answers = [];
  for (let i = 0; i < times; i += 1) {
    const response = await fetch("/termin/technik/relais", {method: "POST", body: "{}",
      headers: {"X-CSRFToken": csrf, "Content-Type": "application/json"}});
    answers.push([response.status, response.headers.get("Cache-Control")]);
  }
  return answers;
}"""


def check(stack, link):
    from playwright.sync_api import sync_playwright

    seen = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            *BASE_ARGS, *FAKE_MEDIA, "--ignore-certificate-errors"])
        try:
            context = browser.new_context(ignore_https_errors=True)
            context.set_default_timeout(20_000)
            context.on("response", lambda r: seen.append((r.request.method, r.url, r.status)))
            page = context.new_page()
            page.goto(link)
            page.wait_for_url("**/termin")
            page.goto(f"{stack.url_a}/termin/einwilligung")
            page.locator("button[value=agree]").click()
            page.wait_for_url("**/termin/technik")
            result = run_check(page)  # on instance A: one set of credentials
            during_check = list(seen)
            step = page.locator('[data-step="ice"]')
            said = (step.get_attribute("data-status"),
                    step.locator("[data-step-status]").inner_text())
            # More from instance B: the same participant's bucket, counted in Redis.
            page.goto(f"{stack.url_b}/termin/technik")
            again = page.evaluate(ASK_AGAIN, JOIN_LIMIT)
            return dict(result=result, said=said, again=again, seen=during_check)
        finally:
            browser.close()


def test_the_device_check_reaches_the_relay_behind_nginx_on_two_instances(stack):
    booked = stack.book(starts_in_minutes=5)
    link = next(p["link"] for p in booked["participants"] if p["role"] == "citizen")

    outcome = in_own_thread(lambda: check(stack, link))

    assert outcome["result"]["relay"] == "udp"
    assert outcome["said"] == ("ok", "möglich – unser Relay-Server ist erreichbar (UDP)")
    credentials = [(url, status) for method, url, status in outcome["seen"]
                   if method == "POST" and url.endswith("/termin/technik/relais")]
    assert [status for _, status in credentials] == [200]  # the check's own, through nginx
    statuses = [status for status, _ in outcome["again"]]
    assert statuses == [200] * (JOIN_LIMIT - 1) + [429]
    assert all(cache == "no-store" for status, cache in outcome["again"] if status == 200)
