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
    # The survey after the call (de.toml, en.toml): replace this folder to change the questions'
    # wording (docs/statistics.md).
    SURVEY_DIR: str | None = None  # None: the questions shipped in portal/survey_texts

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
    # PostgreSQL: each worker keeps what unchanged waiting-room and queue polls compare, told of
    # changes by the database (LISTEN/NOTIFY), so such a poll reads nothing (portal/poll_cache.py).
    POLL_CACHE = True

    # Conferencing provider for the hand-off (docs/providers.md): the default one, and those an
    # advisor may choose per appointment (empty: only the default). Each listed one must be
    # fully configured below, or start-up stops.
    PROVIDER = "builtin"
    PROVIDERS: list = []
    # Calls to a provider: seconds per network step, and an extra CA bundle (PEM) trusted
    # besides the system's, for providers behind an agency's own CA.
    PROVIDER_TIMEOUT_SECONDS = 5
    PROVIDER_CA_FILE: str | None = None
    # Jitsi Meet with token authentication: HS256 with the app secret, or RS256 with a
    # private key and its kid (8x8 JaaS). Issuer defaults to the app id, subject to the host.
    JITSI_URL: str | None = None
    JITSI_APP_ID: str | None = None
    JITSI_APP_SECRET: str | None = None
    JITSI_PRIVATE_KEY_FILE: str | None = None
    JITSI_KID: str | None = None
    JITSI_AUDIENCE = "jitsi"
    JITSI_ISSUER: str | None = None
    JITSI_SUBJECT: str | None = None
    # BigBlueButton: the API base (…/bigbluebutton/api/), the shared secret, the checksum.
    BBB_URL: str | None = None
    BBB_SECRET: str | None = None
    BBB_CHECKSUM = "sha256"
    # Webex Instant Connect: a bot or service-app token; the service's addresses (tests
    # point them at a fake).
    WEBEX_TOKEN: str | None = None
    WEBEX_VERTICAL_TYPE = "gen"
    WEBEX_BROKER_URL = "https://mtg-broker-a.wbx2.com/api/v2/joseencrypt"
    WEBEX_INSTANT_URL = "https://instant.webex.com"
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

    # Reminder e-mails this many minutes before an appointment (JSON list or comma-separated;
    # empty: none), sent by `flask mail send-pending` (portal/mailing/reminders.py).
    REMINDER_MINUTES: list = [1440, 60]

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


def _check_reminders(cfg) -> None:
    """REMINDER_MINUTES as whole minutes between 5 and a week; anything else stops start-up."""
    value = cfg.get("REMINDER_MINUTES")
    if value is None or value == "":
        value = []
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    try:
        minutes = sorted({int(str(m)) for m in value}, reverse=True)
    except (TypeError, ValueError):
        minutes = None
    if minutes is None or any(not 5 <= m <= 7 * 24 * 60 for m in minutes):
        raise RuntimeError("PORTAL_REMINDER_MINUTES must list whole minutes between 5 and "
                           "10080 before the appointment, e.g. 1440,60 (empty: no reminders).")
    cfg["REMINDER_MINUTES"] = minutes


PROVIDER_NAMES = ("builtin", "jitsi", "bigbluebutton", "webex", "link")
BBB_CHECKSUMS = ("sha1", "sha256", "sha384", "sha512")
WEBEX_VERTICALS = ("gen", "hc")


def _names(value, key: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [name.strip() for name in value.split(",") if name.strip()]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise RuntimeError(f"PORTAL_{key} must be a comma-separated list of provider names "
                           f"({', '.join(PROVIDER_NAMES)}).")
    unknown = [name for name in value if name not in PROVIDER_NAMES]
    if unknown:
        raise RuntimeError(f"PORTAL_{key}: unknown provider {unknown[0]!r}; known: "
                           f"{', '.join(PROVIDER_NAMES)}.")
    return list(dict.fromkeys(value))


def _text(cfg, key: str, needed_by: str) -> str:
    value = cfg.get(key)
    if value is None or value == "":
        raise RuntimeError(f"PORTAL_{key} is not set; the provider {needed_by!r} needs it "
                           "(see docs/providers.md).")
    if not isinstance(value, str):
        # Parsed from the environment as JSON: turning it back into text could change it.
        raise RuntimeError(f"PORTAL_{key} was read as a number or boolean; use a value with "
                           "letters (or quote it).")
    return value


def _https(cfg, key: str, needed_by: str) -> str:
    from urllib.parse import urlsplit

    url = _text(cfg, key, needed_by)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise RuntimeError(f"PORTAL_{key} must be an https:// URL without query or fragment, "
                           f"e.g. https://meet.agency.example (got {url!r}).")
    return url


def _readable(cfg, key: str) -> str:
    path = cfg.get(key)
    if not isinstance(path, str) or not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise RuntimeError(f"PORTAL_{key}: {path!r} is not a readable file.")
    return path


def _check_providers(cfg) -> None:
    """The default provider and those advisors may choose, each fully configured; anything
    else stops start-up (a hand-off that fails only when a citizen is admitted is worse)."""
    default = cfg.get("PROVIDER")
    if not isinstance(default, str) or default not in PROVIDER_NAMES:
        raise RuntimeError(f"PORTAL_PROVIDER: unknown provider {default!r}; known: "
                           f"{', '.join(PROVIDER_NAMES)}.")
    chosen = _names(cfg.get("PROVIDERS"), "PROVIDERS") or [default]
    if default not in chosen:
        raise RuntimeError(f"PORTAL_PROVIDERS must include the default PORTAL_PROVIDER "
                           f"{default!r}.")
    cfg["PROVIDERS"] = chosen
    timeout = cfg.get("PROVIDER_TIMEOUT_SECONDS")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or \
            not 0 < timeout <= 60:
        raise RuntimeError("PORTAL_PROVIDER_TIMEOUT_SECONDS must be a number of seconds "
                           "above 0 and at most 60.")
    if cfg.get("PROVIDER_CA_FILE"):
        import ssl

        path = _readable(cfg, "PROVIDER_CA_FILE")
        try:
            ssl.create_default_context(cafile=path)
        except (ssl.SSLError, ValueError) as error:
            raise RuntimeError(f"PORTAL_PROVIDER_CA_FILE: {path!r} holds no PEM "
                               f"certificates ({error}).") from None
    if "jitsi" in chosen:
        _https(cfg, "JITSI_URL", "jitsi")
        _text(cfg, "JITSI_APP_ID", "jitsi")
        _text(cfg, "JITSI_AUDIENCE", "jitsi")
        for key in ("JITSI_ISSUER", "JITSI_SUBJECT"):
            if cfg.get(key) is not None and not isinstance(cfg[key], str):
                raise RuntimeError(f"PORTAL_{key} was read as a number or boolean; quote it.")
        if cfg.get("JITSI_PRIVATE_KEY_FILE"):
            path = _readable(cfg, "JITSI_PRIVATE_KEY_FILE")
            _text(cfg, "JITSI_KID", "jitsi (RS256 with PORTAL_JITSI_PRIVATE_KEY_FILE)")
            from cryptography.hazmat.primitives.asymmetric import rsa
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            try:
                with open(path, "rb") as file:
                    key = load_pem_private_key(file.read(), password=None)
            except (ValueError, TypeError) as error:
                raise RuntimeError(f"PORTAL_JITSI_PRIVATE_KEY_FILE: {path!r} is not an "
                                   f"unencrypted PEM private key ({error}).") from None
            if not isinstance(key, rsa.RSAPrivateKey):
                raise RuntimeError("PORTAL_JITSI_PRIVATE_KEY_FILE must hold an RSA key (RS256).")
        else:
            secret = _text(cfg, "JITSI_APP_SECRET", "jitsi (HS256; or set "
                           "PORTAL_JITSI_PRIVATE_KEY_FILE and PORTAL_JITSI_KID for RS256)")
            if len(secret.encode()) < 32:
                # HS256 needs a key as long as its hash (RFC 7518 3.2); a short one can be
                # guessed offline from any token a participant holds.
                raise RuntimeError("PORTAL_JITSI_APP_SECRET must be at least 32 characters "
                                   "long (set the same in prosody's app_secret).")
    if "bigbluebutton" in chosen:
        url = _https(cfg, "BBB_URL", "bigbluebutton").rstrip("/")
        if not url.endswith("/api"):
            raise RuntimeError("PORTAL_BBB_URL must be the API base ending in /api/, e.g. "
                               "https://bbb.agency.example/bigbluebutton/api/.")
        cfg["BBB_URL"] = url + "/"
        _text(cfg, "BBB_SECRET", "bigbluebutton")
        if cfg.get("BBB_CHECKSUM") not in BBB_CHECKSUMS:
            raise RuntimeError(f"PORTAL_BBB_CHECKSUM must be one of {', '.join(BBB_CHECKSUMS)} "
                               f"(got {cfg.get('BBB_CHECKSUM')!r}); sha1 only for servers "
                               "before 2.5.")
    if "webex" in chosen:
        _text(cfg, "WEBEX_TOKEN", "webex")
        if cfg.get("WEBEX_VERTICAL_TYPE") not in WEBEX_VERTICALS:
            raise RuntimeError(f"PORTAL_WEBEX_VERTICAL_TYPE must be gen or hc (got "
                               f"{cfg.get('WEBEX_VERTICAL_TYPE')!r}).")
        _https(cfg, "WEBEX_BROKER_URL", "webex")
        cfg["WEBEX_INSTANT_URL"] = _https(cfg, "WEBEX_INSTANT_URL", "webex").rstrip("/")
    if "jitsi" in chosen:
        cfg["JITSI_URL"] = cfg["JITSI_URL"].rstrip("/")


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
    _check_providers(cfg)
    _check_reminders(cfg)
    if not cfg.get("SECRET_KEY"):
        if app.debug or app.testing:
            cfg["SECRET_KEY"] = os.urandom(32).hex()
        else:
            raise RuntimeError(
                "PORTAL_SECRET_KEY is not set. Set it to a long random value, e.g. "
                "python -c 'import secrets; print(secrets.token_hex(32))'."
            )
