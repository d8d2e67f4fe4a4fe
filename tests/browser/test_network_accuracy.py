"""The check's numbers are true: Chromium in a network namespace behind a link shaped with
tc tbf to 0.5, 2 and 10 Mbit/s measures download and upload within ±15 %, and grades them
as the thresholds say."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal import create_app
from portal.grading import network_grade

from .. import netlab
from ..helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
REASON = netlab.unavailable_reason()


@pytest.fixture
def portal_app(config):
    return create_app(config)


def check_through(link: netlab.ShapedLink, app) -> dict:
    port = free_port()
    server = make_server(link.host_address, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = subprocess.run(
            link.command(sys.executable, "-m", "tests.check_client",
                         f"http://{link.host_address}:{port}/technik-check"),
            cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        thread.join(5)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
@pytest.mark.parametrize("rate_kbit, expected_grade", [(500, "audio_only"), (2000, "video"),
                                                       (10000, "good")])
def test_measured_rates_are_within_15_percent(portal_app, rate_kbit, expected_grade):
    with netlab.shaped_link(rate_kbit) as link:
        result = check_through(link, portal_app)
    print(f"{rate_kbit} kbit/s shaped: {result}")
    for direction in ("download_kbps", "upload_kbps"):
        error = result[direction] / rate_kbit - 1
        assert abs(error) <= 0.15, f"{direction} {result[direction]} vs {rate_kbit}: {error:+.0%}"
    with portal_app.app_context():
        graded = network_grade(min(result["download_kbps"], result["upload_kbps"]),
                               result["rtt_ms"], result["jitter_ms"])
    assert result["grade"] == graded == expected_grade
    assert result["duration_s"] <= 10
