"""Friendly error pages in the visitor's language; never a bare stack trace."""

from __future__ import annotations

import contextlib

from flask import Flask, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from .extensions import db
from .htmx import client_redirect, is_htmx
from .journey import IllegalTransition, next_endpoint

# A restarted database is back within seconds; clients (htmx polls, the call's fetches)
# keep their own rhythm, this is a hint for everything else.
RETRY_AFTER_SECONDS = 5
# The database is unreachable or went away under a pooled connection (pool_pre_ping checks
# only when a connection is taken, so a restart in between still surfaces here).
CONNECTION_LOST = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
DATABASE_UNAVAILABLE = (*CONNECTION_LOST, sa_exc.DBAPIError)


def wants_json() -> bool:
    """The call's signalling and other fetch() clients read JSON, never a page."""
    if request.path.startswith("/anruf/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def service_unavailable(error: Exception):
    """503 with Retry-After; the request's transaction is rolled back, nothing half-written."""
    with contextlib.suppress(Exception):  # a dead connection: the session is reset on removal
        db.session.rollback()
    lost = isinstance(error, CONNECTION_LOST) or getattr(error, "connection_invalidated", False)
    if lost:
        current_app.logger.warning("database unavailable (%s): answering 503",
                                   type(error).__name__)
    else:  # not a lost connection: a bug worth its traceback (parameters stay hidden)
        current_app.logger.error("database error: answering 503", exc_info=error)
    if wants_json():
        response = jsonify(error="unavailable", retry_after=RETRY_AFTER_SECONDS)
    elif is_htmx():
        # htmx swaps no 5xx answer: the page stays as it is and keeps polling.
        text = escape(_("Please try again in a few minutes."))
        response = current_app.response_class(f'<p class="notice" role="status">{text}</p>',
                                              mimetype="text/html")
    else:
        try:
            # This page touches no database (no signed-in user in the header).
            response = current_app.response_class(render_template("errors/unavailable.html",
                                                                  code=503), mimetype="text/html")
        except Exception:
            response = current_app.response_class("503 Service Unavailable", mimetype="text/plain")
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def illegal_transition(error: IllegalTransition):
    """A move the journey does not allow from where the participant is now (a second tab, a
    stale page, a double click): nothing is changed, and the person is sent where they
    belong instead of seeing an error."""
    db.session.rollback()
    current_app.logger.info("journey: refused %s", error)
    if wants_json():  # the call's fetches
        return jsonify(error="not_allowed"), 409
    if error.participant is not None and error.transition.by == "participant":
        url = url_for(next_endpoint(error.participant))
    else:
        flash(_("That is no longer possible: the appointment has changed meanwhile."), "error")
        url = url_for("advisor.queue")
    return client_redirect(url) if is_htmx() else redirect(url)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(IllegalTransition, illegal_transition)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/csrf.html"), 400

    for kind in DATABASE_UNAVAILABLE:
        app.register_error_handler(kind, service_unavailable)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        if isinstance(getattr(error, "original_exception", None), DATABASE_UNAVAILABLE):
            # Raised outside the view (after_request, a user loader): still a 503, not a 500.
            return service_unavailable(error.original_exception)
        template = "errors/404.html" if error.code in (403, 404, 410) else "errors/generic.html"
        # 403 looks like 404: nobody learns that someone else's appointment exists.
        code = 404 if error.code == 403 else error.code
        response = error.get_response()
        response.status_code = code
        response.set_data(render_template(template, code=code))
        response.mimetype = "text/html"
        return response
