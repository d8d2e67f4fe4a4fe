"""Run the portal's device and network check in Chromium and print its result as JSON.

Used by the accuracy test and the benchmark inside a shaped network namespace:
    ip netns exec NS python -m tests.check_client http://10.213.x.1:PORT/technik-check
"""

from __future__ import annotations

import json
import sys
import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--use-fake-device-for-media-stream",
                 "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"]


def run_check(url: str, chromium: str = "/usr/bin/chromium") -> dict:
    origin = "/".join(url.split("/")[:3])
    # Camera and microphone need a secure context: HTTPS in production; here plain HTTP on a
    # test address, which Chromium is told to treat as secure.
    args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.on("console", lambda m: print(f"console {m.type}: {m.text}", file=sys.stderr))
            page.on("pageerror", lambda e: print(f"page error: {e}", file=sys.stderr))
            page.goto(url)
            start = page.locator("[data-start-check]")
            try:
                start.wait_for(timeout=20_000)  # visible once the check's script is ready
            except PlaywrightTimeout:
                page.reload()  # a script cut off on a slow link: load the page again
                start.wait_for(timeout=20_000)
            started = time.monotonic()
            page.locator("[data-start-check]").click()
            page.locator("[data-speaker-answer=yes]").click()
            page.locator("[data-check-result]").wait_for()
            wall = time.monotonic() - started
            data = page.evaluate(
                "() => ({...document.querySelector('[data-check-result]').dataset,"
                " ...document.querySelector('[data-device-check]').dataset})")
        finally:
            browser.close()
    return {"grade": data["grade"], "download_kbps": float(data["downloadKbps"]),
            "upload_kbps": float(data["uploadKbps"]), "rtt_ms": float(data["rttMs"]),
            "jitter_ms": float(data["jitterMs"]), "duration_s": int(data["durationMs"]) / 1000,
            "phases_ms": {k: int(data[f"{k}Ms"]) for k in ("latency", "download", "upload")},
            "wall_s": round(wall, 2)}


if __name__ == "__main__":
    print(json.dumps(run_check(sys.argv[1])))
