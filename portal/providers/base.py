"""What every provider does the same way around its own calls: the meeting row, recording a
failure for the queue, ending at most once, and logging (never raising) a failed end."""

from __future__ import annotations

import logging

from flask_babel import gettext as _

from ..models import Advisor, Appointment, Participant, ProviderMeeting, utcnow
from .errors import ProviderError
from .meetings import clear_secrets, meeting_of

log = logging.getLogger(__name__)


class BaseProvider:
    name = ""
    builtin = False

    @property
    def label(self) -> str:
        from . import label_of

        return label_of(self.name)

    @property
    def receives(self) -> str:
        return _("your display name (the name the agency has for you), nothing else")

    # -- the provider's own steps ----------------------------------------------------------

    def _prepare(self, appointment: Appointment, row: ProviderMeeting) -> None:
        """Create the meeting at the provider (idempotent)."""

    def _join_url(self, appointment: Appointment, row: ProviderMeeting,
                  participant: Participant | None, advisor: Advisor | None) -> str:
        raise NotImplementedError

    def _end(self, appointment: Appointment, row: ProviderMeeting) -> None:
        """End the meeting at the provider, if it can be ended."""

    def _is_running(self, appointment: Appointment, row: ProviderMeeting) -> bool | None:
        return None

    # -- the interface (portal.providers.Provider) -----------------------------------------

    def prepare(self, appointment: Appointment) -> None:
        row = meeting_of(appointment, self.name)
        try:
            self._prepare(appointment, row)
        except ProviderError as error:
            row.last_failure, row.last_failure_at = error.reason, utcnow()
            raise
        row.prepared_at = row.prepared_at or utcnow()
        row.last_failure = row.last_failure_at = None

    def join_url(self, appointment: Appointment, participant: Participant | None = None,
                 advisor: Advisor | None = None) -> str:
        if (participant is None) == (advisor is None):
            raise TypeError("join_url needs a participant or an advisor")
        row = appointment.provider_meeting
        if row is None or row.prepared_at is None or row.ended_at is not None \
                or row.provider != self.name:
            self.prepare(appointment)
            row = appointment.provider_meeting
        try:
            url = self._join_url(appointment, row, participant, advisor)
        except ProviderError as error:
            row.last_failure, row.last_failure_at = error.reason, utcnow()
            raise
        if row.last_failure is not None:  # it works again: the queue stops reporting it
            row.last_failure = row.last_failure_at = None
        return url

    def end(self, appointment: Appointment) -> None:
        row = appointment.provider_meeting
        if row is None or row.ended_at is not None:
            return
        if row.prepared_at is not None:
            try:
                self._end(appointment, row)
            except ProviderError as error:
                log.warning("Ending the meeting failed (it ends by itself later): %s", error)
        row.ended_at = utcnow()
        clear_secrets(row)

    def is_running(self, appointment: Appointment) -> bool | None:
        row = appointment.provider_meeting
        if row is None or row.prepared_at is None or row.ended_at is not None:
            return False  # no meeting (yet, or any more)
        try:
            return self._is_running(appointment, row)
        except ProviderError:
            return None  # unknown; http logged it
