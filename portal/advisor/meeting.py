"""How an appointment's video meeting shows on the advisor's pages: the provider (chosen, or
fixed once the meeting is prepared) and the last failure at the provider, with its reason.

The queue's fingerprint (fingerprint.py) covers everything this reads: Appointment.provider
and the provider_meeting row's provider, prepared_at, ended_at, last_failure and its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from ..models import Appointment
from ..providers import REASONS, ProviderError, label_of


@dataclass(frozen=True)
class MeetingView:
    provider: str  # its name, e.g. "jitsi"
    label: str  # translated, e.g. "Jitsi Meet"
    fixed: bool  # prepared and not ended: the provider can no longer change
    failure: str | None  # the translated reason of the last failure, while it stands
    failure_at: datetime | None


def meeting_view(appointment: Appointment) -> MeetingView:
    row = appointment.provider_meeting
    live = row is not None and row.ended_at is None
    fixed = live and row.prepared_at is not None
    name = row.provider if fixed else (appointment.provider or current_app.config["PROVIDER"])
    failure = failure_at = None
    if live and row.last_failure in REASONS:
        failure = ProviderError(row.last_failure, row.provider).message
        failure_at = row.last_failure_at
    return MeetingView(name, label_of(name), fixed, failure, failure_at)
