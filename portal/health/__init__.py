"""Health endpoints for a load balancer or an orchestrator.

/healthz: the process answers (touches nothing). /readyz: the database answers within a
short time and its schema is at the newest migration; Redis answers when rate limits are
kept there. Both answer JSON without personal data, are never rate-limited, set no cookie
and are never cached."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from ..extensions import csrf, db, limiter

bp = Blueprint("health", __name__)
csrf.exempt(bp)
limiter.exempt(bp)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TIMEOUT_SECONDS = 2


@lru_cache(maxsize=1)
def newest_migration() -> str | None:
    """The head of the migration scripts, read once per process (the scripts don't change)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _answer(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    return _answer({"status": "ok"}, 200)


def check_database() -> tuple[dict, dict]:
    """Two checks: the database answers, and its schema is the newest one."""
    try:
        with db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # A database that accepts connections but hangs must not hang the probe;
                # LOCAL: the pooled connection goes back to the app without this timeout.
                connection.execute(text(f"SET LOCAL statement_timeout = {TIMEOUT_SECONDS * 1000}"))
            try:
                rows = connection.execute(text("SELECT version_num FROM alembic_version"))
                versions = set(rows.scalars())
            except Exception:  # no alembic_version table: never migrated
                connection.rollback()
                versions = set()
    except Exception as error:
        current_app.logger.warning("readyz: database unreachable: %s", type(error).__name__)
        return ({"ok": False, "error": "unreachable"}, {"ok": False, "error": "not checked"})
    head = newest_migration()
    if versions == {head}:
        return {"ok": True}, {"ok": True, "revision": head}
    return ({"ok": True},
            {"ok": False, "error": "not at the newest migration", "expected": head,
             "found": sorted(versions)})


def check_redis() -> dict | None:
    uri = current_app.config.get("RATELIMIT_STORAGE_URI") or ""
    if not uri.startswith(("redis://", "rediss://")):
        return None
    import redis

    try:
        client = redis.Redis.from_url(uri, socket_timeout=TIMEOUT_SECONDS,
                                      socket_connect_timeout=TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:
        current_app.logger.warning("readyz: redis unreachable: %s", type(error).__name__)
        return {"ok": False, "error": "unreachable"}
    return {"ok": True}


@bp.get("/readyz")
def readyz():
    database, schema = check_database()
    checks = {"database": database, "schema": schema}
    redis_check = check_redis()
    if redis_check is not None:
        checks["redis"] = redis_check
    ready = all(check["ok"] for check in checks.values())
    return _answer({"status": "ok" if ready else "unavailable", "checks": checks},
                   200 if ready else 503)
