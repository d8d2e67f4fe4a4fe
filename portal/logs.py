"""Logging: personal-link tokens masked in every log, optional JSON lines with a request id."""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import sys
from datetime import UTC, datetime
from urllib.parse import unquote

from flask import Flask, g, has_request_context, request

# A personal link is /t/<token>. Servers log the raw request line: gunicorn writes
# `/%74/<token>` or `/t%2F<token>` as sent, which werkzeug decodes and routes all the same,
# so tokens are looked for after percent-decoding.
PERSONAL_LINK = re.compile(r"/t/[^\s\"?#]+")
# Access logs of the development server and of gunicorn.
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")
REQUEST_ID_HEADER = "X-Request-ID"
# What nginx's $request_id looks like (32 hex digits), generous but bounded and printable.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _decoded(value: str) -> str:
    """Percent-decode (repeatedly: `%2574` is `%74` is `t`) and keep it one printable line."""
    for _ in range(3):
        decoded = unquote(value, errors="replace")
        if decoded == value:
            break
        value = decoded
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def mask(value):
    """The text with every personal-link token replaced by an ellipsis."""
    if not isinstance(value, str):
        return value
    if "%" in value:
        decoded = _decoded(value)
        if PERSONAL_LINK.search(decoded):
            value = decoded  # only then: other logged paths stay as sent
    return PERSONAL_LINK.sub("/t/…", value)


class MaskLinkTokens(logging.Filter):
    """A personal link's token in a log would let anyone reading the log in.

    The arguments are masked where they are, so formatters that read them (gunicorn's
    atoms, JSON log formats) keep working."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.msg)
        if isinstance(record.args, dict):
            # In place: gunicorn's atoms are a dict subclass that answers "-" for absent keys.
            for key, value in list(record.args.items()):
                record.args[key] = mask(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(mask(value) for value in record.args)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        request_id = current_request_id()
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry.update(_access_fields(record.args))
            # What the portal answered in X-Request-ID: the validated (or new) id.
            request_id = record.args.get("{x-request-id}o") or request_id
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _access_fields(atoms: dict) -> dict:
    status = str(atoms.get("s"))
    fields = {"method": atoms.get("m"), "path": mask(atoms.get("U")),
              "status": int(status) if status.isdigit() else None,
              "bytes": atoms.get("B"), "duration_ms": None}
    if isinstance(atoms.get("D"), int):
        fields["duration_ms"] = round(atoms["D"] / 1000, 1)
    return {key: value for key, value in fields.items() if value not in (None, "-")}


def gunicorn_json_logger():
    """gunicorn's logger with JSON lines for its error and access logs (deploy/gunicorn.conf.py).

    A function, so gunicorn is imported only where it runs (gunicorn calls it for the class)."""
    from gunicorn.glogging import Logger

    class JsonLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                log.addFilter(_mask)
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    return JsonLogger


def valid_request_id(value: str | None) -> str | None:
    return value if value and VALID_REQUEST_ID.fullmatch(value) else None


def current_request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


_mask = MaskLinkTokens()


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (gunicorn's error log, the journal, a test)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


@functools.cache
def _json_handler() -> logging.Handler:
    handler = _Stderr()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_mask)
    return handler


def init_app(app: Flask) -> None:
    for logger in (*map(logging.getLogger, ACCESS_LOGGERS), app.logger):
        logger.addFilter(_mask)  # the same filter object is added only once
    if app.config.get("LOG_FORMAT") == "json":
        app.logger.handlers[:] = [_json_handler()]
        app.logger.propagate = False
        if app.logger.level == logging.NOTSET:
            app.logger.setLevel(logging.INFO)
    # Flask-Limiter says when Redis is unreachable (and back): into the portal's log too.
    limiter_log = logging.getLogger("flask-limiter")
    for handler in app.logger.handlers:
        if handler not in limiter_log.handlers:
            limiter_log.addHandler(handler)

    @app.before_request
    def take_request_id():
        # nginx sets it; an invalid or missing one is replaced, so every line can be joined.
        sent = valid_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id = sent or secrets.token_hex(16)

    @app.after_request
    def echo_request_id(response):
        request_id = current_request_id()
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response
