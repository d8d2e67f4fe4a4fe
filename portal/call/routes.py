from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..citizen.access import bound_participant, require_participant
from ..extensions import db
from ..journey import IN_OR_AFTER_CALL, next_endpoint
from ..labels import role_label
from ..models import (
    Appointment,
    AppointmentStatus,
    CallPeer,
    CallSignal,
    JourneyState,
    Participant,
    utcnow,
)
from ..providers import get_provider
from ..scheduling import audit
from . import bp

PEER_TIMEOUT = timedelta(seconds=10)  # a tab that stopped polling has left
SIGNAL_KINDS = ("offer", "answer", "candidate")
MAX_PAYLOAD = 64 * 1024  # an SDP with many candidates stays far below this
SEEN_WRITE_EVERY = timedelta(seconds=3)
DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²", which int() refuses


# ---- pages -----------------------------------------------------------------------------

@bp.get("/termin/anruf")
def participant_call():
    participant = require_participant()
    if participant.journey_state not in IN_OR_AFTER_CALL or \
            participant.appointment.status is not AppointmentStatus.SCHEDULED:
        return redirect(url_for(next_endpoint(participant)))
    provider = get_provider()
    appointment = participant.appointment
    if not provider.builtin:  # the hand-off to another site
        return redirect(provider.join_url(appointment, participant=participant))
    return render_template("call/room.html", appointment=appointment, me=participant,
                           is_advisor=False, leave_url=url_for("call.left_call"))


@bp.get("/termin/anruf/verlassen")
def left_call():
    participant = require_participant()
    if participant.appointment.status is AppointmentStatus.ENDED:
        return redirect(url_for("citizen.closing"))
    return render_template("call/left.html", participant=participant)


@bp.get("/beratung/termine/<int:appointment_id>/anruf")
def advisor_call(appointment_id: int):
    from ..advisor.routes import own_appointment

    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    appointment = own_appointment(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return redirect(url_for("advisor.queue"))
    provider = get_provider()
    provider.prepare(appointment)
    db.session.commit()
    if not provider.builtin:
        return redirect(provider.join_url(appointment, advisor=current_user))
    return render_template("call/room.html", appointment=appointment, me=current_user,
                           is_advisor=True, leave_url=url_for("advisor.queue"))


# ---- signalling API (JSON) -------------------------------------------------------------

def _caller(appointment_id: int) -> tuple[Appointment, Participant | None]:
    """The appointment if the caller belongs in its call: the advisor who owns it (or an
    admin), or an admitted participant of it. 404 otherwise.

    The page says which of the two it is (`as`): one browser may hold both an advisor login
    and a participant's link, e.g. when somebody tries both roles in two windows."""
    as_advisor = (request.args.get("as") or "") == "advisor"
    if as_advisor:
        appointment = db.session.get(Appointment, appointment_id)
        if current_user.is_authenticated and appointment and (
                current_user.is_admin or appointment.advisor_id == current_user.id):
            return appointment, None
        abort(404)
    participant = bound_participant()
    if participant and participant.appointment_id == appointment_id and \
            participant.journey_state in IN_OR_AFTER_CALL:
        return participant.appointment, participant
    abort(404)


def _own_peer(appointment: Appointment, participant: Participant | None, key) -> CallPeer:
    peer = db.session.scalar(select(CallPeer).where(
        CallPeer.peer_key == str(key or ""), CallPeer.appointment_id == appointment.id))
    if peer is None or peer.left_at is not None:
        abort(404)
    owner_ok = (peer.participant_id == participant.id) if participant else \
        (peer.advisor_id == current_user.id)
    if not owner_ok:
        abort(404)
    return peer


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
def join(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return jsonify(ended=True), 409
    others = _active_peers(appointment)
    peer = CallPeer(appointment_id=appointment.id, peer_key=secrets.token_hex(16),
                    participant_id=participant.id if participant else None,
                    advisor_id=None if participant else current_user.id)
    db.session.add(peer)
    if participant is not None:
        participant.journey_state = JourneyState.IN_CALL
        audit("call.joined", actor="participant", appointment=appointment,
              participant=participant)
    else:
        audit("call.joined", actor="advisor", advisor=current_user, appointment=appointment)
    db.session.commit()
    return jsonify(
        peer=peer.peer_key,
        peers=[_peer_view(p) for p in others],
        ice_servers=current_app.config["ICE_SERVERS"],
        poll_ms=int(current_app.config["CALL_POLL_SECONDS"] * 1000),
    )


@bp.get("/anruf/<int:appointment_id>/signale")
def signals(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return jsonify(ended=True, signals=[], peers=[])
    me = _own_peer(appointment, participant, request.args.get("peer"))
    after = request.args.get("after", "0")
    after = int(after) if DIGITS.fullmatch(after) and len(after) < 19 else 0
    now = utcnow()
    if now - me.last_seen_at > SEEN_WRITE_EVERY:
        me.last_seen_at = now
        db.session.commit()
    rows = db.session.scalars(select(CallSignal).where(
        CallSignal.appointment_id == appointment.id, CallSignal.recipient == me.peer_key,
        CallSignal.id > after).order_by(CallSignal.id).limit(200))
    return jsonify(
        ended=False,
        signals=[{"id": s.id, "from": s.sender, "kind": s.kind, "payload": json.loads(s.payload)}
                 for s in rows],
        peers=[_peer_view(p) for p in _active_peers(appointment) if p.id != me.id],
    )


@bp.post("/anruf/<int:appointment_id>/signal")
def send_signal(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    if appointment.status is not AppointmentStatus.SCHEDULED:
        return jsonify(ended=True), 409
    data = _json_body()
    me = _own_peer(appointment, participant, data.get("peer"))
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
        CallPeer.peer_key == str(data.get("to") or ""), CallPeer.appointment_id == appointment.id,
        CallPeer.left_at.is_(None)))
    if recipient is None:
        return jsonify(delivered=False), 404
    db.session.add(CallSignal(appointment_id=appointment.id, sender=me.peer_key,
                              recipient=recipient.peer_key, kind=kind, payload=encoded))
    db.session.commit()
    return jsonify(delivered=True)


@bp.post("/anruf/<int:appointment_id>/verlassen")
def leave(appointment_id: int):
    appointment, participant = _caller(appointment_id)
    data = _json_body()
    peer = db.session.scalar(select(CallPeer).where(
        CallPeer.peer_key == str(data.get("peer") or ""),
        CallPeer.appointment_id == appointment.id))
    if peer is not None and peer.left_at is None and (
            peer.participant_id == participant.id if participant
            else peer.advisor_id == current_user.id):
        peer.left_at = utcnow()
        if participant is not None and data.get("final") and \
                participant.journey_state is JourneyState.IN_CALL:
            participant.journey_state = JourneyState.LEFT_CALL
            audit("call.left", actor="participant", appointment=appointment,
                  participant=participant)
        db.session.commit()
    return jsonify(ok=True)
