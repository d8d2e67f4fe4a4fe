"""Conferencing providers: where the portal hands admitted participants over.

A provider prepares a meeting for an appointment, gives each participant (and the advisor) a
join URL, and ends the meeting. The portal admits people in its own waiting room first, so a
provider's own lobby should be off or bypassed for the URLs it issues. Chosen by PORTAL_PROVIDER.
"""

from __future__ import annotations

from typing import Protocol

from flask import current_app

from ..models import Advisor, Appointment, Participant


class Provider(Protocol):
    name: str
    #: True when the call runs on the portal's own pages (no hand-off to another site).
    builtin: bool

    def prepare(self, appointment: Appointment) -> None:
        """Create the meeting if needed (idempotent); may set appointment.provider_ref."""

    def join_url(self, appointment: Appointment, *, participant: Participant | None = None,
                 advisor: Advisor | None = None) -> str:
        """Where this participant or advisor joins the meeting."""

    def end(self, appointment: Appointment) -> None:
        """End the meeting for everyone."""


def get_provider() -> Provider:
    from .builtin import BuiltinProvider

    registry = {"builtin": BuiltinProvider}
    name = current_app.config["PROVIDER"]
    try:
        return registry[name]()
    except KeyError:
        raise RuntimeError(f"unknown PORTAL_PROVIDER {name!r}; known: {sorted(registry)}") from None
