"""The participant's device check: the browser judged on the server, camera, microphone,
speaker and connection measured in the browser (static/js/check/), graded again here.

Results are stored only here, after consent: a DeviceCheck row with IP address and device.
The media-path step's outcome travels with the warnings: `relay_tcp_only` (the TURN relay
answered over TCP/TLS only) and `relay_unreachable` (no data through it at all: a problem the
participant confirms, and the advisor sees); nothing when no relay is configured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flask import current_app, redirect, render_template, request, url_for

from .. import journey
from ..access import may_check_devices, require_participant
from ..browsers import inspect
from ..extensions import db
from ..grading import GRADES, network_grade, overall_grade
from ..journey import next_endpoint
from ..models import DeviceCheck, DeviceOutcome
from ..statistics import count_device_check
from . import bp

KNOWN_WARNINGS = {"camera_black", "camera_frozen", "camera_slow", "microphone_clipping",
                  "media_blocked", "uncertain"}
# Only a configured relay can have been tested (relayPath in static/js/check/network.js).
RELAY_WARNINGS = {"relay_tcp_only", "relay_unreachable"}
FIELDS = ("camera", "microphone", "speaker", "download_kbps", "upload_kbps", "rtt_ms",
          "jitter_ms", "warnings")


def _outcome(value: str | None) -> DeviceOutcome:
    try:
        return DeviceOutcome(value or "untested")
    except ValueError:
        return DeviceOutcome.UNTESTED


def _number(value: str | None, upper: float) -> float | None:
    """A measured value from the form, or None when absent or not plausible."""
    try:
        number = float(value or "")
    except ValueError:
        return None
    return number if math.isfinite(number) and 0 <= number <= upper else None


@dataclass
class Measured:
    camera: DeviceOutcome
    microphone: DeviceOutcome
    speaker: DeviceOutcome
    download_kbps: float | None
    upload_kbps: float | None
    rtt_ms: float | None
    jitter_ms: float | None
    warnings: list[str]

    @classmethod
    def from_form(cls, form, *, relay_configured: bool = False) -> Measured:
        network = (_number(form.get("download_kbps"), 10_000_000),
                   _number(form.get("upload_kbps"), 10_000_000),
                   _number(form.get("rtt_ms"), 60_000), _number(form.get("jitter_ms"), 60_000))
        if None in network:  # the figures belong together: a part of them means nothing
            network = (None, None, None, None)
        known = KNOWN_WARNINGS | (RELAY_WARNINGS if relay_configured else set())
        return cls(
            camera=_outcome(form.get("camera")), microphone=_outcome(form.get("microphone")),
            speaker=_outcome(form.get("speaker")), download_kbps=network[0],
            upload_kbps=network[1], rtt_ms=network[2], jitter_ms=network[3],
            warnings=[w for w in (form.get("warnings") or "").split(",")[:10]
                      if w in known])

    @property
    def network_grade(self) -> str:
        kbps = None if self.download_kbps is None or self.upload_kbps is None else \
            min(self.download_kbps, self.upload_kbps)
        return network_grade(kbps, self.rtt_ms, self.jitter_ms)

    @property
    def grade(self) -> str:
        return overall_grade(self.network_grade, camera_ok=self.camera is DeviceOutcome.OK,
                             microphone_ok=self.microphone is DeviceOutcome.OK)


def _consented_participant():
    participant = require_participant()
    if not may_check_devices(participant):
        return participant, redirect(url_for("citizen.consent"))
    return participant, None


@bp.route("/termin/technik", methods=["GET", "POST"])
def device_check():
    participant, elsewhere = _consented_participant()
    if elsewhere:
        return elsewhere
    browser = inspect(request.headers.get("User-Agent"))
    measured = Measured.from_form(request.form,
                                  relay_configured=bool(current_app.config.get("TURN_URLS")))
    problems = [] if request.method == "GET" else _problems(browser, measured)

    if request.method == "POST" and (not problems or request.form.get("confirm") == "1"):
        journey.record_check(participant, problems)
        db.session.add(check := DeviceCheck(
            participant=participant, ip_address=request.remote_addr,
            user_agent=(request.headers.get("User-Agent") or "")[:500] or None,
            browser=browser.name[:60], browser_version=browser.version[:30],
            os=f"{browser.os} {browser.os_version}".strip()[:60],
            device_type=browser.device_type, browser_supported=browser.supported,
            camera=measured.camera, microphone=measured.microphone, speaker=measured.speaker,
            download_kbps=_int(measured.download_kbps), upload_kbps=_int(measured.upload_kbps),
            rtt_ms=measured.rtt_ms, jitter_ms=measured.jitter_ms, grade=measured.grade,
            warnings=",".join(measured.warnings) or None,
            continued_with_warning=bool(problems)))
        count_device_check(participant.appointment, check)  # anonymous: families, grade
        db.session.commit()
        return redirect(url_for(next_endpoint(participant)))

    submitted = {name: request.form.get(name, "")[:100] for name in FIELDS}
    return render_template("citizen/device_check.html", participant=participant,
                           browser=browser, problems=problems, submitted=submitted,
                           relay_check=True), 200


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _problems(browser, measured: Measured) -> list[str]:
    problems = []
    if not browser.supported:
        problems.append("browser")
    if measured.camera is not DeviceOutcome.OK:
        problems.append(f"camera_{measured.camera.value}")
    if measured.microphone is not DeviceOutcome.OK:
        problems.append(f"microphone_{measured.microphone.value}")
    if measured.speaker is DeviceOutcome.NOT_HEARD:
        problems.append("speaker_not_heard")
    if measured.rtt_ms is None:
        problems.append("network_untested")
    elif GRADES.index(measured.network_grade) < GRADES.index("video"):
        problems.append("network_slow")
    if "relay_unreachable" in measured.warnings:
        problems.append("relay_unreachable")
    return problems
