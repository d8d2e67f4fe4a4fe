"""Response headers every page gets: a strict CSP and no referrer (links carry tokens)."""

from __future__ import annotations

import logging
import re

from flask import Flask, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


PERSONAL_LINK = re.compile(r"/t/[^\s\"?]+")
# Access logs of the development server and of gunicorn.
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


def _masked(value):
    return PERSONAL_LINK.sub("/t/…", value) if isinstance(value, str) else value


class MaskLinkTokens(logging.Filter):
    """A personal link's token in a log would let anyone reading the log in.

    The arguments are masked where they are, so formatters that read them (gunicorn's
    atoms, JSON log formats) keep working."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _masked(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_masked(value) for value in record.args)
        return True


_mask = MaskLinkTokens()


def init_app(app: Flask) -> None:
    for logger in (*map(logging.getLogger, ACCESS_LOGGERS), app.logger):
        logger.addFilter(_mask)  # the same filter object is added only once

    @app.after_request
    def set_headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h["Referrer-Policy"] = "no-referrer"
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Permissions-Policy"] = "camera=(self), microphone=(self), geolocation=()"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config["SESSION_COOKIE_SECURE"]:
            h["Strict-Transport-Security"] = "max-age=31536000"
        if request.endpoint != "static":
            # Pages may show personal data: never cache them anywhere.
            h.setdefault("Cache-Control", "no-store")
        return response
