"""Reminder e-mails before an appointment (PORTAL_REMINDER_MINUTES, by default 24 hours and
1 hour), in each participant's language, with a personal link, the calendar entry and, for
whoever may cancel, a cancel link. `flask mail send-pending` (every minute) writes the due
ones into the outbox and sends them with everything else.

- Never twice: a Reminder row per participant, start time and lead is inserted with ON
  CONFLICT DO NOTHING before the mail is written, in the same transaction; of two senders
  running at once only the one whose row went in writes the mail.
- Never for a cancelled appointment, and a moved one is reminded anew: only scheduled
  appointments are looked at, keyed by their current start time; a reminder still in the
  outbox when its appointment is cancelled or moved is not sent (`is_obsolete`).
- Not right after the invitation: a lead whose moment came before the person's latest
  invitation or update is skipped; when the job was not running and several leads are due,
  only the nearest is sent (the others are recorded as skipped).
- Its link is a token of its own (only the hash is kept, on the Reminder row): tokens exist
  only as hashes, so a mail needs a new one, but unlike a move's update it must not end the
  invitation's link or a session already open. It works while the appointment still starts
  at the reminded time (portal/access.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..access import may_cancel
from ..extensions import db
from ..models import (
    Appointment,
    AppointmentStatus,
    JourneyState,
    MailKind,
    Participant,
    Reminder,
    utcnow,
)
from ..tokens import new_token, personal_link
from . import outbox
from .compose import compose

# Already there or past it: no reminder (the waiting room or the call is their page), nor for
# whoever declined.
NOT_REMINDED = frozenset({JourneyState.DECLINED, JourneyState.WAITING, JourneyState.ADMITTED,
                          JourneyState.IN_CALL, JourneyState.LEFT_CALL, JourneyState.DONE})
ANNOUNCING = (MailKind.INVITATION, MailKind.UPDATE)


def _insert_once(**values) -> bool:
    """Insert a Reminder row unless its (participant, start, lead) exists; True if inserted."""
    dialect = db.session.get_bind(Reminder.__mapper__).dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    inserted = db.session.execute(
        insert(Reminder).values(created_at=utcnow(), **values).on_conflict_do_nothing(
            index_elements=["participant_id", "starts_at", "lead_minutes"])
        .returning(Reminder.id)).scalar_one_or_none()
    return inserted is not None


def _last_announced(participant: Participant) -> datetime | None:
    return max((m.created_at for m in participant.mails if m.kind in ANNOUNCING), default=None)


def enqueue_due(now: datetime | None = None) -> int:
    """Write the reminders that are due now into the outbox. Returns how many were written.
    Commits once per participant."""
    now = now or utcnow()
    leads = current_app.config["REMINDER_MINUTES"]
    if not leads:
        return 0
    candidates = db.session.scalars(
        select(Appointment).where(
            Appointment.status == AppointmentStatus.SCHEDULED, Appointment.starts_at > now,
            Appointment.starts_at <= now + timedelta(minutes=max(leads)))
        .order_by(Appointment.starts_at, Appointment.id)
        .options(selectinload(Appointment.participants).selectinload(Participant.mails))).all()
    written = 0
    for appointment in candidates:
        for participant in appointment.participants:
            if not participant.email or participant.erased_at or \
                    participant.journey_state in NOT_REMINDED:
                continue
            written += _remind(appointment, participant, leads, now)
    return written


def _remind(appointment: Appointment, participant: Participant, leads: list[int],
            now: datetime) -> int:
    due = [lead for lead in leads if now >= appointment.starts_at - timedelta(minutes=lead)]
    if not due:
        return 0
    nearest = min(due)
    announced = _last_announced(participant)
    written = 0
    for lead in due:
        moment = appointment.starts_at - timedelta(minutes=lead)
        send = lead == nearest and (announced is None or announced <= moment)
        token, token_hash = new_token() if send else (None, None)
        if not _insert_once(participant_id=participant.id, starts_at=appointment.starts_at,
                            lead_minutes=lead, token_hash=token_hash):
            continue  # another sender (or an earlier run) has it
        if send:
            link = personal_link(token)
            row = outbox.put(appointment, participant, MailKind.REMINDER, compose(
                appointment, participant, MailKind.REMINDER, link,
                cancel_link=f"{link}/absagen" if may_cancel(participant) else None))
            db.session.flush()
            db.session.execute(Reminder.__table__.update().where(
                Reminder.token_hash == token_hash).values(mail_id=row.id))
            written += 1
    db.session.commit()
    return written

