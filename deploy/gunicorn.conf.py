"""gunicorn settings of the reference deployment: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

One instance per systemd unit (deploy/systemd/videotermin@.service, the instance name is the
port); nginx balances over the instances. Options given on the command line win over these.
"""

# --- logging (maintained with portal/logs.py; other settings outside this block) ---
# PORTAL_LOG_FORMAT=json: gunicorn's error and access logs as one JSON object per line, with
# the request id the portal answered in X-Request-ID (nginx's, or a new one). Personal-link
# tokens are masked in every format.
import os as _os

if _os.environ.get("PORTAL_LOG_FORMAT", "text") == "json":
    from portal.logs import gunicorn_json_logger as logger_class  # noqa: F401
# --- end of logging ---

import multiprocessing
import os

# Plain http on loopback only: nginx terminates TLS in front.
bind = os.environ.get("VIDEOTERMIN_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("VIDEOTERMIN_WORKERS", min(4, multiprocessing.cpu_count() + 1)))
# The portal polls (waiting room, queue, call) with short requests: sync workers suffice;
# a stuck request is ended after this long.
timeout = 60
graceful_timeout = 20
keepalive = 5
# Only nginx on this machine may set X-Forwarded-* (the portal's PORTAL_PROXY_FIX_HOPS=1).
forwarded_allow_ips = "127.0.0.1,::1"
# Access log on (to the journal); personal-link tokens are masked by portal/logs.py.
accesslog = "-"
errorlog = "-"
