"""What a citizen and an advisor do in the browser, step by step."""

from __future__ import annotations

import time

from axe_playwright_python.sync_playwright import Axe

from ..conftest import PASSWORD

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
_axe = Axe()


def assert_accessible(page, name: str = "") -> None:
    results = _axe.run(page, options=WCAG)
    assert results.violations_count == 0, f"{name or page.url}:\n{results.generate_report()}"


def citizen_to_waiting_room(page, link: str, *, check_a11y: bool = False) -> None:
    page.goto(link)
    page.wait_for_url("**/termin")
    if check_a11y:
        assert_accessible(page, "start page")
    page.locator("main a.button").click()
    page.wait_for_url("**/termin/einwilligung")
    if check_a11y:
        assert_accessible(page, "consent")
    page.locator("button[value=agree]").click()
    page.wait_for_url("**/termin/technik")
    run_check(page)
    if check_a11y:
        assert_accessible(page, "device check")
    page.locator("[data-check-form] button").click()
    page.wait_for_url("**/termin/wartebereich")
    if check_a11y:
        assert_accessible(page, "waiting room")


def run_check(page, *, heard=True) -> dict:
    """Run the device check to its result; returns the result region's data attributes."""
    page.locator("[data-start-check]").click()
    page.locator("[data-speaker-question]").wait_for()
    page.locator(f"[data-speaker-answer={'yes' if heard else 'no'}]").click()
    result = page.locator("[data-check-result]")
    result.wait_for(timeout=30_000)
    return page.evaluate("() => ({...document.querySelector('[data-check-result]').dataset, "
                         "durationMs: document.querySelector('[data-device-check]')"
                         ".dataset.durationMs})")


def advisor_login(page, base_url: str, email="anna.berater@jobcenter.example") -> None:
    page.goto(f"{base_url}/anmelden")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url("**/beratung/termine")


def wait_for_state(page, participant_id: int, state: str) -> None:
    page.wait_for_selector(f'[data-participant="{participant_id}"][data-state="{state}"]')


def wait_for_video(*pages, frames=5, timeout=30.0) -> list[int]:
    """Until every page decodes video from every other peer (WebRTC getStats)."""
    deadline = time.monotonic() + timeout
    counts = []
    while time.monotonic() < deadline:
        counts = [p.evaluate("window.portalCall.inboundVideoFrames()") for p in pages]
        connected = [p.evaluate("window.portalCall.connectedPeers()") for p in pages]
        if all(c >= frames * (len(pages) - 1) for c in counts) and \
                all(n == len(pages) - 1 for n in connected):
            return counts
        time.sleep(0.5)
    raise AssertionError(f"video frames did not arrive: {counts}")
