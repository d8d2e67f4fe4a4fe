"""What providers share: the provider_meeting row of an appointment, opaque ids, display
names, the time a join may happen in, and the signed token of BigBlueButton's end callback.

Only display names leave the portal: never an e-mail address, customer number, IP address
or the appointment's own ids.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..labels import role_label
from ..models import Advisor, Appointment, Participant, ProviderMeeting, utcnow

#: The portal path BigBlueButton calls when a meeting ends (meta_endCallbackUrl), with
#: the token of end_callback_token(); BigBlueButton adds ?meetingID=…&recordingmarks=….
#: The route itself belongs to the web layer; it must use this rule.
END_CALLBACK_RULE = "/anbieter/ende/<token>"
#: Where people land when they leave a BigBlueButton meeting (its logoutURL: one for the
#: whole meeting, so advisor and participants alike). A neutral page of the web layer,
#: which must use this rule: it sends each person on from there.
LOGOUT_PATH = "/besprechung/verlassen"

_CALLBACK_SALT = "portal.providers.end-callback"


def new_meeting_key() -> str:
    """160 random bits in lowercase hex: a valid BigBlueButton meetingID and Jitsi room."""
    return secrets.token_hex(20)


def meeting_of(appointment: Appointment, provider: str) -> ProviderMeeting:
    """The appointment's live meeting row for this provider, created if there is none. A
    meeting that ended (the appointment was rescheduled) is replaced by a new one with a new
    key, so nothing issued for the old one fits it. The caller commits."""
    row = appointment.provider_meeting
    if row is not None and row.ended_at is not None:
        row.provider = provider
        row.meeting_key = new_meeting_key()
        row.create_time = row.prepared_at = row.ended_at = None
        clear_secrets(row)
        return row
    if row is not None:
        if row.prepared_at is None:  # never made: the advisor may have chosen anew
            row.provider = provider
        return row
    # Two workers may prepare one appointment at once: the unique appointment_id lets one
    # insert win, and both go on with its row (no savepoint: pysqlite's are unreliable).
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[
        db.session.get_bind().dialect.name]
    db.session.execute(insert(ProviderMeeting).values(
        appointment_id=appointment.id, provider=provider, meeting_key=new_meeting_key(),
    ).on_conflict_do_nothing(index_elements=["appointment_id"]))
    db.session.expire(appointment, ["provider_meeting"])
    row = appointment.provider_meeting
    return row


def clear_secrets(row: ProviderMeeting) -> None:
    row.host_secret = row.guest_secrets = row.secrets_expire_at = None


def record_failure(appointment: Appointment, reason: str) -> None:
    row = appointment.provider_meeting
    if row is not None:
        row.last_failure = reason
        row.last_failure_at = utcnow()


def opaque_id(row: ProviderMeeting, *, participant: Participant | None = None,
              advisor: Advisor | None = None) -> str:
    """A stable id for one person in one meeting that tells the provider nothing about them
    (a provider may use it to recognise a reconnecting user)."""
    who = f"p{participant.id}" if participant is not None else f"a{advisor.id}"
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(),
                      f"{row.meeting_key}:{who}".encode(), hashlib.sha256).hexdigest()
    return digest[:24]


def display_name(*, participant: Participant | None = None,
                 advisor: Advisor | None = None) -> str:
    """The only personal datum a provider receives. Never empty: an erased name becomes the
    participant's role."""
    if advisor is not None:
        return advisor.name
    return participant.name or role_label(participant.role)


def join_window(appointment: Appointment) -> tuple[datetime, datetime]:
    """From the waiting room's opening to the end of the personal link's validity: tokens
    and links issued for the meeting are valid only in this span."""
    config = current_app.config
    opens = appointment.starts_at - timedelta(minutes=config["WAITING_ROOM_OPENS_MINUTES"])
    closes = appointment.ends_at + timedelta(minutes=config["LINK_GRACE_MINUTES"])
    return opens, closes


def _signer() -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=_CALLBACK_SALT,
                  digest_method=hashlib.sha256)


def end_callback_token(row: ProviderMeeting) -> str:
    """An unguessable token for this meeting's end callback: its key, signed with the
    portal's secret (HMAC-SHA256). Nothing is stored; it stays the same for the meeting."""
    return _signer().sign(row.meeting_key).decode("ascii")


def end_callback_url(row: ProviderMeeting) -> str:
    return current_app.config["BASE_URL"] + END_CALLBACK_RULE.replace(
        "<token>", end_callback_token(row))


def meeting_for_end_callback(token: str) -> ProviderMeeting | None:
    """The meeting a callback token was made for, or None for a forged, altered or unknown
    token (answer such a request 404 and change nothing)."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    try:
        key = _signer().unsign(token).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        return None
    return db.session.scalars(select(ProviderMeeting).where(
        ProviderMeeting.meeting_key == key)).one_or_none()


def logout_url() -> str:
    return current_app.config["BASE_URL"] + LOGOUT_PATH
