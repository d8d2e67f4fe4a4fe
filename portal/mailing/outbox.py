"""The outbox: mail is stored with the change that causes it and delivered afterwards.

An SMTP failure therefore loses nothing: the row stays pending and is retried with
exponential back-off (right after the request, then by `flask mail send-pending`).
Without a configured MAIL_SERVER, messages are written as .eml files to OUTBOX_DIR.

Flask-Mail composes the messages (flask_mail.Message, which reads its defaults from the
extension set up in create_app) but does not send them. Its transport (Mail.connect(),
flask_mail.Connection, version 0.10) cannot do what the outbox needs:
- it sends a Message object, serialising it anew; the outbox sends the bytes it stored in
  the transaction that caused the mail, to the stored recipient;
- it opens the connection without a timeout (no MAIL_TIMEOUT): an SMTP server that accepts
  the connection and then says nothing would hold the request that delivers after its
  commit, and `mail send-pending`, for ever;
- its SMTP_SSL and STARTTLS use no SSL context, so smtplib falls back to one that does not
  verify the server's certificate or name: anyone on the path could read mails that hold
  personal links;
- it sends nothing while TESTING (MAIL_SUPPRESS_SEND defaults to it), where the suite
  talks to a real SMTP server.
So SmtpTransport below speaks SMTP itself with smtplib, with the same MAIL_* settings.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

from flask import current_app
from flask_mail import Message
from sqlalchemy import select, update

from ..extensions import db
from ..models import (
    Appointment,
    AppointmentStatus,
    MailKind,
    MailStatus,
    OutgoingMail,
    Participant,
    Reminder,
    utcnow,
)

MAX_BACKOFF = timedelta(hours=6)
CLAIM_FOR = timedelta(minutes=5)  # a crashed sender's claim expires after this


def put(appointment: Appointment, participant: Participant | None, kind: MailKind,
        msg: Message) -> OutgoingMail:
    """Add a message to the outbox in the caller's transaction (nothing is sent here).

    Without a participant the mail goes to the message's own recipient (the advisor)."""
    if msg.has_bad_headers():
        raise ValueError("message headers contain newlines")
    row = OutgoingMail(
        recipient=participant.email if participant else msg.recipients[0],
        kind=kind,
        message=msg.as_bytes(),
        participant=participant,
        appointment_id=appointment.id,
    )
    db.session.add(row)
    return row


class _Transport:
    def send(self, sender: str, recipient: str, raw: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


class SmtpTransport(_Transport):
    def __init__(self, cfg):
        self.cfg = cfg
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        timeout = cfg["MAIL_TIMEOUT"]
        if cfg["MAIL_USE_SSL"]:
            conn = smtplib.SMTP_SSL(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout,
                                    context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout)
            if cfg["MAIL_USE_TLS"]:
                conn.starttls(context=ssl.create_default_context())
        if cfg["MAIL_USERNAME"] and cfg["MAIL_PASSWORD"]:
            conn.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        return conn

    def send(self, sender: str, recipient: str, raw: bytes) -> None:
        if self.conn is None:
            self.conn = self._connect()
        self.conn.sendmail(sender, [recipient], raw)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except smtplib.SMTPException:
                pass
            except OSError:
                pass
            self.conn = None


class FileTransport(_Transport):
    """Writes each message to a folder: the embedded default for development and demos."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    def send(self, sender: str, recipient: str, raw: bytes) -> None:
        # Mails hold names, addresses and personal links: owner only.
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        # Sorts by time; the random part keeps two mails of one clock tick apart.
        path = self.folder / f"{stamp}-{secrets.token_hex(4)}.eml"
        tmp = path.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
            file.write(raw)
        tmp.replace(path)  # readers never see half a file


def transport() -> _Transport:
    cfg = current_app.config
    if cfg.get("MAIL_SERVER"):
        return SmtpTransport(cfg)
    return FileTransport(cfg["OUTBOX_DIR"])


def _backoff(attempts: int) -> timedelta:
    base = current_app.config["MAIL_RETRY_BASE_SECONDS"]
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _claim(mail_id: int) -> bool:
    """Take a due row for this sender; another process running send-pending skips it."""
    now = utcnow()
    result = db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id == mail_id, OutgoingMail.status == MailStatus.PENDING,
               OutgoingMail.next_attempt_at <= now)
        .values(next_attempt_at=now + CLAIM_FOR)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _obsolete_reminder(row: OutgoingMail) -> bool:
    """A reminder whose appointment was cancelled or moved after it was written."""
    if row.kind is not MailKind.REMINDER:
        return False
    reminder = db.session.scalar(select(Reminder).where(Reminder.mail_id == row.id))
    appointment = db.session.get(Appointment, row.appointment_id) if row.appointment_id \
        else None
    return reminder is None or appointment is None or \
        appointment.status is not AppointmentStatus.SCHEDULED or \
        appointment.starts_at != reminder.starts_at


def deliver(ids: list[int] | None = None) -> tuple[int, int]:
    """Send due pending mail (only `ids`, if given). Returns (sent, not sent)."""
    query = select(OutgoingMail.id).where(
        OutgoingMail.status == MailStatus.PENDING, OutgoingMail.next_attempt_at <= utcnow()
    ).order_by(OutgoingMail.id)
    if ids is not None:
        if not ids:
            return 0, 0
        query = query.where(OutgoingMail.id.in_(ids))
    due = list(db.session.scalars(query))
    sent = failed = 0
    link = transport()
    sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    try:
        for mail_id in due:
            if not _claim(mail_id):
                continue
            row = db.session.get(OutgoingMail, mail_id)
            if _obsolete_reminder(row):
                # Not sent, and shown as not sent; the link it held goes with the message.
                row.status = MailStatus.FAILED
                row.last_error = "obsolete: the appointment was cancelled or moved"
                row.message = None
                db.session.commit()
                continue
            row.attempts += 1
            try:
                if not row.recipient or not row.message:
                    raise ValueError("message was erased before it could be sent")
                link.send(sender, row.recipient, row.message)
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                link.close()  # a broken connection is not reused for the next message
                # SMTP errors often quote the address; keep it out of the table and the log.
                error = f"{type(exc).__name__}: {exc}"
                row.last_error = error.replace(row.recipient or "\0", "<recipient>")[:500]
                if row.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
                    row.status = MailStatus.FAILED
                else:
                    row.next_attempt_at = utcnow() + _backoff(row.attempts)
                failed += 1
                current_app.logger.warning("mail %s not sent (attempt %s): %s",
                                           row.id, row.attempts, row.last_error)
            else:
                row.status = MailStatus.SENT
                row.sent_at = utcnow()
                row.last_error = None
                # The body holds the personal link: once delivered, it is not kept.
                row.message = None
                sent += 1
            db.session.commit()
    finally:
        link.close()
    return sent, failed

