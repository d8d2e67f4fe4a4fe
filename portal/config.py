"""Default settings. Every key can be overridden by an environment variable PORTAL_<KEY>."""

from __future__ import annotations

import logging
import os
from pathlib import Path


class Defaults:
    AGENCY_NAME = "Jobcenter Musterstadt"
    AGENCY_CONTACT = "Telefon 0800 000 000 0 (Mo–Fr 8–18 Uhr)"
    BASE_URL = "http://127.0.0.1:5000"
    TIMEZONE = "Europe/Berlin"

    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: SQLite file in the instance folder
    # Merged with what is given (see finish): hide_parameters keeps token hashes and personal
    # data out of SQL error logs.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}

    # Mail: without MAIL_SERVER the portal writes each message as an .eml file to OUTBOX_DIR.
    MAIL_SERVER: str | None = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "Videotermin <videotermin@localhost>"
    MAIL_TIMEOUT = 10  # seconds for one SMTP conversation
    MAIL_MAX_ATTEMPTS = 8  # then the mail is marked failed and shown as such
    MAIL_RETRY_BASE_SECONDS = 60  # back-off: base * 2**(attempts-1), capped at 6 hours
    OUTBOX_DIR: str | None = None  # None: instance/outbox

    # Consent texts (de.html, en.html): replace this folder to change the wording.
    CONSENT_DIR: str | None = None  # None: the texts shipped in portal/consent
    RETENTION_DAYS = 14

    # Browsers a call works in, with the lowest major version accepted.
    SUPPORTED_BROWSERS = {"Chrome": 110, "Edge": 110, "Firefox": 115, "Safari": 15}

    # The waiting room opens this many minutes before the appointment; it polls this often.
    WAITING_ROOM_OPENS_MINUTES = 30
    WAITING_ROOM_POLL_SECONDS = 3
    # From the appointment's start time the waiting room polls this often (admission is near).
    WAITING_ROOM_DUE_POLL_SECONDS = 1
    # No poll for this long: "connection lost?" on the advisor's queue page.
    PRESENCE_TIMEOUT_SECONDS = 15
    QUEUE_POLL_SECONDS = 5
    # PostgreSQL: each worker keeps what unchanged waiting-room polls compare, told of changes
    # by the database (LISTEN/NOTIFY), so such a poll reads nothing (portal/citizen/poll_cache.py).
    WAITING_ROOM_POLL_CACHE = True

    # Conferencing provider for the hand-off: "builtin" (peer-to-peer WebRTC served here).
    PROVIDER = "builtin"
    # ICE servers for the built-in call, as a JSON list in RTCPeerConnection's format, e.g.
    # [{"urls": "stun:stun.example.org:3478"}, {"urls": "turn:turn.example.org", "username":
    # "u", "credential": "p"}]. Empty: host candidates only (one machine or a LAN).
    ICE_SERVERS: list = []
    # TURN relay for the built-in call (coturn with use-auth-secret): its URLs, as a JSON list
    # or comma-separated, e.g. ["turn:turn.example.org:3478", "turns:turn.example.org:5349?
    # transport=tcp"], and the shared secret. Each caller gets credentials of its own at join
    # time (portal/call/turn.py), valid this long: longer than a call, yet short-lived.
    TURN_URLS: list = []
    TURN_SECRET: str | None = None
    TURN_TTL_SECONDS = 4 * 3600
    CALL_POLL_SECONDS = 1
    # Signalling limits per caller (a participant, or an advisor in one appointment): a call
    # polls once a second and trickles a few dozen ICE candidates per connection.
    CALL_SIGNAL_RATE_LIMIT = "600 per minute"
    CALL_JOIN_RATE_LIMIT = "20 per minute"  # a join is a reload or a second tab
    CALL_MAX_PENDING_SIGNALS = 200  # per recipient, not yet picked up
    CALL_MAX_SIGNAL_BYTES = 1024 * 1024  # stored per appointment
    CALL_SIGNAL_MAX_AGE_SECONDS = 300  # older signals are deleted whatever their state

    # Grades of the device check: per grade the lowest throughput (kbit/s, the lower of up
    # and down) and the highest round-trip time and jitter (ms). See portal/grading.py.
    CHECK_THRESHOLDS = {
        "audio_only": {"kbps": 100, "rtt_ms": 400, "jitter_ms": 30},
        "video": {"kbps": 700, "rtt_ms": 300, "jitter_ms": 30},
        "good": {"kbps": 2000, "rtt_ms": 150, "jitter_ms": 10},
    }
    # The longest time each throughput direction may take (seconds; stops early when stable).
    CHECK_DIRECTION_SECONDS = 4

    # Network check endpoints: size caps and a per-IP request limit against bandwidth abuse.
    NETCHECK_DOWNLOAD_MAX_BYTES = 32 * 1024 * 1024
    NETCHECK_UPLOAD_MAX_BYTES = 8 * 1024 * 1024
    # A check on a gigabit line makes a few hundred requests and moves about 1 GiB (each
    # request is charged in full when it starts); a few checks a minute from one address
    # (a household, an office behind one NAT) must still pass. The volume limit (MiB per
    # address) is what stops abuse; a refused check reports no figure, never a wrong one.
    NETCHECK_RATE_LIMIT = "1200 per minute"
    NETCHECK_VOLUME_LIMIT = "4096 per minute"

    # Personal links stay usable until the appointment's end plus this grace period.
    LINK_GRACE_MINUTES = 60
    # Appointments may last from 5 minutes to 8 hours.
    MIN_DURATION_MINUTES = 5
    MAX_DURATION_MINUTES = 480

    BABEL_DEFAULT_LOCALE = "de"
    LANGUAGES = ("de", "en")

    # Flask-Limiter: memory:// is per process; use redis:// with more than one worker.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Redis down: limits are kept per process in memory meanwhile (logged once), and the
    # portal keeps serving; the shared storage is used again when Redis answers.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    LOGIN_RATE_LIMIT = "10 per minute"
    # Failed sign-ins (and second-factor codes) per account, whatever the address.
    LOGIN_ACCOUNT_RATE_LIMIT = "5 per 15 minutes"
    LINK_RATE_LIMIT = "30 per minute"

    # Largest request body at all (the network check's uploads have their own, lower cap).
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto (0: none trusted).
    PROXY_FIX_HOPS = 0

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE: bool | None = None  # None: True unless debug or testing
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Strict-Transport-Security when cookies are Secure (i.e. served over https).
    HSTS_MAX_AGE = 31536000
    HSTS_INCLUDE_SUBDOMAINS = True
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    # An unchanged session's cookie is re-sent (its expiry slid on) at most this often.
    SESSION_REFRESH_SECONDS = 600
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    # Advisors are signed out after this long without a real request (polls don't count),
    # warned this long before.
    ADVISOR_IDLE_MINUTES = 30
    ADVISOR_IDLE_WARNING_MINUTES = 2
    REQUIRE_2FA: bool | None = None  # None: True unless debug or testing

    # "text" or "json" (one JSON object per line with the request id nginx passes on).
    LOG_FORMAT = "text"

    # PostgreSQL: give up connecting after this many seconds (a database host that drops
    # packets would otherwise hold each worker for the operating system's TCP timeout).
    DATABASE_CONNECT_TIMEOUT_SECONDS = 5


def _owner_only(instance: Path) -> None:
    """Create the instance folder owner-only; an older one that others can enter (from before
    this rule) is tightened, with a warning, since it holds the database and the outbox."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = instance.stat().st_mode & 0o777
    if mode & 0o077 and instance.stat().st_uid == os.getuid():
        instance.chmod(0o700)
        logging.getLogger(__name__).warning(
            "The instance folder %s was open to others (mode %o); it is now owner-only (700).",
            instance, mode)


TURN_SCHEMES = ("turn:", "turns:")


def _check_turn(cfg) -> None:
    """TURN_URLS as a list of turn:/turns: URLs, with a secret, or neither; anything else stops
    start-up (a call that silently lacks its relay fails only between two homes)."""
    urls = cfg.get("TURN_URLS") or []
    if isinstance(urls, str):
        urls = [url.strip() for url in urls.split(",") if url.strip()]
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise RuntimeError("PORTAL_TURN_URLS must be a list of turn: or turns: URLs, as JSON "
                           "or comma-separated.")
    wrong = [url for url in urls if not url.startswith(TURN_SCHEMES) or url in TURN_SCHEMES]
    if wrong:
        raise RuntimeError(f"PORTAL_TURN_URLS: {', '.join(wrong)} is not a turn: or turns: URL "
                           "(e.g. turn:turn.example.org:3478 or turns:turn.example.org:5349).")
    secret = cfg.get("TURN_SECRET")
    if urls and not secret:
        raise RuntimeError("PORTAL_TURN_URLS is set but PORTAL_TURN_SECRET is not: set it to "
                           "the static-auth-secret of the TURN server (coturn use-auth-secret).")
    if secret and not urls:
        raise RuntimeError("PORTAL_TURN_SECRET is set but PORTAL_TURN_URLS is not: name the "
                           "TURN server, e.g. [\"turn:turn.example.org:3478\"].")
    if secret is not None and not isinstance(secret, str):
        # The environment's value parsed as JSON (digits only, "1e5", "true"): turning it back
        # into text could change it ("1e5" → 100000.0), and the relay would refuse every caller.
        raise RuntimeError("PORTAL_TURN_SECRET was read as a number or boolean; use a value "
                           "with letters, e.g. python3 -c 'import secrets; "
                           "print(secrets.token_urlsafe(32))'.")
    ttl = cfg.get("TURN_TTL_SECONDS")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 300:
        raise RuntimeError("PORTAL_TURN_TTL_SECONDS must be a whole number of seconds, "
                           "at least 300.")
    cfg["TURN_URLS"] = urls


def finish(app) -> None:
    """Fill settings that depend on others and refuse unsafe production settings."""
    cfg = app.config
    # The instance folder holds the SQLite database, the outbox and the secret key: owner only.
    _owner_only(Path(app.instance_path))
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {**Defaults.SQLALCHEMY_ENGINE_OPTIONS,
                                        **(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})}
    if str(cfg.get("SQLALCHEMY_DATABASE_URI") or "").startswith("postgresql"):
        options = cfg["SQLALCHEMY_ENGINE_OPTIONS"]
        options["connect_args"] = {
            "connect_timeout": int(cfg["DATABASE_CONNECT_TIMEOUT_SECONDS"]),
            **options.get("connect_args", {})}
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        database = os.path.join(app.instance_path, "portal.db")
        # Created owner-only before SQLite creates it world-readable (its journals inherit this).
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        cfg["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + database
    if not cfg.get("CONSENT_DIR"):
        cfg["CONSENT_DIR"] = str(Path(__file__).parent / "consent")
    if not cfg.get("OUTBOX_DIR"):
        cfg["OUTBOX_DIR"] = os.path.join(app.instance_path, "outbox")
    if cfg.get("SESSION_COOKIE_SECURE") is None:
        cfg["SESSION_COOKIE_SECURE"] = not (app.debug or app.testing)
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
    if cfg["SESSION_COOKIE_SECURE"]:
        # __Host-: the browser keeps the cookie only if Secure, Path=/ and without Domain, so
        # neither a sibling subdomain nor plain http can plant or read it. (The portal never
        # sets a remember-me cookie; should it, it gets the same protection.)
        cfg["SESSION_COOKIE_NAME"] = "__Host-session"
        cfg["SESSION_COOKIE_PATH"] = "/"
        cfg["SESSION_COOKIE_DOMAIN"] = None
        cfg["REMEMBER_COOKIE_NAME"] = "__Host-remember"
        cfg["REMEMBER_COOKIE_PATH"] = "/"
        cfg["REMEMBER_COOKIE_DOMAIN"] = None
    if cfg.get("REQUIRE_2FA") is None:
        cfg["REQUIRE_2FA"] = not (app.debug or app.testing)
    cfg["BASE_URL"] = str(cfg["BASE_URL"]).rstrip("/")
    _check_turn(cfg)
    if not cfg.get("SECRET_KEY"):
        if app.debug or app.testing:
            cfg["SECRET_KEY"] = os.urandom(32).hex()
        else:
            raise RuntimeError(
                "PORTAL_SECRET_KEY is not set. Set it to a long random value, e.g. "
                "python -c 'import secrets; print(secrets.token_hex(32))'."
            )
