"""Translated names for the portal's states and roles, shared by pages and e-mails."""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext as _

from .models import (
    AppointmentStatus,
    DeviceOutcome,
    JourneyState,
    MailStatus,
    ParticipantRole,
)


def role_label(role: ParticipantRole) -> str:
    return {
        ParticipantRole.CITIZEN: _("citizen"),
        ParticipantRole.INTERPRETER: _("interpreter"),
        ParticipantRole.LEGAL_REPRESENTATIVE: _("legal representative"),
        ParticipantRole.OTHER: _("other participant"),
    }[role]


def status_label(status: AppointmentStatus) -> str:
    return {
        AppointmentStatus.SCHEDULED: _("scheduled"),
        AppointmentStatus.CANCELLED: _("cancelled"),
        AppointmentStatus.ENDED: _("ended"),
    }[status]


def journey_label(state: JourneyState) -> str:
    return {
        JourneyState.INVITED: _("invited"),
        JourneyState.LINK_OPENED: _("link opened"),
        JourneyState.CONSENTED: _("consented"),
        JourneyState.DECLINED: _("declined"),
        JourneyState.CHECKED: _("device checked"),
        JourneyState.WAITING: _("waiting"),
        JourneyState.LEFT: _("left the waiting room"),
        JourneyState.ADMITTED: _("admitted"),
        JourneyState.IN_CALL: _("in the call"),
        JourneyState.LEFT_CALL: _("left the call"),
        JourneyState.DONE: _("call ended"),
    }[state]


def outcome_label(outcome: DeviceOutcome) -> str:
    return {
        DeviceOutcome.OK: _("works"),
        DeviceOutcome.SILENT: _("no sound"),
        DeviceOutcome.DENIED: _("blocked"),
        DeviceOutcome.MISSING: _("none"),
        DeviceOutcome.ERROR: _("failed"),
        DeviceOutcome.UNTESTED: _("not tested"),
        DeviceOutcome.NOT_HEARD: _("not heard"),
    }[outcome]


def grade_label(grade: str) -> str:
    return {
        "good": _("ready for good video"),
        "video": _("ready for video"),
        "audio_only": _("sound only"),
        "not_ready": _("not ready"),
    }.get(grade, grade)


def warning_label(warning: str) -> str:
    return {
        "camera_black": _("picture black"),
        "camera_frozen": _("picture frozen"),
        "camera_slow": _("picture jerky"),
        "microphone_clipping": _("microphone overdriven"),
        "media_blocked": _("camera/microphone blocked"),
        "uncertain": _("check incomplete"),
        "network_slow": _("connection weak"),
        "relay_tcp_only": _("video relay over TCP only"),
        "relay_unreachable": _("video relay unreachable"),
    }.get(warning, warning)


def device_label(device_type: str | None) -> str:
    return {
        "mobile": _("phone"),
        "tablet": _("tablet"),
    }.get(device_type or "", _("computer"))


def init_app(app: Flask) -> None:
    # Templates compare with the enums themselves, never with their stored strings.
    for enum in (AppointmentStatus, DeviceOutcome, JourneyState, MailStatus, ParticipantRole):
        app.add_template_global(enum, enum.__name__)
    app.add_template_global(device_label)
    app.add_template_global(warning_label)
    app.add_template_global(outcome_label)
    app.add_template_global(grade_label)
    app.add_template_global(role_label)
    app.add_template_global(status_label)
    app.add_template_global(journey_label)
