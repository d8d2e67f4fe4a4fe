"""The portal's data. Every personal field is nullable so the retention job can erase it."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, false, types
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(types.TypeDecorator):
    """Stores naive UTC (portable across SQLite and PostgreSQL), returns aware UTC."""

    impl = types.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Role(enum.StrEnum):
    ADVISOR = "advisor"
    ADMIN = "admin"


class AppointmentStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    ENDED = "ended"


class ParticipantRole(enum.StrEnum):
    CITIZEN = "citizen"
    INTERPRETER = "interpreter"
    LEGAL_REPRESENTATIVE = "legal_representative"
    OTHER = "other"


class JourneyState(enum.StrEnum):
    """Where a participant is on the way from the invitation to the end of the call."""

    INVITED = "invited"
    LINK_OPENED = "link_opened"
    CONSENTED = "consented"
    DECLINED = "declined"
    CHECKED = "checked"  # device check done
    WAITING = "waiting"  # in the virtual waiting room
    LEFT = "left"  # left the waiting room ("Abbrechen"); may come back
    ADMITTED = "admitted"  # let in by the advisor; on the way to the call
    IN_CALL = "in_call"
    LEFT_CALL = "left_call"  # left the running call; the link brings them back in
    DONE = "done"  # the call has ended


class DeviceOutcome(enum.StrEnum):
    OK = "ok"
    SILENT = "silent"  # microphone delivers no signal
    DENIED = "denied"  # permission refused
    MISSING = "missing"  # no such device
    ERROR = "error"  # in use by another program, or another failure
    UNTESTED = "untested"  # no JavaScript, or skipped
    NOT_HEARD = "not_heard"  # speaker: the participant did not hear the test tone


class ConsentDecision(enum.StrEnum):
    AGREED = "agreed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class MailKind(enum.StrEnum):
    INVITATION = "invitation"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    # To the advisor: a participant cancelled (linked to the appointment, not a participant).
    CANCELLED_BY_PARTICIPANT = "cancelled_by_participant"
    REMINDER = "reminder"  # 24 h / 1 h before (PORTAL_REMINDER_MINUTES)


class SurveyState(enum.StrEnum):
    """All a participant's row says about the survey (never the answers); retention clears it."""

    OFFERED = "offered"
    ANSWERED = "answered"


class MailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def _enum(e: type[enum.Enum]):
    # Stored as plain strings (no native ENUM type) so adding a value needs no DDL.
    return db.Enum(e, native_enum=False, length=32, values_callable=lambda x: [m.value for m in x],
                   validate_strings=True)


class Advisor(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.ADVISOR)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Carried in every session (see get_id); raised on logout, password change and
    # deactivation, which ends every session signed with the old value on every instance.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # A personal meeting room elsewhere (Teams, Webex, Zoom) for the `link` provider; https
    # only (portal.providers.link.check_personal_room_url).
    personal_room_url: Mapped[str | None] = mapped_column(String(500))
    # The TOTP secret must be readable to verify codes, so it is stored as is: database
    # backups must be protected like the database itself (docs/privacy-and-security.md).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last accepted TOTP time step: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(types.BigInteger)

    appointments: Mapped[list[Appointment]] = relationship(back_populates="advisor")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="advisor", cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_generation}"

    def end_all_sessions(self) -> None:
        self.session_generation += 1

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def set_password(self, password: str) -> None:
        # Werkzeug 3 defaults to scrypt, a memory-hard KDF.
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class RecoveryCode(db.Model):
    """A one-time second-factor code for when the authenticator app is lost (SHA-256 only)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    advisor: Mapped[Advisor] = relationship(back_populates="recovery_codes")


class Appointment(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # A stable, non-guessable id for calendar UIDs (the numeric id would leak volumes).
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    duration_minutes: Mapped[int]
    status: Mapped[AppointmentStatus] = mapped_column(
        _enum(AppointmentStatus), default=AppointmentStatus.SCHEDULED)
    language: Mapped[str] = mapped_column(String(5), default="de")
    topic: Mapped[str | None] = mapped_column(String(200))  # personal: erased by retention
    sequence: Mapped[int] = mapped_column(default=0)  # iCalendar SEQUENCE
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A short note from the advisor to the waiting room ("I am running five minutes late").
    waiting_message: Mapped[str | None] = mapped_column(String(300))
    waiting_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The conferencing provider's meeting reference, once prepared.
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    # The provider the advisor chose for this appointment; None: PORTAL_PROVIDER at the time
    # the meeting is prepared (from then on the meeting's own provider counts).
    provider: Mapped[str | None] = mapped_column(String(32))
    # Its outcome (held, cancelled, no-show) is in the anonymous statistics: set by one
    # conditional UPDATE, so the outcome is counted exactly once (portal/statistics.py).
    outcome_counted: Mapped[bool] = mapped_column(default=False, server_default=false())

    advisor: Mapped[Advisor] = relationship(back_populates="appointments")
    participants: Mapped[list[Participant]] = relationship(
        back_populates="appointment", order_by="Participant.id", cascade="all, delete-orphan")
    provider_meeting: Mapped[ProviderMeeting | None] = relationship(
        back_populates="appointment", cascade="all, delete-orphan")

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def citizen(self) -> Participant | None:
        return next((p for p in self.participants if p.role == ParticipantRole.CITIZEN), None)


class ProviderMeeting(db.Model):
    """The meeting at a conferencing provider for one appointment (portal/providers).

    Nothing personal: the key is random (never the appointment's id or uid); display names are
    sent to the provider but not kept here. The Webex links are bearer secrets: cleared when
    the meeting ends."""

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointment.id", ondelete="CASCADE"), unique=True)
    # Fixed once prepared: "jitsi", "bigbluebutton", "webex", "link" or "builtin".
    provider: Mapped[str] = mapped_column(String(32))
    # BigBlueButton meetingID, Jitsi room name, Webex jwt.sub: 160 random bits, hex.
    meeting_key: Mapped[str] = mapped_column(String(64), unique=True)
    # BigBlueButton's createTime (ms), sent with every join so an old URL fits no later meeting.
    create_time: Mapped[int | None] = mapped_column(types.BigInteger)
    # Webex Instant Connect: the host's cipher, the guests' ciphers as JSON {participant id:
    # cipher}, and when they stop working.
    host_secret: Mapped[str | None] = mapped_column(Text)
    guest_secrets: Mapped[str | None] = mapped_column(Text)
    secrets_expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    prepared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last failure (a ProviderError reason) and when, for the advisor's queue.
    last_failure: Mapped[str | None] = mapped_column(String(32))
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    appointment: Mapped[Appointment] = relationship(back_populates="provider_meeting")


class Participant(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    role: Mapped[ParticipantRole] = mapped_column(_enum(ParticipantRole))
    name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    customer_number: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(5), default="de")
    # SHA-256 of the personal link's token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    journey_state: Mapped[JourneyState] = mapped_column(
        _enum(JourneyState), default=JourneyState.INVITED)
    link_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # waiting-room poll
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Only whether and when the advisor checked the ID on camera; never document data.
    identity_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Offered or answered the survey after the call; the answers are stored apart, unlinked.
    survey: Mapped[SurveyState | None] = mapped_column(_enum(SurveyState))

    appointment: Mapped[Appointment] = relationship(back_populates="participants")
    consents: Mapped[list[ConsentRecord]] = relationship(order_by="ConsentRecord.id")
    device_checks: Mapped[list[DeviceCheck]] = relationship(
        back_populates="participant", order_by="DeviceCheck.id", cascade="all, delete-orphan")
    mails: Mapped[list[OutgoingMail]] = relationship(
        back_populates="participant", order_by="OutgoingMail.id")

    @property
    def has_consented(self) -> bool:
        return bool(self.consents) and self.consents[-1].decision is ConsentDecision.AGREED

    @property
    def device_check(self) -> DeviceCheck | None:
        return self.device_checks[-1] if self.device_checks else None

    @property
    def latest_mail(self) -> OutgoingMail | None:
        return self.mails[-1] if self.mails else None

    def erase_personal_data(self) -> None:
        self.name = self.email = self.customer_number = None
        self.survey = None
        # The old link's hash would tie this row to whoever still has the e-mail.
        self.token_hash = secrets.token_hex(32)
        self.erased_at = utcnow()
        for m in self.mails:
            m.erase_personal_data()
        # Device, address and measurements describe this person's set-up: all of it goes.
        self.device_checks.clear()


class OutgoingMail(db.Model):
    """The outbox: written in the same transaction as the change that causes the mail."""

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="SET NULL"), index=True)
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participant.id", ondelete="SET NULL"), index=True)
    recipient: Mapped[str | None] = mapped_column(String(254))
    kind: Mapped[MailKind] = mapped_column(_enum(MailKind))
    status: Mapped[MailStatus] = mapped_column(_enum(MailStatus), default=MailStatus.PENDING,
                                               index=True)
    # The complete MIME message. It holds the personal link, so it is erased once delivered.
    message: Mapped[bytes | None] = mapped_column(types.LargeBinary)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    participant: Mapped[Participant | None] = relationship(back_populates="mails")

    def erase_personal_data(self) -> None:
        self.recipient = None
        self.message = None
        self.last_error = None


class ConsentRecord(db.Model):
    """What a participant decided, on exactly which text (its SHA-256), in which language."""

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    decision: Mapped[ConsentDecision] = mapped_column(_enum(ConsentDecision))
    text_sha256: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(5))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceCheck(db.Model):
    """The result of one device check. Stored only after consent; personal (IP, device)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    browser: Mapped[str | None] = mapped_column(String(60))
    browser_version: Mapped[str | None] = mapped_column(String(30))
    os: Mapped[str | None] = mapped_column(String(60))
    device_type: Mapped[str | None] = mapped_column(String(20))  # mobile, tablet, desktop
    browser_supported: Mapped[bool] = mapped_column(default=False)
    camera: Mapped[DeviceOutcome] = mapped_column(_enum(DeviceOutcome),
                                                  default=DeviceOutcome.UNTESTED)
    microphone: Mapped[DeviceOutcome] = mapped_column(_enum(DeviceOutcome),
                                                      default=DeviceOutcome.UNTESTED)
    speaker: Mapped[DeviceOutcome] = mapped_column(_enum(DeviceOutcome),
                                                   default=DeviceOutcome.UNTESTED,
                                                   server_default="untested")
    download_kbps: Mapped[int | None]
    upload_kbps: Mapped[int | None]
    rtt_ms: Mapped[float | None]
    jitter_ms: Mapped[float | None]
    # "not_ready", "audio_only", "video" or "good" (portal.grading), graded by the server.
    grade: Mapped[str | None] = mapped_column(String(16))
    # Details such as camera_black or microphone_clipping, comma-separated.
    warnings: Mapped[str | None] = mapped_column(String(200))
    # The participant went on although something failed; the advisor sees this.
    continued_with_warning: Mapped[bool] = mapped_column(default=False)

    participant: Mapped[Participant] = relationship(back_populates="device_checks")


class CallPeer(db.Model):
    """One browser tab in the built-in call (a reload makes a new peer)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    peer_key: Mapped[str] = mapped_column(String(32), unique=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participant.id"))
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisor.id"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    participant: Mapped[Participant | None] = relationship()
    advisor: Mapped[Advisor | None] = relationship()


class CallSignal(db.Model):
    """A WebRTC signalling message (offer, answer, ICE candidate) from one peer to another.
    Media never passes through the portal; only these small messages do."""

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    sender: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(db.Model):
    """Who did what, when. Holds ids only, no personal data of citizens."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisor.id"))
    actor: Mapped[str] = mapped_column(String(40))  # "advisor", "cli", "participant", "system"
    action: Mapped[str] = mapped_column(String(60))
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointment.id", ondelete="SET NULL"), index=True)
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participant.id", ondelete="SET NULL"))
    detail: Mapped[str | None] = mapped_column(String(200))


class StatCounter(db.Model):
    """Anonymous statistics: how often something happened in one ISO week in one team.

    Counted when the event happens (portal/statistics.py), never derived from personal rows,
    so the retention job leaves them alone. No person, appointment or time finer than the
    week: only the week ("2026-W49"), the team, what was counted and how often."""

    __tablename__ = "stat_counter"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)
    # The appointment's team; 0 until teams exist (they fill it without touching old rows).
    team_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    dimension: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(types.BigInteger, default=0)


class Reminder(db.Model):
    """One reminder e-mail to one participant for one start time (portal/mailing/reminders.py).

    The unique key (participant, start time, lead) lets only one sender write it, however many
    run at once; a moved appointment has a new start time and so gets reminders anew. The
    mail's personal link is a token of its own (SHA-256 only), valid while the appointment
    still starts at `starts_at`, so it neither ends the invitation's link nor a session."""

    __table_args__ = (UniqueConstraint("participant_id", "starts_at", "lead_minutes",
                                       name="uq_reminder_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participant.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lead_minutes: Mapped[int]
    # None: skipped (a nearer reminder was due as well, or the person had just been mailed).
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The outbox row (None when skipped): a reminder still pending when the appointment is
    # cancelled or moved is not sent any more.
    mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("outgoing_mail.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
