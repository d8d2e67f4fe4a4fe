"""The retention job: personal data of an appointment is erased RETENTION_DAYS after it ended.

What stays: the appointment's time and status, consent records (decision, text hash, time)
and audit events (ids and actions) — none of them names a person once the participant's
fields are erased — and the anonymous statistics (portal/statistics.py), which were counted
when things happened and hold nothing personal. Appointments that are over but were never
ended or cancelled get their outcome (a no-show, usually) counted first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from .extensions import db
from .models import (
    Appointment,
    CallPeer,
    CallSignal,
    OutgoingMail,
    Participant,
    Reminder,
    utcnow,
)
from .statistics import settle_finished


def purge(now: datetime | None = None) -> int:
    """Erase what is due. Returns the number of participants erased."""
    now = now or utcnow()
    settle_finished(now)  # counted before anything of them is erased
    cutoff = now - timedelta(days=current_app.config["RETENTION_DAYS"])
    # A first filter in SQL (ended, cancelled or started before the cutoff), the exact end
    # in Python. Erased appointments are skipped: the job stays cheap when run daily.
    finished_sql = func.coalesce(Appointment.ended_at, Appointment.cancelled_at,
                                 Appointment.starts_at)
    candidates = db.session.scalars(
        select(Appointment).where(finished_sql < cutoff, Appointment.participants.any(
            Participant.erased_at.is_(None))).options(
            selectinload(Appointment.participants).selectinload(Participant.mails),
            selectinload(Appointment.participants).selectinload(Participant.device_checks)))
    erased = 0
    for appointment in candidates:
        finished = appointment.ended_at or appointment.cancelled_at or appointment.ends_at
        if finished >= cutoff:
            continue
        for participant in appointment.participants:
            if participant.erased_at is None:
                participant.erase_personal_data()
                erased += 1
        appointment.topic = None
        appointment.waiting_message = None
        # Mail to the advisor names a participant too.
        db.session.execute(update(OutgoingMail).where(
            OutgoingMail.appointment_id == appointment.id, OutgoingMail.participant_id.is_(None)
        ).values(recipient=None, message=None, last_error=None))
        db.session.execute(delete(CallSignal).where(CallSignal.appointment_id == appointment.id))
        # Reminder rows hold their links' hashes: they go with the people.
        db.session.execute(delete(Reminder).where(Reminder.participant_id.in_(
            [p.id for p in appointment.participants])))
        db.session.execute(delete(CallPeer).where(CallPeer.appointment_id == appointment.id))
    db.session.commit()
    return erased


def purge_outbox_files(now: datetime | None = None) -> int:
    """Without an SMTP server, mails are written to OUTBOX_DIR whole (names, links):
    they go RETENTION_DAYS after they were written, and so does a half-written .tmp
    left by a crash. Returns the number of files removed."""
    folder = Path(current_app.config["OUTBOX_DIR"])
    cutoff = ((now or utcnow()) - timedelta(days=current_app.config["RETENTION_DAYS"])).timestamp()
    removed = 0
    files = [*folder.glob("*.eml"), *folder.glob("*.tmp")] if folder.is_dir() else []
    for path in files:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # removed meanwhile by another run
            continue
    return removed
