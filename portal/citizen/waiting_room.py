"""The virtual waiting room: no audio or video yet; it refreshes itself until admission.

Each htmx poll doubles as presence (last_seen_at), so the advisor's queue can tell
"waiting" from "connection lost?". An unchanged state answers 204 with no body.

Hundreds of people wait at once and each polls every few seconds, so the unchanged poll of a
waiting participant has a fast path (`_unchanged_poll`): one SELECT of the few columns the
fingerprint needs, on an autocommit connection without a ping before it (`poll_engine`), no
ORM objects, no template, and a conditional UPDATE of the presence only when it is older
than presence_write_every(). Anything else (a change, another state, a page load) takes the
full path.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app, redirect, render_template, request, session, url_for
from sqlalchemy import bindparam, create_engine, event, or_, select, update
from sqlalchemy.exc import DBAPIError

from .. import journey
from ..access import SESSION_KEY, may_cancel, may_join_call, require_participant, unbind
from ..extensions import db
from ..htmx import client_redirect, is_htmx, no_change, page_or_fragment
from ..journey import next_endpoint, waiting_room_is_open, waiting_room_opens_at
from ..models import Appointment, AppointmentStatus, JourneyState, Participant, UTCDateTime, utcnow
from ..poll_cache import FLUSH_SECONDS
from ..poll_cache import for_app as poll_cache
from ..scheduling import NotChangeable, cancel_appointment
from . import bp


def _fingerprint_of(journey_state, is_open, status, waiting_message_at, starts_at,
                    due: bool) -> str:
    """Everything the status fragment shows, from the data (the message's text changes only
    together with waiting_message_at; `due` sets the poll interval)."""
    raw = "|".join(map(str, (journey_state, is_open, status, waiting_message_at, starts_at,
                             due)))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _fingerprint(participant, is_open: bool, due: bool) -> str:
    appt = participant.appointment
    return _fingerprint_of(participant.journey_state, is_open, appt.status,
                           appt.waiting_message_at, appt.starts_at, due)


def presence_write_every() -> timedelta:
    """Presence is written at most this often: fewer writes, and still never a false
    "connection lost?" on the queue (PRESENCE_TIMEOUT_SECONDS without a stored poll).

    A write comes at most one poll interval after this period, and on PostgreSQL up to
    FLUSH_SECONDS later (batched, see poll_cache.py); one missed or slow poll (another interval
    and 2 s) must still fit into the timeout. Defaults: 15 - 2 x 3 - 2 - 2 = 5 s.
    """
    config = current_app.config
    seconds = (config["PRESENCE_TIMEOUT_SECONDS"] - 2 * config["WAITING_ROOM_POLL_SECONDS"]
               - 2 - FLUSH_SECONDS)
    return timedelta(seconds=max(1, seconds))


def _poll_seconds(due: bool) -> int:
    """How often the waiting room asks whether it is the participant's turn.

    From the appointment's start time, when advisors let people in, it asks more often
    (WAITING_ROOM_DUE_POLL_SECONDS): with a 3 s poll alone the time from "Let in" to the call
    page would be up to 3 s plus the page load. Only the few participants who are due poll
    faster, and an unchanged poll is cheap (see `_unchanged_poll`).
    """
    config = current_app.config
    seconds = config["WAITING_ROOM_POLL_SECONDS"]
    return min(seconds, config["WAITING_ROOM_DUE_POLL_SECONDS"]) if due else seconds


# Built once: building the statement costs about as much as running it.
_POLL_QUERY = (
    select(Participant.appointment_id, Participant.token_hash, Participant.erased_at,
           Participant.journey_state,
           Participant.last_seen_at, Appointment.status, Appointment.starts_at,
           Appointment.duration_minutes, Appointment.waiting_message_at)
    .join_from(Participant, Appointment, Participant.appointment_id == Appointment.id)
    .where(Participant.id == bindparam("participant_id")))
_PRESENCE_UPDATE = (
    update(Participant)
    .where(Participant.id == bindparam("participant_id"),
           journey.in_state(JourneyState.WAITING),
           or_(Participant.last_seen_at.is_(None),
               Participant.last_seen_at < bindparam("stale_before", type_=UTCDateTime)))
    .values(last_seen_at=bindparam("now", type_=UTCDateTime)))


def _unchanged_poll():
    """204 for the poll of a waiting participant whose fragment would not change; else None.

    The checks are those of bound_participant, link_is_usable and next_endpoint for the one
    case this path serves: a WAITING participant of a scheduled appointment whose waiting
    room is open. Every other case returns None and takes the full path.
    """
    version = request.args.get("v")
    bound = session.get(SESSION_KEY)
    if not version or not isinstance(bound, dict) or not isinstance(bound.get("id"), int):
        return None
    try:
        return _unchanged_poll_on(bound, version)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        # The database was restarted: the pool is emptied; one more try on a new connection
        # (and if the database is still down, the error handler answers 503).
        return _unchanged_poll_on(bound, version)


def poll_engine():
    """The app's database for the unchanged poll, with autocommit and without pre-ping.

    The main engine pings the database on every checkout (pool_pre_ping); for a poll that is
    a second round trip for one small SELECT. A dropped connection is caught and retried
    instead (`_unchanged_poll`). Autocommit: no BEGIN or ROLLBACK round trips either.
    """
    engine = current_app.extensions.get("portal.poll_engine")
    if engine is None:
        options = {k: v for k, v in current_app.config["SQLALCHEMY_ENGINE_OPTIONS"].items()
                   if k != "pool_pre_ping"}
        engine = create_engine(db.engine.url, **options, isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _presence_without_flush_wait)
        engine = current_app.extensions.setdefault("portal.poll_engine", engine)
    return engine


def _presence_without_flush_wait(dbapi_connection, connection_record) -> None:
    """This engine writes only presence. Waiting for the WAL to reach the disk would make
    every presence write as slow as a disk flush; without the wait a crash of the database
    server may lose the last fraction of a second of presence times (which the next poll
    writes again), never anything else, and never leaves the database inconsistent."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit = off")
    cursor.close()
    dbapi_connection.commit()


def _poll_row(participant_id: int, cache):
    """The row the poll compares: from this worker's copy, else read (and kept)."""
    row = cache.get(participant_id) if cache is not None else None
    if row is not None:
        return row
    epoch = cache.epoch() if cache is not None else None
    with poll_engine().connect() as conn:
        row = conn.execute(_POLL_QUERY, {"participant_id": participant_id}).first()
    if row is not None and cache is not None:
        cache.put(participant_id, row.appointment_id, row, epoch)
    return row


def _unchanged_poll_on(bound: dict, version: str):
    config = current_app.config
    now = utcnow()
    cache = poll_cache()
    row = _poll_row(bound["id"], cache)
    if row is None or row.token_hash != bound.get("token") or row.erased_at is not None \
            or row.status is not AppointmentStatus.SCHEDULED \
            or row.journey_state is not JourneyState.WAITING:
        return None
    ends_at = row.starts_at + timedelta(minutes=row.duration_minutes)
    if now >= ends_at + timedelta(minutes=config["LINK_GRACE_MINUTES"]):
        return None  # the link has expired: the full path says so
    opens_at = row.starts_at - timedelta(minutes=config["WAITING_ROOM_OPENS_MINUTES"])
    if now < opens_at:
        return None  # cannot be WAITING before the room opens (a moved appointment)
    if _fingerprint_of(row.journey_state, True, row.status, row.waiting_message_at,
                       row.starts_at, now >= row.starts_at) != version:
        return None
    write_every = presence_write_every()
    # (A kept row's time is the one read; this worker's own writes are limited in seen().)
    due = row.last_seen_at is None or now - row.last_seen_at > write_every
    if due and cache is not None and cache.listening:
        cache.seen(bound["id"], now, write_every)  # written in this worker's next batch
    elif due:
        # Conditional: of several workers answering polls of one participant at the same
        # moment, one writes; and never for someone who has just been admitted or left.
        with poll_engine().connect() as conn:
            conn.execute(_PRESENCE_UPDATE, {"participant_id": bound["id"], "now": now,
                                            "stale_before": now - write_every})
    return no_change()


@bp.get("/termin/wartebereich")
def waiting_room():
    if is_htmx():
        unchanged = _unchanged_poll()
        if unchanged is not None:
            return unchanged
    participant = require_participant()
    target = next_endpoint(participant)
    if target not in ("citizen.waiting_room", "call.participant_call"):
        url = url_for(target)
        return client_redirect(url) if is_htmx() else redirect(url)
    appointment = participant.appointment
    is_open = waiting_room_is_open(appointment)
    now = utcnow()

    if is_open:
        if journey.ENTER_WAITING_ROOM.allows(participant):
            journey.enter_waiting_room(participant)
        elif not is_htmx() and journey.RETURN_TO_WAITING_ROOM.allows(participant):
            # Coming back after leaving takes a page load; a poll still under way when the
            # participant left must not put them back into the waiting room.
            journey.return_to_waiting_room(participant)
        if participant.journey_state is JourneyState.WAITING:
            if participant.last_seen_at is None or now - participant.last_seen_at > \
                    presence_write_every():
                participant.last_seen_at = now
            db.session.commit()

    admitted = may_join_call(participant)
    if admitted and not is_htmx():
        return redirect(url_for("call.participant_call"))
    due = is_open and now >= appointment.starts_at
    version = _fingerprint(participant, is_open, due)
    context = dict(participant=participant, appointment=appointment, is_open=is_open,
                   opens_at=waiting_room_opens_at(appointment), admitted=admitted,
                   version=version, poll_seconds=_poll_seconds(due))
    return page_or_fragment("citizen/waiting_room.html", "citizen/_waiting_status.html",
                            context, version)


@bp.post("/termin/wartebereich/verlassen")
def leave_waiting_room():
    participant = require_participant()
    if journey.LEAVE_WAITING_ROOM.allows(participant):  # a second click changes nothing
        journey.leave_waiting_room(participant)
        db.session.commit()
    return redirect(url_for("citizen.left_waiting_room"))


@bp.get("/termin/wartebereich/verlassen")
def left_waiting_room():
    participant = require_participant()
    return render_template("citizen/left.html", participant=participant)


@bp.route("/termin/absagen", methods=["GET", "POST"])
def cancel_by_participant():
    participant = require_participant()
    appointment = participant.appointment
    if appointment.status is not AppointmentStatus.SCHEDULED or not may_cancel(participant):
        return redirect(url_for(next_endpoint(participant)))
    if request.method == "POST":
        try:
            cancel_appointment(appointment, actor="participant", by_participant=participant)
        except NotChangeable:  # a second click, or the advisor was quicker
            if appointment.status is not AppointmentStatus.CANCELLED:
                return redirect(url_for(next_endpoint(participant)))
        unbind()
        return render_template("citizen/cancelled.html")
    return render_template("citizen/cancel.html", participant=participant,
                           appointment=appointment)
