"""A personal meeting room elsewhere (a Teams, Webex or Zoom personal room): the advisor
enters its https address in their profile (Advisor.personal_room_url); the portal admits
people in its waiting room, then shows them that address. The portal sends that service
nothing: people enter their name there themselves. Ending the appointment cannot end the
room; the advisor closes it there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_babel import gettext as _

from ..models import Advisor, Appointment, Participant, ProviderMeeting
from .base import BaseProvider
from .errors import ProviderError

MAX_LENGTH = 500  # Advisor.personal_room_url


def check_personal_room_url(value: str | None) -> tuple[str | None, str | None]:
    """(the URL to store, None) or (None, a translated error). An empty value removes it."""
    value = (value or "").strip()
    if not value:
        return None, None
    parts = urlsplit(value)
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None, _("Enter the full address of your meeting room, starting with https://.")
    if len(value) > MAX_LENGTH or any(ch.isspace() or ord(ch) < 32 for ch in value) \
            or parts.username or parts.password:
        return None, _("This does not look like the address of a meeting room.")
    return value, None


class LinkProvider(BaseProvider):
    name = "link"

    @property
    def receives(self) -> str:
        return _("nothing from the portal: you enter your name there yourself")

    def _prepare(self, appointment: Appointment, row: ProviderMeeting) -> None:
        if not appointment.advisor.personal_room_url:
            raise ProviderError("no_personal_room", self.name)

    def _join_url(self, appointment: Appointment, row: ProviderMeeting,
                  participant: Participant | None, advisor: Advisor | None) -> str:
        url = appointment.advisor.personal_room_url
        if not url:  # removed from the profile after the meeting was prepared
            raise ProviderError("no_personal_room", self.name)
        return url
