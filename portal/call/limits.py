"""Bounds on the built-in call's signalling: who is counted by the rate limits, how much may
wait for pickup, and the cleanup of signals nobody needs any more."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, jsonify, request, session
from flask_limiter.util import get_remote_address
from flask_login import current_user
from sqlalchemy import case, delete, func, or_, select

from ..access import SESSION_KEY
from ..extensions import db, limiter
from ..models import CallPeer, CallSignal, utcnow

RETRY_AFTER_SECONDS = 2  # a full mailbox empties within a poll or two


def caller_key() -> str:
    """One bucket per participant, or per advisor and appointment, however many tabs or
    peers they open. Checked before the view, so from the session alone; the view then
    refuses a caller who does not belong in the call."""
    appointment_id = (request.view_args or {}).get("appointment_id")
    if request.args.get("as") == "advisor":
        if current_user.is_authenticated:
            return f"call:advisor:{current_user.get_id()}:{appointment_id}"
    else:
        bound = session.get(SESSION_KEY)
        if isinstance(bound, dict) and isinstance(bound.get("id"), int):
            return f"call:participant:{bound['id']}"
    return f"call:ip:{get_remote_address()}"


signal_limit = limiter.shared_limit(
    lambda: current_app.config["CALL_SIGNAL_RATE_LIMIT"], scope="call-signal",
    key_func=caller_key)
join_limit = limiter.limit(lambda: current_app.config["CALL_JOIN_RATE_LIMIT"],
                           key_func=caller_key)


def too_many(reason: str, retry_after: int = RETRY_AFTER_SECONDS):
    response = jsonify(error=reason, delivered=False)
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def mailbox_full(appointment_id: int, recipient: str, size: int) -> bool:
    """True if one more signal of `size` bytes (ASCII JSON: characters are bytes) would pass
    the cap on signals waiting for `recipient` or on bytes stored for the appointment."""
    pending, stored = db.session.execute(select(
        func.coalesce(func.sum(case((CallSignal.recipient == recipient, 1), else_=0)), 0),
        func.coalesce(func.sum(func.length(CallSignal.payload)), 0),
    ).where(CallSignal.appointment_id == appointment_id)).one()
    cfg = current_app.config
    return pending >= cfg["CALL_MAX_PENDING_SIGNALS"] or \
        stored + size > cfg["CALL_MAX_SIGNAL_BYTES"]


def _not_newest_for_its_recipient():
    """Each live recipient's newest signal marks its read position (`after`) and stays until
    a newer one arrives: SQLite hands out the highest id again once its row is deleted, and a
    reused id at or below a read position would never be picked up."""
    newest = select(func.max(CallSignal.id)).group_by(CallSignal.recipient).scalar_subquery()
    return CallSignal.id.not_in(newest)


def forget_peers(keys: list[str]) -> None:
    """Signals to or from peers that have left or were replaced: nobody needs them."""
    if keys:
        db.session.execute(delete(CallSignal).where(or_(
            CallSignal.recipient.in_(keys),
            CallSignal.sender.in_(keys) & _not_newest_for_its_recipient())))


def purge_stale_signals(now: datetime | None = None) -> int:
    """The safety net: signals older than CALL_SIGNAL_MAX_AGE_SECONDS go (a live
    recipient's newest one only once it has left). Returns the number deleted."""
    cutoff = (now or utcnow()) - timedelta(
        seconds=current_app.config["CALL_SIGNAL_MAX_AGE_SECONDS"])
    gone = select(CallPeer.peer_key).where(CallPeer.left_at.is_not(None)).scalar_subquery()
    result = db.session.execute(delete(CallSignal).where(
        CallSignal.created_at < cutoff,
        or_(_not_newest_for_its_recipient(), CallSignal.recipient.in_(gone))))
    return result.rowcount or 0
