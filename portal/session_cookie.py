"""The session cookie, re-signed only when it changed or once in a while.

Flask re-signs and re-sends a permanent session's cookie on every response (sliding expiry,
SESSION_REFRESH_EACH_REQUEST). For the waiting room's polls that is a third of the work of an
unchanged poll. Here an unchanged session is re-sent only when its signature is older than
SESSION_REFRESH_SECONDS: the expiry still slides (a tab left open overnight stays bound), in
steps of that many seconds instead of every request. Nothing relies on the refresh for
security: a session's end is decided by its lifetime, by logout (server side) and by the
advisor idle timeout, which keeps its own timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature


class ThrottledRefreshSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        session = self.session_class(data)
        session.signed_at = signed_at
        return session

    def should_set_cookie(self, app, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        refresh = timedelta(seconds=app.config["SESSION_REFRESH_SECONDS"])
        return signed_at is None or datetime.now(UTC) - signed_at >= refresh
