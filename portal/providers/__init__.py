"""Conferencing providers: where the portal hands admitted participants over.

The portal admits people in its own waiting room first, so a provider's own lobby is bypassed
or off for the URLs it issues. docs/providers.md describes each provider and its settings.

Choosing a provider:
    get_provider(name=None)      the provider of that name (None: PORTAL_PROVIDER)
    provider_for(appointment)    the provider of this appointment: its live meeting's (fixed
                                 once prepared), else the advisor's choice
                                 (Appointment.provider), else PORTAL_PROVIDER
    available_providers()        those an advisor may choose (PORTAL_PROVIDERS, default first)
    choose(appointment, name)    the advisor's choice for one appointment, checked
    label_of(name)               the translated name of a provider, e.g. "Jitsi Meet"

Each provider (the Provider protocol below) prepares a meeting, gives each participant and
the advisor a join URL, tells whether the meeting runs and ends it. Failures raise
ProviderError (portal.providers.errors) with a stable `reason` and a translated `message`
for the advisor; the row in provider_meeting records the last one for the queue. Every
method may change that row: the caller commits, also after a ProviderError (so the failure
is kept) — and shows the message instead of failing the request.

BigBlueButton's end callback: meetings.END_CALLBACK_RULE is the route to serve;
meetings.meeting_for_end_callback(token) finds the meeting (None: answer 404).
"""

from __future__ import annotations

from typing import Protocol

from flask import current_app
from flask_babel import gettext as _

from ..config import PROVIDER_NAMES
from ..models import Advisor, Appointment, Participant
from .errors import REASONS, ProviderError

__all__ = ["Provider", "ProviderError", "REASONS", "available_providers", "choose",
           "get_provider", "label_of", "provider_for"]


class Provider(Protocol):
    name: str
    #: True when the call runs on the portal's own pages (no hand-off to another site).
    builtin: bool

    @property
    def label(self) -> str:
        """Translated name, e.g. "Jitsi Meet"."""

    @property
    def receives(self) -> str:
        """Translated short text: what the provider receives from the portal."""

    def prepare(self, appointment: Appointment) -> None:
        """Create the meeting if needed (idempotent; timeouts and a bounded retry inside)."""

    def join_url(self, appointment: Appointment, participant: Participant | None = None,
                 advisor: Advisor | None = None) -> str:
        """Where this participant (guest/viewer) or the advisor (host/moderator) joins. May
        call the provider (it prepares the meeting if needed, renews expired links)."""

    def end(self, appointment: Appointment) -> None:
        """End the meeting for everyone; best effort (a failure is logged, never raised)."""

    def is_running(self, appointment: Appointment) -> bool | None:
        """Whether someone is in the meeting; None when unknown or not supported."""


def label_of(name: str) -> str:
    return {
        "builtin": _("Video call in the portal"),
        "jitsi": _("Jitsi Meet"),
        "bigbluebutton": _("BigBlueButton"),
        "webex": _("Webex"),
        "link": _("Personal meeting room"),
    }.get(name, name)


def _classes() -> dict[str, type]:
    from .bigbluebutton import BigBlueButtonProvider
    from .builtin import BuiltinProvider
    from .jitsi import JitsiProvider
    from .link import LinkProvider
    from .webex import WebexProvider

    return {cls.name: cls for cls in (BuiltinProvider, JitsiProvider, BigBlueButtonProvider,
                                      WebexProvider, LinkProvider)}


def get_provider(name: str | None = None) -> Provider:
    """The provider of that name (None: the default). One that is not configured on this
    portal raises ProviderError("misconfigured")."""
    name = name or current_app.config["PROVIDER"]
    if name not in current_app.config["PROVIDERS"] or name not in PROVIDER_NAMES:
        raise ProviderError("misconfigured", name, "not in PORTAL_PROVIDERS")
    return _classes()[name]()


def available_providers() -> list[Provider]:
    """Those an advisor may choose, the default first."""
    config = current_app.config
    names = [config["PROVIDER"], *(n for n in config["PROVIDERS"] if n != config["PROVIDER"])]
    return [get_provider(name) for name in names]


def provider_for(appointment: Appointment) -> Provider:
    row = appointment.provider_meeting
    if row is not None and row.prepared_at is not None and row.ended_at is None:
        return get_provider(row.provider)
    return get_provider(appointment.provider)


def choose(appointment: Appointment, name: str | None) -> None:
    """Set the provider of one appointment (None: the default). Raises ProviderError:
    not_available (not configured here), no_personal_room (`link` without the advisor's
    personal room URL), already_prepared (the meeting exists with another provider)."""
    if name is not None and name not in current_app.config["PROVIDERS"]:
        raise ProviderError("not_available", name if name in PROVIDER_NAMES else "?")
    effective = name or current_app.config["PROVIDER"]
    if effective == "link" and not appointment.advisor.personal_room_url:
        raise ProviderError("no_personal_room", "link")
    row = appointment.provider_meeting
    if row is not None and row.ended_at is None and row.prepared_at is not None \
            and row.provider != effective:
        raise ProviderError("already_prepared", row.provider)
    appointment.provider = name
