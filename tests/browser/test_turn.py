"""TURN for the built-in call and the device check, with Debian's coturn and Chromium.

The call test puts the citizen's and the advisor's browsers in two network namespaces that
reach the host (the portal and the TURN server on a host address of their own) but not each
other: video flows only through the relay, over UDP or, with UDP dropped, over TCP; without
TURN the call cannot connect and says so. In the same setup the citizen's device check finds
the relay (over UDP, or TCP with UDP dropped), says so when it cannot reach it, and says
that the path could not be tested when no relay is configured."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from portal.call import turn

from .. import netlab
from ..conftest import IsolatedClient
from ..coturn import turnserver
from ..helpers import csrf_token, login
from ..journey_helpers import book, to_waiting_room
from .conftest import BASE_ARGS, CHROMIUM, FAKE_MEDIA, serve_portal
from .steps import advisor_login, assert_accessible, run_check, wait_for_video

GATHER = """async (servers) => {
  const pc = new RTCPeerConnection({iceServers: servers, iceTransportPolicy: "relay"});
  pc.createDataChannel("probe");
  const found = [];
  pc.onicecandidate = (event) => { if (event.candidate) found.push(event.candidate.type); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
    setTimeout(resolve, 10000);
  });
  pc.close();
  return found;
}"""


def _portal_ice_servers(app) -> list[dict]:
    with app.test_request_context():
        return turn.ice_servers()


def test_chromium_gets_a_relay_with_the_portals_credentials_only(
        tmp_path, migrated_sqlite, chromium, contexts):
    with turnserver("127.0.0.1", "right-secret") as relay, \
            serve_portal(tmp_path, migrated_sqlite, TURN_URLS=relay.urls("udp", "tcp"),
                         TURN_SECRET="right-secret") as server:
        page = contexts(chromium.new_context()).new_page()
        page.goto(f"{server.url}/datenschutz")
        servers = _portal_ice_servers(server.app)
        assert "relay" in page.evaluate(GATHER, servers)

        server.app.config["TURN_SECRET"] = "wrong-secret"
        assert page.evaluate(GATHER, _portal_ice_servers(server.app)) == []


# ---- the call across two isolated networks ---------------------------------------------

def _wait_for_port(address: str, port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection((address, port), 0.5):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def chromium_inside(link: netlab.ShapedLink, playwright, origin: str):
    """Chromium running inside the link's namespace, driven over CDP: Chromium listens on the
    namespace's loopback, socat passes it on from the namespace's address."""
    profile = tempfile.mkdtemp(prefix="vt-chromium-")
    started = []
    try:
        browser_process = subprocess.Popen(
            link.command(str(CHROMIUM), "--headless", *BASE_ARGS, *FAKE_MEDIA,
                         f"--unsafely-treat-insecure-origin-as-secure={origin}",
                         "--remote-debugging-port=9222", f"--user-data-dir={profile}",
                         "about:blank"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(browser_process)
        forward = subprocess.Popen(
            link.command("socat", f"TCP-LISTEN:9223,bind={link.client_address},fork,reuseaddr",
                         "TCP:127.0.0.1:9222"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(forward)
        endpoint = f"http://{link.client_address}:9223"
        _wait_for_port(link.client_address, 9223, forward, "socat")
        deadline = time.monotonic() + 20
        while True:  # Chromium's DevTools endpoint answers once it is up
            try:
                connection = http.client.HTTPConnection(link.client_address, 9223, timeout=2)
                connection.request("GET", "/json/version")
                connection.getresponse().read()
                connection.close()
                break
            except OSError:
                if browser_process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        browser = playwright.chromium.connect_over_cdp(endpoint)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        for process in started:
            _stop(process)
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Isolated:
    portal: str  # host address of the portal
    relay: str  # host address of the TURN server
    citizen: netlab.ShapedLink
    advisor: netlab.ShapedLink


@pytest.fixture
def isolated(playwright, tmp_path):
    """Two namespaces (citizen, advisor) that reach the portal's and the relay's host
    addresses but not each other."""
    if shutil.which("socat") is None:
        pytest.fail("socat is missing (apt-get install socat)")
    reason = netlab.unavailable_reason()
    if reason:
        pytest.fail(reason)
    with netlab.service_address() as portal, netlab.service_address() as relay, \
            netlab.shaped_link(50_000, burst="256k", reach=(portal, relay)) as citizen_link, \
            netlab.shaped_link(50_000, burst="256k", reach=(portal, relay)) as advisor_link:
        yield Isolated(portal, relay, citizen_link, advisor_link)


def _admitted_call(server):
    """Book an appointment and admit the citizen (through the portal, without a browser)."""
    server.app.test_client_class = IsolatedClient
    advisor = server.advisor()
    email = advisor.email
    with server.app.app_context():
        appointment, paths = book(advisor)
        appointment_id, citizen_id = appointment.id, appointment.citizen.id
    citizen = server.app.test_client()
    to_waiting_room(citizen, paths["citizen"])
    staff = server.app.test_client()
    login(staff, email)
    staff.post(f"/beratung/termine/{appointment_id}/einlassen/{citizen_id}",
               data={"csrf_token": csrf_token(staff, "/beratung/warteschlange")})
    return appointment_id, server.url + paths["citizen"]


def _open_call(server, playwright, isolated, stack):
    appointment_id, personal_link = _admitted_call(server)
    pages = []
    for link in (isolated.citizen, isolated.advisor):
        browser = stack.enter_context(chromium_inside(link, playwright, server.url))
        context = browser.new_context()
        context.set_default_timeout(20_000)
        stack.callback(context.close)
        pages.append(context.new_page())
    citizen, advisor = pages
    citizen.goto(personal_link)
    citizen.wait_for_url("**/termin/anruf")
    advisor_login(advisor, server.url)
    advisor.goto(f"{server.url}/beratung/termine/{appointment_id}/anruf")
    return citizen, advisor


def _through_the_relay(*pages, protocol: str) -> None:
    for page in pages:
        (pair,) = page.evaluate("window.portalCall.selectedPairs()")
        assert pair["state"] == "succeeded"
        assert "relay" in (pair["local"], pair["remote"]), pair
        if pair["local"] == "relay":
            assert pair["relayProtocol"] == protocol, pair


@pytest.mark.parametrize("udp", ["udp", "tcp only"])
def test_call_between_two_isolated_networks_goes_through_the_relay(
        isolated, playwright, tmp_path, migrated_sqlite, udp):
    if udp == "tcp only":
        isolated.citizen.drop_udp()
        isolated.advisor.drop_udp()
    with turnserver(isolated.relay) as relay, \
            serve_portal(tmp_path, migrated_sqlite, host=isolated.portal,
                         TURN_URLS=relay.urls("udp", "tcp"), TURN_SECRET=relay.secret) as server, \
            contextlib.ExitStack() as stack:
        citizen, advisor = _open_call(server, playwright, isolated, stack)
        counts = wait_for_video(citizen, advisor, frames=10, timeout=60)
        assert all(c >= 10 for c in counts)
        _through_the_relay(citizen, advisor, protocol="udp" if udp == "udp" else "tcp")

        # A reload joins again with fresh credentials and connects through the relay again.
        citizen.reload()
        wait_for_video(citizen, advisor, frames=10, timeout=60)
        _through_the_relay(citizen, advisor, protocol="udp" if udp == "udp" else "tcp")


def test_without_turn_the_isolated_call_does_not_connect_and_says_so(
        isolated, playwright, tmp_path, migrated_sqlite):
    with serve_portal(tmp_path, migrated_sqlite, host=isolated.portal) as server, \
            contextlib.ExitStack() as stack:
        citizen, advisor = _open_call(server, playwright, isolated, stack)
        for page in (citizen, advisor):
            # Both see each other in the call, yet no media path exists between them.
            expect(page.locator("[data-call-status]")).to_have_text(
                "Verbindungsprobleme – wir versuchen es erneut …", timeout=60_000)
            assert page.evaluate("window.portalCall.connectedPeers()") == 0
            assert page.evaluate("window.portalCall.inboundVideoFrames()") == 0


def test_a_call_that_fails_after_its_credentials_expired_joins_again_for_fresh_ones(
        isolated, playwright, tmp_path, migrated_sqlite):
    with turnserver(isolated.relay) as relay, \
            serve_portal(tmp_path, migrated_sqlite, host=isolated.portal, TURN_TTL_SECONDS=600,
                         TURN_URLS=relay.urls("udp", "tcp"), TURN_SECRET=relay.secret) as server, \
            contextlib.ExitStack() as stack:
        citizen, advisor = _open_call(server, playwright, isolated, stack)
        wait_for_video(citizen, advisor, frames=10, timeout=60)
        _through_the_relay(citizen, advisor, protocol="udp")

        # In the citizen's browser the credentials have run out; then the relay is lost.
        # The failed connection is not restarted with the old credentials: the citizen joins
        # again (the relay is back by then) and connects with the fresh ones it receives.
        joins = []

        def join_once_the_relay_is_back(route):
            for link in (isolated.citizen, isolated.advisor):
                link.reconnect(isolated.relay)
            route.continue_()

        citizen.route("**/beitreten*", join_once_the_relay_is_back)
        citizen.on("response", lambda r: "/beitreten" in r.url and joins.append(r.json()))
        citizen.clock.set_system_time(time.time() + 601)
        for link in (isolated.citizen, isolated.advisor):
            link.cut_off(isolated.relay)
        deadline = time.monotonic() + 90
        while not joins and time.monotonic() < deadline:
            citizen.wait_for_timeout(500)
        assert joins, "the citizen did not join again"
        (fresh,) = [s for s in joins[0]["ice_servers"] if "username" in s]
        assert int(fresh["username"].split(":")[0]) > time.time() + 500
        wait_for_video(citizen, advisor, frames=10, timeout=60)
        _through_the_relay(citizen, advisor, protocol="udp")


# ---- the device check's media-path step, from an isolated network --------------------------

def _device_check_inside(server, playwright, link, stack):
    """The citizen's browser inside `link`'s namespace, on the device check after consent;
    returns the page and the citizen's id."""
    advisor = server.advisor()
    with server.app.app_context():
        appointment, paths = book(advisor)
        citizen_id = appointment.citizen.id
    browser = stack.enter_context(chromium_inside(link, playwright, server.url))
    context = browser.new_context()
    context.set_default_timeout(20_000)
    stack.callback(context.close)
    page = context.new_page()
    page.goto(server.url + paths["citizen"])
    page.locator("main a.button").click()
    page.locator("button[value=agree]").click()
    page.wait_for_url("**/termin/technik")
    return page, citizen_id


def _stored_warnings(server, citizen_id):
    from portal.extensions import db
    from portal.models import Participant

    with server.app.app_context():
        return db.session.get(Participant, citizen_id).device_check.warnings


def _media_step(page):
    step = page.locator('[data-step="ice"]')
    return step.get_attribute("data-status"), step.locator("[data-step-status]").inner_text()


@pytest.mark.parametrize("udp", ["udp", "tcp only"])
def test_the_device_check_sends_data_through_the_relay_from_an_isolated_network(
        isolated, playwright, tmp_path, migrated_sqlite, udp):
    if udp == "tcp only":
        isolated.citizen.drop_udp()
    with turnserver(isolated.relay) as relay, \
            serve_portal(tmp_path, migrated_sqlite, host=isolated.portal,
                         TURN_URLS=relay.urls("udp", "tcp"), TURN_SECRET=relay.secret) as server, \
            contextlib.ExitStack() as stack:
        page, citizen_id = _device_check_inside(server, playwright, isolated.citizen, stack)
        result = run_check(page)
        status, said = _media_step(page)
        assert status == "ok"
        if udp == "udp":
            assert result["relay"] == "udp"
            assert said == "möglich – unser Relay-Server ist erreichbar (UDP)"
        else:
            assert result["relay"] == "tcp"
            assert said.startswith(
                "möglich – unser Relay-Server ist erreichbar, aber nur über TCP/TLS")
        root = page.locator("[data-device-check]")
        assert int(root.get_attribute("data-relay-ms")) < 5_000  # quick, beside the other steps
        assert int(root.get_attribute("data-relay-rtt-ms")) >= 0  # the echo came back
        # The other steps ran as usual; a relay over TCP only is worth storing, not a problem.
        assert result["grade"] == "good"
        assert page.locator("[data-check-result] [data-all-good]").is_visible()
        assert page.locator("[data-advice-for]:visible").count() == 0
        page.locator("[data-check-form] button").click()
        page.wait_for_url("**/termin/wartebereich")
        assert _stored_warnings(server, citizen_id) == (None if udp == "udp" else "relay_tcp_only")


def test_the_device_check_says_when_nothing_gets_through_the_relay(
        isolated, playwright, tmp_path, migrated_sqlite):
    with turnserver(isolated.relay) as relay, \
            serve_portal(tmp_path, migrated_sqlite, host=isolated.portal,
                         TURN_URLS=relay.urls("udp", "tcp"), TURN_SECRET=relay.secret) as server, \
            contextlib.ExitStack() as stack:
        page, citizen_id = _device_check_inside(server, playwright, isolated.citizen, stack)
        isolated.citizen.cut_off(isolated.relay)  # the portal answers, the relay does not
        result = run_check(page)
        assert result["relay"] == "unreachable"
        assert _media_step(page) == (
            "failed", "nicht möglich – unser Relay-Server ist aus diesem Netzwerk nicht erreichbar")
        assert int(page.locator("[data-device-check]").get_attribute("data-relay-ms")) < 10_000
        # The verdict does not say "ready": it says why, and what to do.
        box = page.locator("[data-check-result]")
        assert box.locator("#check-result-title").inner_text() == \
            "Ergebnis: die Videoverbindung kommt möglicherweise nicht durch Ihr Netzwerk"
        assert not box.locator("[data-all-good]").is_visible()
        assert page.locator("[data-advice-for=relay_unreachable]").is_visible()
        assert page.locator("[data-announcer]").inner_text().endswith(
            "Bitte lesen Sie die Hinweise unten.")
        assert_accessible(page, "device check: relay unreachable")
        page.locator("[data-check-form] button").click()
        warning = page.locator(".warning-summary")
        assert "Relay-Server" in warning.inner_text()
        warning.locator("button").click()
        page.wait_for_url("**/termin/wartebereich")
        assert _stored_warnings(server, citizen_id) == "relay_unreachable"


def test_without_turn_the_device_check_says_the_path_could_not_be_tested(
        isolated, playwright, tmp_path, migrated_sqlite):
    with serve_portal(tmp_path, migrated_sqlite, host=isolated.portal) as server, \
            contextlib.ExitStack() as stack:
        page, citizen_id = _device_check_inside(server, playwright, isolated.citizen, stack)
        result = run_check(page)
        assert result["relay"] == "none"
        assert _media_step(page) == (
            "info", "nicht geprüft – ohne Relay-Server kann die Videoverbindung in manchen "
                    "Netzwerken scheitern")
        box = page.locator("[data-check-result]")
        assert box.locator("[data-all-good]").is_visible()  # the devices and the line are fine
        assert "keinen Relay-Server" in box.locator("[data-media-unverified]").inner_text()
        assert page.locator("[data-advice-for]:visible").count() == 0  # calm: no warning box
        assert_accessible(page, "device check: no relay configured")
        page.locator("[data-check-form] button").click()
        page.wait_for_url("**/termin/wartebereich")  # nothing to confirm
        assert _stored_warnings(server, citizen_id) is None
