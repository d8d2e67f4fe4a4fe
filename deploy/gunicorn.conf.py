"""gunicorn settings of the reference deployment: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`."""

# --- logging (maintained with portal/logs.py; other settings outside this block) ---
# PORTAL_LOG_FORMAT=json: gunicorn's error and access logs as one JSON object per line, with
# the request id the portal answered in X-Request-ID (nginx's, or a new one). Personal-link
# tokens are masked in every format.
import os as _os

if _os.environ.get("PORTAL_LOG_FORMAT", "text") == "json":
    from portal.logs import gunicorn_json_logger as logger_class  # noqa: F401
# --- end of logging ---
