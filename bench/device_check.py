"""Benchmark: the portal's device check against speedtest-cli on the same shaped links.

For each rate (tc tbf in a network namespace, see tests/netlab.py) it runs the check in
Chromium and speedtest-cli's engine against the portal's Speedtest-Mini endpoints, and prints
duration and error of both as a Markdown table. Needs root, iproute2 and Debian's Chromium.

    sudo .venv/bin/python bench/device_check.py [--runs 3] [--rates 500,2000,10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from werkzeug.serving import make_server  # noqa: E402

from portal import create_app  # noqa: E402
from tests import netlab  # noqa: E402
from tests.helpers import free_port  # noqa: E402

SPEEDTEST = """
import json, time
from portal.netcheck.speedtest_engine import measure
started = time.monotonic()
r = measure({url!r}, seconds=10)
print(json.dumps({{"download_kbps": r.download_bps / 1000, "upload_kbps": r.upload_bps / 1000,
                  "duration_s": time.monotonic() - started}}))
"""


def in_namespace(link, *args) -> dict:
    done = subprocess.run(link.command(sys.executable, *args), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_rate(app, rate_kbit: int, runs: int) -> dict:
    checks, speedtests = [], []
    with netlab.shaped_link(rate_kbit) as link:
        port = free_port()
        server = make_server(link.host_address, port, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://{link.host_address}:{port}"
        try:
            # All checks first: speedtest-cli leaves seconds of queued upload data on a slow
            # link, which would slow down a check run right after it.
            for _ in range(runs):
                checks.append(in_namespace(link, "-m", "tests.check_client",
                                           f"{base}/technik-check"))
                time.sleep(1)
            for _ in range(runs):
                speedtests.append(in_namespace(link, "-c", SPEEDTEST.format(url=f"{base}/")))
        finally:
            server.shutdown()
            thread.join(5)

    def err(results, key):  # mean absolute error in per cent, and the worst one
        errors = [abs(r[key] / rate_kbit - 1) * 100 for r in results]
        return statistics.mean(errors), max(errors)

    return {
        "rate": rate_kbit,
        "check_s": statistics.mean(r["duration_s"] for r in checks),
        "check_s_max": max(r["duration_s"] for r in checks),
        "check_down": err(checks, "download_kbps"), "check_up": err(checks, "upload_kbps"),
        "st_s": statistics.mean(r["duration_s"] for r in speedtests),
        "st_down": err(speedtests, "download_kbps"), "st_up": err(speedtests, "upload_kbps"),
        "grades": sorted({r["grade"] for r in checks}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rates", default="500,2000,10000", help="kbit/s, comma-separated")
    args = parser.parse_args()
    if reason := netlab.unavailable_reason():
        sys.exit(f"cannot shape links here: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"TESTING": True, "SECRET_KEY": os.urandom(16).hex(),
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
                          "NETCHECK_RATE_LIMIT": "10000 per minute"})
        rows = [measure_rate(app, int(rate), args.runs) for rate in args.rates.split(",")]
    print(f"{args.runs} runs per rate; error = |measured / shaped − 1|, mean (worst)\n")
    print("| shaped link | check: duration (worst) | check: download error | check: upload error "
          "| grade | speedtest-cli: duration | speedtest-cli: download error "
          "| speedtest-cli: upload error |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['rate'] / 1000:g} Mbit/s | {r['check_s']:.1f} s ({r['check_s_max']:.1f} s) "
              f"| {r['check_down'][0]:.1f} % ({r['check_down'][1]:.1f} %) "
              f"| {r['check_up'][0]:.1f} % ({r['check_up'][1]:.1f} %) | {', '.join(r['grades'])} "
              f"| {r['st_s']:.1f} s | {r['st_down'][0]:.1f} % ({r['st_down'][1]:.1f} %) "
              f"| {r['st_up'][0]:.1f} % ({r['st_up'][1]:.1f} %) |")


if __name__ == "__main__":
    main()
