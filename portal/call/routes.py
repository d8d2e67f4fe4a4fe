from __future__ import annotations

import json
import re
import secrets
import time
from datetime import timedelta

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import delete, select

from .. import journey
from ..access import call_member, may_join_call, own_appointment, require_participant
from ..audit import audit
from ..extensions import db, limiter
from ..journey import next_endpoint
from ..labels import role_label
from ..models import Appointment, AppointmentStatus, CallPeer, CallSignal, Participant, utcnow
from ..providers import ProviderError, provider_for
from . import bp, handoff, turn
from .limits import (
    RETRY_AFTER_SECONDS,
    forget_peers,
    join_limit,
    mailbox_full,
    purge_stale_signals,
    signal_limit,
    too_many,
)

PEER_TIMEOUT = timedelta(seconds=10)  # a tab that stopped polling has left
SIGNAL_KINDS = ("offer", "answer", "candidate")
MAX_PAYLOAD = 64 * 1024  # an SDP with many candidates stays far below this
SEEN_WRITE_EVERY = timedelta(seconds=3)
DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²", which int() refuses
PEER_KEY = re.compile(r"[0-9a-f]{32}")  # secrets.token_hex(16)


def _peer_key(value) -> str:
    """A well-formed peer key, or "" (which matches no peer): anything else, e.g. a NUL
    character that PostgreSQL refuses, never reaches a query."""
    return value if isinstance(value, str) and PEER_KEY.fullmatch(value) else ""


# ---- pages -----------------------------------------------------------------------------

@bp.get("/termin/anruf")
@join_limit  # each hand-off asks the provider (BigBlueButton: create): bounded per person
def participant_call():
    """The built-in call's page, or the hand-off to another provider with a fresh join URL
    (also for a dropped participant who comes back through the personal link: admitted
    once, they rejoin without a new admission)."""
    participant = require_participant()
    if not may_join_call(participant) or \
            participant.appointment.status is not AppointmentStatus.SCHEDULED:
        return redirect(url_for(next_endpoint(participant)))
    appointment = participant.appointment
    try:
        provider = provider_for(appointment)
        if provider.builtin:
            return render_template("call/room.html", appointment=appointment, me=participant,
                                   is_advisor=False, leave_url=url_for("call.left_call"))
        join_url = provider.join_url(appointment, participant=participant)
    except ProviderError as error:
        db.session.commit()  # the failure stays recorded: the advisor's queue shows it
        return handoff.failed_page(error, appointment, is_advisor=False)
    journey.join_call(participant)
    db.session.commit()
    return handoff.hand_off_page(provider, appointment, join_url, participant=participant)


@bp.get("/termin/anruf/verlassen")
def left_call():
    participant = require_participant()
    if participant.appointment.status is AppointmentStatus.ENDED:
        return redirect(url_for("citizen.closing"))
    return render_template("call/left.html", participant=participant)


@bp.get("/beratung/termine/<int:appointment_id>/anruf")
def advisor_call(appointment_id: int):
    """The advisor's way into the call: the built-in call's page, or the hand-off to another
    provider as host/moderator."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    appointment = own_appointment(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return redirect(url_for("advisor.queue"))
    try:
        provider = provider_for(appointment)
        if provider.builtin:
            provider.prepare(appointment)
            db.session.commit()
            return render_template("call/room.html", appointment=appointment, me=current_user,
                                   is_advisor=True, leave_url=url_for("advisor.queue"))
        join_url = provider.join_url(appointment, advisor=current_user)
    except ProviderError as error:
        db.session.commit()  # the failure stays recorded for the queue
        return handoff.failed_page(error, appointment, is_advisor=True)
    audit("call.joined", actor="advisor", advisor=current_user, appointment=appointment)
    db.session.commit()
    return handoff.hand_off_page(provider, appointment, join_url, advisor=current_user)


# ---- signalling API (JSON) -------------------------------------------------------------

def _caller(appointment_id: int) -> tuple[Appointment, Participant | None]:
    """The appointment and the caller's participant (None: the advisor) if the caller belongs
    in its call (portal.access.call_member); 404 otherwise.

    The page says which of the two it is (`as`): one browser may hold both an advisor login
    and a participant's link, e.g. when somebody tries both roles in two windows."""
    member = call_member(appointment_id,
                         as_advisor=(request.args.get("as") or "") == "advisor")
    if member is None:
        abort(404)
    return member


def _owned_by(participant: Participant | None):
    """The peers of this caller: a participant's, or the signed-in advisor's."""
    return (CallPeer.participant_id == participant.id) if participant else \
        (CallPeer.advisor_id == current_user.id)


def _own_peer(appointment: Appointment, participant: Participant | None, key) -> CallPeer:
    """The caller's own peer, live or not (a replaced one is told so). 404 otherwise."""
    peer = db.session.scalar(select(CallPeer).where(
        CallPeer.peer_key == _peer_key(key), CallPeer.appointment_id == appointment.id,
        _owned_by(participant)))
    if peer is None:
        abort(404)
    return peer


def _replaced(peer: CallPeer, participant: Participant | None) -> bool:
    """Left because the same person joined again (another tab or window) after it."""
    return peer.left_at is not None and db.session.scalar(select(CallPeer.id).where(
        CallPeer.appointment_id == peer.appointment_id, CallPeer.id > peer.id,
        _owned_by(participant)).limit(1)) is not None


def _peer_view(peer: CallPeer) -> dict:
    if peer.advisor is not None:
        return {"peer": peer.peer_key, "name": peer.advisor.name, "role": "advisor"}
    p = peer.participant
    return {"peer": peer.peer_key, "name": p.name or role_label(p.role), "role": p.role.value}


def _active_peers(appointment: Appointment) -> list[CallPeer]:
    cutoff = utcnow() - PEER_TIMEOUT
    return list(db.session.scalars(select(CallPeer).where(
        CallPeer.appointment_id == appointment.id, CallPeer.left_at.is_(None),
        CallPeer.last_seen_at >= cutoff).order_by(CallPeer.id)))


def _json_body() -> dict:
    if request.content_length is not None and request.content_length > MAX_PAYLOAD:
        abort(413)
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON
        abort(400)
    if not isinstance(data, dict):
        abort(400)
    return data


@bp.post("/anruf/<int:appointment_id>/beitreten")
@join_limit
def join(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return jsonify(ended=True), 409
    # One live peer per person: a second tab takes over, the first learns it at its next poll.
    now = utcnow()
    older = list(db.session.scalars(select(CallPeer).where(
        CallPeer.appointment_id == appointment.id, CallPeer.left_at.is_(None),
        _owned_by(participant))))
    for peer in older:
        peer.left_at = now
    db.session.flush()
    forget_peers([peer.peer_key for peer in older])
    purge_stale_signals(now)
    others = _active_peers(appointment)
    peer = CallPeer(appointment_id=appointment.id, peer_key=secrets.token_hex(16),
                    participant_id=participant.id if participant else None,
                    advisor_id=None if participant else current_user.id)
    db.session.add(peer)
    if participant is not None:
        journey.join_call(participant)
    else:
        audit("call.joined", actor="advisor", advisor=current_user, appointment=appointment)
    db.session.commit()
    return jsonify(
        peer=peer.peer_key,
        peers=[_peer_view(p) for p in others],
        ice_servers=turn.ice_servers(),
        poll_ms=int(current_app.config["CALL_POLL_SECONDS"] * 1000),
    )


@bp.get("/anruf/<int:appointment_id>/signale")
@signal_limit
def signals(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return jsonify(ended=True, signals=[], peers=[])
    me = _own_peer(appointment, participant, request.args.get("peer"))
    if me.left_at is not None:
        if _replaced(me, participant):
            return jsonify(ended=False, replaced=True, signals=[], peers=[])
        abort(404)
    after = request.args.get("after", "0")
    after = int(after) if DIGITS.fullmatch(after) and len(after) < 19 else 0
    now = utcnow()
    changed = False
    if now - me.last_seen_at > SEEN_WRITE_EVERY:
        me.last_seen_at = now
        changed = True
    # Everything waiting for me (capped on sending); what lies below `after` has been picked
    # up and goes. The signal at `after` itself stays: it marks the read position.
    rows = list(db.session.scalars(select(CallSignal).where(
        CallSignal.appointment_id == appointment.id, CallSignal.recipient == me.peer_key
    ).order_by(CallSignal.id).limit(current_app.config["CALL_MAX_PENDING_SIGNALS"] + 50)))
    picked_up = [s.id for s in rows if s.id < after]
    if picked_up:
        db.session.execute(delete(CallSignal).where(CallSignal.id.in_(picked_up)))
        changed = True
    fresh = [s for s in rows if s.id > after]
    if changed:
        db.session.commit()
    return jsonify(
        ended=False,
        signals=[{"id": s.id, "from": s.sender, "kind": s.kind, "payload": json.loads(s.payload)}
                 for s in fresh],
        peers=[_peer_view(p) for p in _active_peers(appointment) if p.id != me.id],
    )


@bp.post("/anruf/<int:appointment_id>/signal")
@signal_limit
def send_signal(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return jsonify(ended=True), 409
    data = _json_body()
    me = _own_peer(appointment, participant, data.get("peer"))
    if me.left_at is not None:
        if _replaced(me, participant):
            return jsonify(delivered=False, replaced=True), 409
        abort(404)
    kind, payload = data.get("kind"), data.get("payload")
    if kind not in SIGNAL_KINDS or not isinstance(payload, dict):
        abort(400)
    try:
        # NaN or Infinity would make the recipient's JSON unreadable and stall its polling.
        encoded = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except ValueError:
        abort(400)
    if len(encoded) > MAX_PAYLOAD:
        abort(413)
    recipient = db.session.scalar(select(CallPeer).where(
        CallPeer.peer_key == _peer_key(data.get("to")), CallPeer.appointment_id == appointment.id,
        CallPeer.left_at.is_(None)))
    # Never to oneself: a mailbox nobody empties would hold the appointment's byte budget.
    if recipient is None or recipient.id == me.id:
        return jsonify(delivered=False), 404
    if mailbox_full(appointment.id, recipient.peer_key, len(encoded)):
        return too_many("too_many_signals")
    db.session.add(CallSignal(appointment_id=appointment.id, sender=me.peer_key,
                              recipient=recipient.peer_key, kind=kind, payload=encoded))
    db.session.commit()
    return jsonify(delivered=True)


@bp.post("/anruf/<int:appointment_id>/verlassen")
@signal_limit
def leave(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    data = _json_body()
    peer = db.session.scalar(select(CallPeer).where(
        CallPeer.peer_key == _peer_key(data.get("peer")),
        CallPeer.appointment_id == appointment.id))
    if peer is not None and peer.left_at is None and (
            peer.participant_id == participant.id if participant
            else peer.advisor_id == current_user.id):
        peer.left_at = utcnow()
        forget_peers([peer.peer_key])
        if participant is not None and data.get("final") and \
                journey.LEAVE_CALL.allows(participant):
            journey.leave_call(participant)
        db.session.commit()
    return jsonify(ok=True)


API_ENDPOINTS = {"call.join", "call.signals", "call.send_signal", "call.leave"}


@bp.errorhandler(429)
def rate_limited(error):
    """The signalling API answers in JSON (the page retries later); pages as usual."""
    if request.endpoint in API_ENDPOINTS:
        breached = limiter.current_limit
        wait = int(breached.reset_at - time.time()) + 1 if breached else RETRY_AFTER_SECONDS
        return too_many("rate_limited", retry_after=max(1, wait))
    return render_template("errors/generic.html", code=429), 429
