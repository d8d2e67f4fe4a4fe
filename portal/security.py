"""Response headers every page gets, and the origin check that goes with CSRF tokens.

Referrer-Policy is same-origin: personal-link tokens never stay in a page URL (/t/<token>
redirects at once), and cross-origin navigations (e.g. the hand-off to a provider) still
carry no Referer. Flask-WTF's Referer-only check (WTF_CSRF_SSL_STRICT) is replaced by
check_origin below, which also accepts the Origin header browsers send on every POST.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request
from flask_wtf.csrf import CSRFError

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, or None for "null" and anything unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def check_origin() -> None:
    """Refuse an unsafe request that comes from another origin (before its CSRF token counts).

    The request's own origin is its scheme (from ProxyFix behind nginx) and Host with port.
    Over https a request that names no origin at all is refused, as Flask-WTF's strict mode
    did; over plain http it passes (old clients, the test client): the token still decides.
    """
    app = current_app
    if not app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.method not in app.config["WTF_CSRF_METHODS"] or not request.endpoint:
        return
    csrf = app.extensions.get("csrf")
    if csrf is not None and csrf._is_exempt():  # @csrf.exempt (netcheck, health)
        return
    claimed = request.headers.get("Origin") or request.headers.get("Referer")
    if claimed is None:
        if request.is_secure:
            raise CSRFError("The request names no origin.")
        return
    own = _origin_of(f"{request.scheme}://{request.host}/")
    if own is None or _origin_of(claimed) != own:
        raise CSRFError("The request comes from another origin.")


def init_app(app: Flask) -> None:
    # check_origin replaces the Referer-only strict mode (browsers send no Referer on some POSTs).
    app.config["WTF_CSRF_SSL_STRICT"] = False
    app.before_request(check_origin)

    @app.after_request
    def set_headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h["Referrer-Policy"] = "same-origin"
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=()"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config["SESSION_COOKIE_SECURE"]:
            hsts = f"max-age={int(app.config['HSTS_MAX_AGE'])}"
            if app.config["HSTS_INCLUDE_SUBDOMAINS"]:
                hsts += "; includeSubDomains"
            h["Strict-Transport-Security"] = hsts
        if request.endpoint != "static":
            # Pages may show personal data: never cache them anywhere.
            h.setdefault("Cache-Control", "no-store")
        return response
