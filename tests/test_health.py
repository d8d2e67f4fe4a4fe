"""/healthz and /readyz, as a load balancer or an orchestrator asks them."""

from __future__ import annotations

import socket
import threading

import flask_migrate
import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db

from .conftest import base_config
from .helpers import free_port
from .pg import pg_database


def _get(app, path):
    with app.app_context():
        response = app.test_client().get(path)
        db.session.remove()
    return response


def assert_probe_answer(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers


def test_healthz_answers_ok_without_touching_anything(tmp_path):
    # A database that does not exist: the process still answers.
    app = create_app(base_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = _get(app, "/healthz")
    assert_probe_answer(response, 200)
    assert response.get_json() == {"status": "ok"}


def test_readyz_on_the_migrated_sqlite_database(app):
    response = app.test_client().get("/readyz")
    assert_probe_answer(response, 200)
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]
    assert "redis" not in body["checks"]  # memory:// rate limits: nothing to check


def test_probes_are_not_rate_limited(config):
    config["RATELIMIT_DEFAULT"] = "2 per minute"
    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
        # The default limit is real: an ordinary page runs into it.
        assert [client.get("/datenschutz").status_code for _ in range(3)][-1] == 429
        db.session.remove()


@pytest.mark.postgres
def test_readyz_names_the_schema_until_postgresql_is_migrated(tmp_path):
    def config_for(url):
        return base_config(tmp_path, url)

    with pg_database(migrated=False, config_for=config_for) as url:
        app = create_app(config_for(url))
        response = _get(app, "/readyz")
        assert_probe_answer(response, 503)
        body = response.get_json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == {"ok": True}
        assert body["checks"]["schema"]["ok"] is False
        assert body["checks"]["schema"]["error"] == "not at the newest migration"
        assert "127.0.0.1" not in response.get_data(as_text=True)  # no connection details

        with app.app_context():
            flask_migrate.upgrade()
            db.engine.dispose()
        response = _get(app, "/readyz")
        assert_probe_answer(response, 200)
        assert response.get_json()["checks"]["schema"]["ok"] is True
        with app.app_context():
            # The probe's short statement timeout stays with the probe, not the pooled connection.
            assert db.engine.pool.checkedin() == 1
            with db.engine.connect() as connection:
                assert connection.execute(sa.text("SHOW statement_timeout")).scalar() == "0"
            db.engine.dispose()


@pytest.mark.postgres
def test_readyz_when_postgresql_is_unreachable(tmp_path):
    app = create_app(base_config(tmp_path, f"postgresql+psycopg://root@127.0.0.1:{free_port()}/x"))
    response = _get(app, "/readyz")
    assert_probe_answer(response, 503)
    checks = response.get_json()["checks"]
    assert checks["database"] == {"ok": False, "error": "unreachable"}
    assert checks["schema"]["ok"] is False


@pytest.mark.postgres
def test_readyz_gives_up_on_a_database_host_that_never_answers(tmp_path):
    """A host that accepts the connection and then says nothing (a hung server, a firewall
    that swallows packets) must not hold the probe, or the worker, for minutes."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    config = base_config(tmp_path, f"postgresql+psycopg://root@127.0.0.1:{port}/x")
    config["DATABASE_CONNECT_TIMEOUT_SECONDS"] = 1
    app = create_app(config)
    answers = []
    probe = threading.Thread(target=lambda: answers.append(_get(app, "/readyz")), daemon=True)
    try:
        probe.start()
        probe.join(30)  # without a connect timeout, libpq waits for ever here
        assert answers, "the probe hung on a silent database host"
        assert_probe_answer(answers[0], 503)
        assert answers[0].get_json()["checks"]["database"] == {"ok": False,
                                                               "error": "unreachable"}
    finally:
        silent.close()


def test_readyz_checks_redis_when_rate_limits_live_there(config):
    config["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:6379/6"
    response = _get(create_app(config), "/readyz")
    assert_probe_answer(response, 200)
    assert response.get_json()["checks"]["redis"] == {"ok": True}


def test_readyz_fails_when_redis_is_unreachable(config):
    config["RATELIMIT_STORAGE_URI"] = f"redis://127.0.0.1:{free_port()}/6"
    response = _get(create_app(config), "/readyz")
    assert_probe_answer(response, 503)
    body = response.get_json()
    assert body["checks"]["redis"] == {"ok": False, "error": "unreachable"}
    assert body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]
