"""Creating, rescheduling and cancelling appointments: one transaction each, mail via the outbox.

Web forms and the CLI validate input with `portal.validation` first, then call these functions.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from . import journey
from .audit import audit
from .extensions import db
from .mailing import outbox
from .mailing.compose import compose, compose_cancellation_notice
from .models import (
    Advisor,
    Appointment,
    AppointmentStatus,
    MailKind,
    OutgoingMail,
    Participant,
    ParticipantRole,
    utcnow,
)
from .providers import ProviderError, provider_for
from .tokens import new_token, personal_link

log = logging.getLogger(__name__)


@dataclass
class ParticipantSpec:
    role: ParticipantRole
    name: str
    email: str
    customer_number: str | None = None


@dataclass
class Outcome:
    appointment: Appointment
    links: dict[int, str] = field(default_factory=dict)  # participant id -> personal link


def _end_meeting(appointment: Appointment) -> None:
    """A meeting prepared for the appointment ends at its provider (best effort: a failure
    is logged). Called before anything else changes, so no participant or appointment row
    is locked while the provider is asked."""
    try:
        provider = provider_for(appointment)
    except ProviderError as error:  # its provider is no longer configured here
        log.warning("Ending the meeting at the provider skipped: %s", error)
        return
    provider.end(appointment)


def issue_link(participant: Participant) -> str:
    """A fresh token for the participant; any earlier link stops working."""
    token, participant.token_hash = new_token()
    return personal_link(token)


def _mail_everyone(appointment: Appointment, kind: MailKind, links: dict[Participant, str | None],
                   previous_start: datetime | None = None) -> list[OutgoingMail]:
    return [
        outbox.put(appointment, p, kind,
                     compose(appointment, p, kind, link, previous_start=previous_start))
        for p, link in links.items() if p.email
    ]


def _commit_and_deliver(rows: list[OutgoingMail]) -> None:
    db.session.commit()
    # Try at once; whatever fails stays pending for `flask mail send-pending`.
    outbox.deliver([r.id for r in rows])


def create_appointment(*, advisor: Advisor, starts_at: datetime, duration_minutes: int,
                       language: str, citizen: ParticipantSpec,
                       others: list[ParticipantSpec] = (), topic: str | None = None,
                       actor: str = "advisor", acting: Advisor | None = None) -> Outcome:
    appointment = Appointment(
        uid=secrets.token_hex(16), advisor=advisor, starts_at=starts_at,
        duration_minutes=duration_minutes, language=language, topic=topic or None)
    db.session.add(appointment)
    links: dict[Participant, str | None] = {}
    for spec in [citizen, *others]:
        participant = Participant(
            appointment=appointment, role=spec.role, name=spec.name, email=spec.email,
            customer_number=spec.customer_number or None, language=language)
        links[participant] = issue_link(participant)
        db.session.add(participant)
    db.session.flush()  # ids for the outbox and the audit trail

    rows = _mail_everyone(appointment, MailKind.INVITATION, links)
    audit("appointment.created", actor=actor, advisor=acting or advisor, appointment=appointment)
    _commit_and_deliver(rows)
    return Outcome(appointment, {p.id: link for p, link in links.items()})


def reschedule_appointment(appointment: Appointment, *, starts_at: datetime,
                           duration_minutes: int, actor: str = "advisor",
                           acting: Advisor | None = None) -> Outcome:
    """Move an appointment. Everyone gets an update with a new personal link."""
    if appointment.status is not AppointmentStatus.SCHEDULED:
        raise ValueError("only scheduled appointments can be rescheduled")
    _end_meeting(appointment)  # a call that was running belongs to the old time
    previous = appointment.starts_at
    appointment.starts_at = starts_at
    appointment.duration_minutes = duration_minutes
    appointment.sequence += 1
    appointment.waiting_message = appointment.waiting_message_at = None
    # A moved appointment starts the day afresh: nobody is waiting or admitted any more.
    journey.reschedule(appointment, actor=actor, advisor=acting,
                       detail=f"from {previous.isoformat()} to {starts_at.isoformat()}")
    links = {p: issue_link(p) for p in appointment.participants if p.erased_at is None}
    rows = _mail_everyone(appointment, MailKind.UPDATE, links, previous_start=previous)
    _commit_and_deliver(rows)
    return Outcome(appointment, {p.id: link for p, link in links.items()})


class NotChangeable(ValueError):
    """The appointment has been cancelled or has ended meanwhile."""


def cancel_appointment(appointment: Appointment, *, actor: str = "advisor",
                       acting: Advisor | None = None,
                       by_participant: Participant | None = None) -> Outcome:
    """Cancel; links stop working at once and everyone gets a METHOD:CANCEL mail.

    Raises NotChangeable if the appointment is no longer scheduled — also when a second
    request (a double click, another tab) cancels it at the same moment: the status
    changes in one conditional UPDATE, so only one request sends the mails."""
    if appointment.status is not AppointmentStatus.SCHEDULED:
        raise NotChangeable("only scheduled appointments can be cancelled")
    _end_meeting(appointment)
    # Every participant's state stays; the audit event is written only if the claim succeeds.
    journey.cancel(appointment, actor=actor, advisor=acting, by_participant=by_participant)
    claimed = db.session.execute(
        update(Appointment)
        .where(Appointment.id == appointment.id,
               Appointment.status == AppointmentStatus.SCHEDULED)
        .values(status=AppointmentStatus.CANCELLED, cancelled_at=utcnow(),
                sequence=Appointment.sequence + 1)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise NotChangeable("only scheduled appointments can be cancelled")
    db.session.refresh(appointment)
    links = {p: None for p in appointment.participants if p.erased_at is None}
    rows = _mail_everyone(appointment, MailKind.CANCELLATION, links)
    if by_participant is not None and appointment.advisor.active:
        rows.append(outbox.put(appointment, None, MailKind.CANCELLED_BY_PARTICIPANT,
                               compose_cancellation_notice(appointment, by_participant)))
    _commit_and_deliver(rows)
    return Outcome(appointment)
