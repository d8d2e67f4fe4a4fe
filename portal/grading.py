"""Grades for the device and network check: "not ready", "audio only", "video", "good".

The thresholds are a setting (CHECK_THRESHOLDS); the browser grades with the same numbers for
its display, and the server grades again from the measured values before storing.
"""

from __future__ import annotations

from flask import current_app

GRADES = ("not_ready", "audio_only", "video", "good")


def thresholds() -> dict:
    return current_app.config["CHECK_THRESHOLDS"]


def network_grade(kbps: float | None, rtt_ms: float | None, jitter_ms: float | None) -> str:
    """The best grade whose every threshold the link meets; unmeasured means not ready."""
    if kbps is None or rtt_ms is None or jitter_ms is None:
        return "not_ready"
    grade = "not_ready"
    for name in GRADES[1:]:
        t = thresholds()[name]
        if kbps >= t["kbps"] and rtt_ms < t["rtt_ms"] and jitter_ms < t["jitter_ms"]:
            grade = name
    return grade


def overall_grade(network: str, *, camera_ok: bool, microphone_ok: bool) -> str:
    """Devices cap the network's grade: no microphone, no call; no camera, audio only."""
    cap = "good" if camera_ok and microphone_ok else "audio_only" if microphone_ok \
        else "not_ready"
    return min(network, cap, key=GRADES.index)
