"""Advisor sessions: fresh on sign-in, ended on the server, signed out when idle.

Sessions are signed cookies. A session names the advisor together with the advisor's
`session_generation` (Advisor.get_id); raising the generation in the database ends every
session of that advisor on every instance. The time of the last real request is kept in the
session; automatic polls don't refresh it, so a page left open still times out.
"""

from __future__ import annotations

import math
import time

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user

from ..access import SESSION_KEY
from ..htmx import client_redirect, is_htmx

SEEN_KEY = "advisor_seen"  # epoch seconds of the last real request
PENDING_KEY = "advisor_pending"  # password accepted, second step outstanding
# A real request refreshes the timestamp only if it is older than this, so a burst of
# requests doesn't rewrite the cookie every time.
SEEN_RESOLUTION_SECONDS = 15


def is_automatic_poll() -> bool:
    """The one rule for what is not activity: a GET sent by htmx that is not a boosted
    navigation, i.e. an `hx-trigger="every …"` refresh such as the queue's. Everything else
    counts, including the call's own signalling (an advisor in a call is active)."""
    return (request.method == "GET" and request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-Boosted") != "true")


def is_queue_poll() -> bool:
    """The advisor's queue refreshing itself: the one request of an advisor that comes every
    few seconds, served from what the worker keeps (portal/accounts.py, advisor_by_id)."""
    return request.endpoint == "advisor.queue" and is_automatic_poll()


def _fresh_session() -> None:
    # The language and a participant's link binding (someone trying both roles in one
    # browser) are kept; everything else, the CSRF token included, is new.
    kept = {k: session[k] for k in ("lang", SESSION_KEY) if k in session}
    session.clear()
    session.update(kept)


def start_pending(advisor, *, enrol: bool, next_url: str | None) -> None:
    _fresh_session()
    session[PENDING_KEY] = {"id": advisor.id, "gen": advisor.session_generation,
                            "enrol": enrol, "next": next_url, "at": int(time.time())}


def pending_advisor(*, enrol: bool | None = None):
    """The advisor whose password was accepted in the last 10 minutes, or None."""
    from ..extensions import db
    from ..models import Advisor

    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > 600:
        return None
    if enrol is not None and bool(pending.get("enrol")) != enrol:
        return None
    advisor = db.session.get(Advisor, pending.get("id"))
    if advisor is None or not advisor.active or advisor.session_generation != pending.get("gen"):
        return None
    return advisor


def pending_next() -> str | None:
    pending = session.get(PENDING_KEY)
    return pending.get("next") if isinstance(pending, dict) else None


def start_session(advisor) -> None:
    _fresh_session()
    login_user(advisor)
    session[SEEN_KEY] = int(time.time())


def end_session() -> None:
    logout_user()
    for key in (SEEN_KEY, PENDING_KEY):
        session.pop(key, None)


def idle_seconds() -> int:
    return int(current_app.config["ADVISOR_IDLE_MINUTES"] * 60)


def seconds_left() -> int:
    return max(0, int(session.get(SEEN_KEY, 0)) + idle_seconds() - int(time.time()))


def mark_active() -> None:
    session[SEEN_KEY] = int(time.time())


def check_idle():
    """Runs before every request: signs out an advisor idle for too long."""
    # Only sessions with a sign-in load the advisor: a citizen's poll stays a cheap read.
    if request.endpoint in (None, "static") or "_user_id" not in session \
            or not current_user.is_authenticated:
        return None
    now = int(time.time())
    seen = session.get(SEEN_KEY)
    if not isinstance(seen, int) or now - seen >= idle_seconds():
        end_session()
        minutes = max(1, math.ceil(idle_seconds() / 60))
        flash(ngettext("You were signed out after %(num)d minute without activity.",
                       "You were signed out after %(num)d minutes without activity.", minutes),
              "info")
        if is_htmx():
            return client_redirect(url_for("auth.login"))
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    if not is_automatic_poll() and now - seen >= SEEN_RESOLUTION_SECONDS:
        session[SEEN_KEY] = now
    return None
