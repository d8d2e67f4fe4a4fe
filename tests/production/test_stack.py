"""The whole journey as an agency runs it: Chromium over https through the deploy/ nginx
config to two gunicorn instances on one PostgreSQL and one Redis."""

from __future__ import annotations

import http.cookiejar
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request

import pyotp
import redis

from ..browser.conftest import BASE_ARGS, CHROMIUM, FAKE_MEDIA
from ..browser.steps import run_check, wait_for_video
from .conftest import LINK_RATE_LIMIT, LOGIN_RATE_LIMIT
from .stack import ADVISOR_EMAIL, PASSWORD, REDIS_URL

INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE
TOKEN_RE = re.compile(r"/t/([A-Za-z0-9_-]{43})")


def in_own_thread(work):
    """Playwright's sync API in a thread of its own, so it never meets another sync
    Playwright this pytest session has started (tests/browser)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(240)
    assert not thread.is_alive(), "the browser part did not finish"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def fetch(url, *, opener=None, data=None, headers=None):
    """(status, headers, body) of one request, without following redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    handlers = [urllib.request.HTTPSHandler(context=INSECURE), NoRedirect()]
    opener = opener or urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


def journey(stack, citizen_link, appointment_id):
    from playwright.sync_api import sync_playwright

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

            # The advisor signs in over https on instance A. A second factor is required in
            # production: the first sign-in enrols one (TOTP), as a new advisor would.
            first = advisor.goto(f"{stack.url_a}/anmelden")
            hsts = first.headers.get("strict-transport-security", "")
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
            cookies = {c["name"]: c for c in contexts[0].cookies()}

            # The citizen opens the personal link (both instances behind it), then consents
            # and checks the devices on A, and waits on B.
            citizen.goto(citizen_link)
            citizen.wait_for_url("**/termin")
            citizen.goto(f"{stack.url_a}/termin/einwilligung")
            citizen.locator("button[value=agree]").click()
            citizen.wait_for_url("**/termin/technik")
            check = run_check(citizen)
            citizen.locator("[data-check-form] button").click()
            citizen.wait_for_url("**/termin/wartebereich")
            citizen.goto(f"{stack.url_b}/termin/wartebereich")

            # The advisor admits on A; the citizen's poll on B sees it.
            advisor.goto(f"{stack.url_a}/beratung/warteschlange")
            waiting = advisor.locator('[data-participant][data-state="waiting"]')
            waiting.wait_for()
            participant_id = waiting.get_attribute("data-participant")
            advisor.locator(f"#admit-{participant_id}").click()
            citizen.wait_for_url(f"{stack.url_b}/termin/anruf")
            advisor.goto(f"{stack.url_a}/beratung/termine/{appointment_id}/anruf")
            frames = wait_for_video(citizen, advisor)

            advisor.locator("[data-end-call]").click()
            citizen.wait_for_url("**/termin/ende")
            ended = citizen.locator("h1").inner_text()
            return dict(seen=seen, hsts=hsts, cookies=cookies, check=check, frames=frames,
                        ended=ended)
        finally:
            browser.close()


def test_journey_through_nginx_on_two_instances(stack):
    booked = stack.book(starts_in_minutes=5)
    link = next(p["link"] for p in booked["participants"] if p["role"] == "citizen")
    assert link.startswith(stack.url + "/t/")
    token = TOKEN_RE.search(link).group(1)

    result = in_own_thread(lambda: journey(stack, link, booked["appointment_id"]))

    posts = [(url, status) for method, url, status in result["seen"] if method == "POST"]
    assert posts, "the journey sent no form"
    # Every form went through (sign-in, consent, device check, admit, end): no CSRF page.
    assert all(status < 400 for _, status in posts), posts
    assert not [s for s in result["seen"] if s[2] >= 500], result["seen"]
    assert result["hsts"] == "max-age=31536000; includeSubDomains"
    session = result["cookies"]["__Host-session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert "session" not in result["cookies"]
    assert not [n for n in result["cookies"] if "remember" in n]
    # The device check measured through nginx (no buffering on its paths): loopback is fast.
    # (Round-trip jitter on this shared 2-core machine may cost the top grade; the figures
    # must be right, and enough for video.)
    check = result["check"]
    assert check["grade"] in ("good", "video"), check
    assert int(check["downloadKbps"]) > 10_000 and int(check["uploadKbps"]) > 10_000, check
    assert all(n > 0 for n in result["frames"])
    assert result["ended"] == "Ihr Videotermin ist beendet"

    # The token, percent-encoded in the path, is no better hidden from nginx's log.
    status, _, _ = fetch(f"{stack.url}/%74/{token}")
    assert status in (302, 404)
    for variant in (f"//t/{token}", f"/%2574/{token}?x={token}", f"/t/{token[:20]}%2F{token}"):
        fetch(stack.url + variant)
    log = stack.log_text()
    assert token not in log
    assert "/t/[token]" in log
    assert "[masked]" in log  # /%2574/… is /%74/… once decoded: no route, still no token
    assert re.search(r"rid=[0-9a-f]{32}", log)


def test_nginx_redirects_plain_http_and_serves_static_files(stack):
    status, headers, _ = fetch(f"{stack.http_url}/anmelden")
    assert status == 301
    assert headers["Location"] == f"{stack.url}/anmelden"
    status, headers, body = fetch(f"{stack.url}/static/css/portal.css",
                                  headers={"Accept-Encoding": "gzip"})
    assert status == 200
    assert "max-age=3600" in headers["Cache-Control"]
    assert headers.get("Content-Encoding") == "gzip"
    assert headers.get("X-Content-Type-Options") == "nosniff"


def test_link_guessing_is_limited_across_both_instances(stack):
    redis.Redis.from_url(REDIS_URL).flushdb()  # the limits, counted from zero
    doors = [stack.url_a, stack.url_b]
    for n in range(LINK_RATE_LIMIT):
        status, _, _ = fetch(f"{doors[n % 2]}/t/{'x' * 43}")
        assert status == 404, n
    # The next guess is refused wherever it lands: both instances count in Redis, and
    # the client address comes from nginx's X-Forwarded-For.
    for door in doors:
        status, _, body = fetch(f"{door}/t/{'y' * 43}")
        assert status == 429, door


def _sign_in_attempt(door: str, opener) -> int:
    status, _, page = fetch(f"{door}/anmelden", opener=opener)
    if status == 429:
        return status
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": "nobody@example.org",
                                   "password": "wrong"}).encode()
    status, _, _ = fetch(f"{door}/anmelden", opener=opener, data=data,
                         headers={"Origin": door,
                                  "Content-Type": "application/x-www-form-urlencoded"})
    return status


def test_sign_in_attempts_are_limited_across_both_instances(stack):
    redis.Redis.from_url(REDIS_URL).flushdb()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=INSECURE),
                                         urllib.request.HTTPCookieProcessor(jar))
    doors = [stack.url_a, stack.url_b]
    statuses = [_sign_in_attempt(doors[n % 2], opener) for n in range(LOGIN_RATE_LIMIT + 2)]
    # Wrong passwords are answered with the form again (200), never a CSRF refusal; then
    # the limit holds on both instances.
    assert 429 in statuses, statuses
    first_refused = statuses.index(429)
    assert first_refused <= LOGIN_RATE_LIMIT, statuses
    assert all(s == 200 for s in statuses[:first_refused]), statuses
    assert set(statuses[first_refused:]) == {429}, statuses
