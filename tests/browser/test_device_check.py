"""The device and network check in real Chromium: working devices, refused permission, no
camera, a silent microphone, the speaker question, an unsupported browser, a phone."""

from __future__ import annotations

import struct
import wave

import pytest

from ..helpers import free_port
from ..journey_helpers import book
from .conftest import BASE_ARGS, CHROMIUM
from .steps import assert_accessible, run_check


def _to_device_check(server, context):
    advisor = server.advisor()
    with server.app.app_context():
        appointment, paths = book(advisor)
        citizen_id = appointment.citizen.id
    page = context.new_page()
    page.goto(server.url + paths["citizen"])
    page.locator("main a.button").click()
    page.locator("button[value=agree]").click()
    page.wait_for_url("**/termin/technik")
    return page, citizen_id


def _stored_check(server, citizen_id):
    from portal.extensions import db
    from portal.models import Participant

    with server.app.app_context():
        return db.session.get(Participant, citizen_id).device_check


def _step(page, name):
    return page.locator(f'[data-step="{name}"]').get_attribute("data-status")


def test_working_devices_and_a_fast_link_grade_good(live_server, chromium, contexts):
    page, citizen_id = _to_device_check(live_server, contexts(chromium.new_context()))
    result = run_check(page)
    assert result["grade"] == "good"
    assert int(result["downloadKbps"]) > 10_000 and int(result["uploadKbps"]) > 10_000
    assert 0 < float(result["rttMs"]) < 100 and float(result["jitterMs"]) >= 0
    assert int(result["durationMs"]) < 10_000
    for name in ("camera", "microphone", "speaker", "latency", "download", "upload"):
        assert _step(page, name) == "ok", name
    assert "funktioniert" in page.locator('[data-step="camera"]').inner_text()
    assert page.locator("[data-check-result] [data-all-good]").is_visible()
    assert page.locator("[data-advice-for]:visible").count() == 0
    # Each finished step was announced to screen readers.
    assert page.locator("[data-announcer]").get_attribute("aria-live") == "polite"
    page.locator("[data-check-form] button").click()
    page.wait_for_url("**/termin/wartebereich")
    check = _stored_check(live_server, citizen_id)
    assert (check.camera.value, check.microphone.value, check.speaker.value) == ("ok",) * 3
    assert check.grade == "good" and check.download_kbps > 10_000 and check.rtt_ms > 0
    assert check.browser == "Chrome" and check.ip_address == "127.0.0.1"
    assert not check.continued_with_warning


def test_refused_permission_shows_help_and_allows_going_on_with_a_warning(
        live_server, chromium_denied, contexts):
    page, citizen_id = _to_device_check(live_server, contexts(chromium_denied.new_context()))
    result = run_check(page)
    assert result["grade"] == "not_ready"
    assert _step(page, "camera") == "failed" and _step(page, "download") == "ok"
    advice = page.locator("[data-advice-for=camera_denied]")
    assert advice.is_visible() and "Adressleiste" in advice.inner_text()
    assert_accessible(page, "device check: permission refused")
    page.locator("[data-check-form] button").click()
    warning = page.locator(".warning-summary")
    assert "Kamera" in warning.inner_text()
    assert_accessible(page, "device check: warning")
    warning.locator("button").click()
    page.wait_for_url("**/termin/wartebereich")
    check = _stored_check(live_server, citizen_id)
    assert check.camera.value == "denied" and check.continued_with_warning
    assert check.grade == "not_ready" and check.download_kbps > 0  # the link was measured


def test_refused_permission_help_on_an_iphone(live_server, chromium_denied, contexts, playwright):
    context = contexts(chromium_denied.new_context(**playwright.devices["iPhone 13"]))
    page, _ = _to_device_check(live_server, context)
    run_check(page)
    assert "Website-Einstellungen" in page.locator("[data-advice-for=camera_denied]").inner_text()
    assert_accessible(page, "device check on a phone")


def test_no_camera_grades_audio_only(live_server, chromium_no_camera, contexts):
    page, citizen_id = _to_device_check(live_server, contexts(chromium_no_camera.new_context()))
    result = run_check(page)
    assert result["grade"] == "audio_only"
    assert page.locator("[data-advice-for=camera_missing]").is_visible()
    assert _step(page, "microphone") == "ok"


def test_speaker_not_heard_gives_advice(live_server, chromium, contexts):
    page, citizen_id = _to_device_check(live_server, contexts(chromium.new_context()))
    run_check(page, heard=False)
    assert page.locator("[data-advice-for=speaker_not_heard]").is_visible()
    assert _step(page, "speaker") == "failed"
    page.locator("[data-check-form] button").click()
    assert "Testton" in page.locator(".warning-summary").inner_text()


@pytest.fixture(scope="session")
def silent_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(struct.pack("<h", 0) * 48000 * 10)
    return path


@pytest.fixture(scope="session")
def chromium_silent_microphone(playwright, silent_wav):
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
        *BASE_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={silent_wav}"])
    yield browser
    browser.close()


def test_silent_microphone_is_noticed(live_server, chromium_silent_microphone, contexts):
    page, citizen_id = _to_device_check(live_server,
                                        contexts(chromium_silent_microphone.new_context()))
    result = run_check(page)
    assert result["grade"] == "not_ready"
    assert _step(page, "microphone") == "failed"
    assert page.locator("[data-advice-for=microphone_silent]").is_visible()


def test_unsupported_browser_gets_plain_advice(live_server, chromium, contexts):
    old_firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:60.0) Gecko/20100101 Firefox/60.0"
    page, _ = _to_device_check(live_server, contexts(chromium.new_context(user_agent=old_firefox)))
    text = page.locator("main").inner_text()
    assert "nicht geeignet" in text and "aktualisieren" in text
    assert_accessible(page, "device check: unsupported browser")


def test_public_technik_check_runs_without_appointment_and_stores_nothing(
        live_server, chromium, contexts, playwright):
    from portal.extensions import db

    page = contexts(chromium.new_context(**playwright.devices["Pixel 7"])).new_page()
    page.goto(f"{live_server.url}/technik-check")
    result = run_check(page)
    assert result["grade"] == "good" and int(result["durationMs"]) < 10_000
    assert_accessible(page, "Technik-Check with result")
    with live_server.app.app_context():
        dump = "\n".join(db.session.connection().connection.driver_connection.iterdump())
        assert "Pixel 7" not in dump and "127.0.0.1" not in dump
        db.session.remove()


def test_unreachable_stun_server_is_reported_as_a_blocked_network(live_server, chromium,
                                                                  contexts):
    # A STUN server that does not answer (nothing listens on this loopback port): only host
    # candidates appear, so video through a firewall is doubtful.
    live_server.app.config["ICE_SERVERS"] = [{"urls": f"stun:127.0.0.1:{free_port()}"}]
    page = contexts(chromium.new_context()).new_page()
    page.goto(f"{live_server.url}/technik-check")
    run_check(page)
    assert page.locator('[data-step="ice"]').get_attribute("data-status") == "failed"
    assert page.locator("[data-advice-for=media_blocked]").is_visible()


def test_a_refused_measurement_reports_no_figures_rather_than_wrong_ones(
        live_server, chromium, contexts):
    # The portal's volume limit is spent at once: the check must not call the line slow.
    live_server.app.config["NETCHECK_VOLUME_LIMIT"] = "1 per minute"
    page, citizen_id = _to_device_check(live_server, contexts(chromium.new_context()))
    result = run_check(page)
    assert result["downloadKbps"] == "" and result["uploadKbps"] == ""
    assert _step(page, "download") == "failed" and _step(page, "upload") == "failed"
    page.locator("[data-check-form] button").click()
    page.locator(".warning-summary button").click()  # go on despite the warning
    page.wait_for_url("**/termin/wartebereich")
    stored = _stored_check(live_server, citizen_id)
    assert stored.download_kbps is None and stored.upload_kbps is None
