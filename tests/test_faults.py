"""Faults in production's parts, tested with real servers: PostgreSQL restarted while a
citizen waits, Redis stopped under the rate limits. (SMTP down: tests/test_mail.py.)"""

from __future__ import annotations

import time

import flask_migrate
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import select

from portal import create_app
from portal.admission import admit
from portal.extensions import db
from portal.models import Advisor, Appointment, Participant

from .conftest import PASSWORD, base_config
from .faultlab import Browser, Gunicorn, PrivatePostgres, PrivateRedis
from .journey_helpers import book

pytestmark = pytest.mark.postgres

WAITING_ROOM = "/termin/wartebereich"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def private_postgres():
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


def migrated_portal(tmp_path, pg: PrivatePostgres):
    """The portal's database on the private cluster, with an advisor and an appointment."""
    admin = sa.create_engine(pg.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("CREATE DATABASE portal"))
    admin.dispose()
    app = create_app(base_config(tmp_path, pg.url("portal")))
    with app.app_context():
        flask_migrate.upgrade()
        advisor = Advisor(name="Anna Berater", email="anna@example.org")
        advisor.set_password(PASSWORD)
        db.session.add(advisor)
        db.session.commit()
        appointment, paths = book(advisor)
        appointment_id = appointment.id
        db.session.remove()
        db.engine.dispose()
    return app, appointment_id, paths


def wait_until(condition, timeout=60.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(interval)


def test_postgresql_restart_while_a_citizen_waits(tmp_path, private_postgres):
    app, appointment_id, paths = migrated_portal(tmp_path, private_postgres)
    server = Gunicorn(tmp_path, {"PORTAL_SQLALCHEMY_DATABASE_URI": private_postgres.url("portal")})
    try:
        citizen = Browser(server.url)
        citizen.to_waiting_room(paths["citizen"])
        assert citizen.get(WAITING_ROOM, **HTMX).status in (200, 204)

        private_postgres.stop()
        # Every worker, every kind of request: 503 with Retry-After, never a 500.
        for _ in range(6):
            poll = citizen.get(WAITING_ROOM, **HTMX)
            assert poll.status == 503, (poll.status, poll.text[:300])
            assert int(poll.headers["Retry-After"]) > 0
            assert poll.headers["Cache-Control"] == "no-store"
        page = citizen.get(WAITING_ROOM)
        assert page.status == 503 and page.headers["Content-Type"].startswith("text/html")
        assert "Es tut uns leid, es gibt ein technisches Problem" in page.text  # German default
        signals = citizen.get(f"/anruf/{appointment_id}/signale")
        assert signals.status == 503 and signals.headers["Content-Type"] == "application/json"
        assert '"error":"unavailable"' in signals.text.replace(" ", "")
        assert citizen.get("/readyz").status == 503
        assert citizen.get("/healthz").status == 200  # the process itself is fine
        stopped_at = time.time()

        private_postgres.start()
        # The pools drop their dead connections (pre-ping): polls answer again on every worker.
        wait_until(lambda: citizen.get(WAITING_ROOM, **HTMX).status in (200, 204))
        for _ in range(6):
            assert citizen.get(WAITING_ROOM, **HTMX).status in (200, 204)
        assert citizen.get("/readyz").status == 200

        with app.app_context():
            def citizen_row():
                db.session.remove()
                return db.session.scalar(select(Participant).where(
                    Participant.appointment_id == appointment_id, Participant.role == "citizen"))

            # Presence resumes: polls store it again (at most every few seconds).
            def seen_again():
                citizen.get(WAITING_ROOM, **HTMX)
                return citizen_row().last_seen_at.timestamp() > stopped_at

            wait_until(seen_again, timeout=30, interval=1)
            # Nothing was lost: consent, device check and the place in the waiting room.
            participant = citizen_row()
            assert participant.has_consented and participant.device_check is not None
            assert participant.journey_state.value == "waiting", participant.journey_state
            advisor = db.session.scalar(select(Advisor))
            assert admit(db.session.get(Appointment, appointment_id), [participant], advisor) == 1
            db.session.remove()
            db.engine.dispose()

        admitted = citizen.get(WAITING_ROOM, **HTMX)
        assert admitted.status == 200 and "data-admitted" in admitted.text
        assert citizen.get("/termin/anruf").status == 200
        assert "Traceback" not in server.log_text()
    finally:
        server.stop()
        log = server.log_text() if not server._log_file.closed else server.log.read_text()
    assert "database unavailable (OperationalError): answering 503" in log


def test_redis_stopped_the_portal_keeps_serving_and_limits_come_back(tmp_path, config):
    store = PrivateRedis()
    store.start()
    database = config["SQLALCHEMY_DATABASE_URI"]
    server = Gunicorn(tmp_path, {"PORTAL_SQLALCHEMY_DATABASE_URI": database,
                                 "PORTAL_RATELIMIT_STORAGE_URI": store.url(),
                                 "PORTAL_LINK_RATE_LIMIT": "6 per minute"})
    visitor = Browser(server.url)
    counters = redis.Redis.from_url(store.url())
    bad_link = "/t/" + "A" * 43

    def link_statuses(count):
        return [visitor.get(bad_link).status for _ in range(count)]

    try:
        # Shared across both workers: the seventh guess is refused, and Redis holds the count.
        assert 429 not in link_statuses(6)
        assert link_statuses(1) == [429]
        assert counters.dbsize() > 0

        store.stop()
        # Pages and rate-limited endpoints keep answering (never 500) ...
        for _ in range(4):
            assert visitor.get("/datenschutz").status == 200
        statuses = link_statuses(14)
        assert set(statuses) <= {404, 429}, statuses  # refused links or limited, never 500
        log = server.log_text()
        warnings = log.count("Rate limit storage unreachable - falling back to in-memory storage")
        assert 1 <= warnings <= 2, log  # once per worker that noticed, not once per request
        assert "Traceback" not in log

        store = PrivateRedis(port=store.port)
        store.start()  # the same address, empty
        # Each worker probes Redis again after a back-off (up to 32 s, on requests); then six
        # guesses across both workers count in Redis again and the seventh is refused.
        def shared_again():
            visitor.get("/datenschutz")
            counters.flushdb()
            first = link_statuses(6)
            return 429 not in first and link_statuses(1) == [429] and counted_in_redis() >= 6

        def counted_in_redis():  # fixed-window counters: one integer per key
            return sum(int(counters.get(key)) for key in counters.keys("*")
                       if counters.type(key) == b"string")

        wait_until(shared_again, timeout=120, interval=2)
        assert "Traceback" not in server.log_text()
    finally:
        server.stop()
        store.stop()
        counters.close()


def test_a_database_error_outside_the_view_is_no_500_either(config, caplog):
    """A statement that fails for another reason than a lost connection: 503 too, and the
    traceback is logged so the bug can be found. Raised in after_request: still a 503."""
    app = create_app({**config, "PROPAGATE_EXCEPTIONS": False})  # as in production

    @app.get("/anruf/broken")
    def broken():
        raise sa.exc.DBAPIError("SELECT 1", None, Exception("boom"))

    @app.after_request
    def fails_late(response):
        if response.status_code == 200:
            db.session.execute(sa.text("SELECT * FROM no_such_table"))
        return response

    with app.app_context(), caplog.at_level("WARNING"):
        client = app.test_client()
        answer = client.get("/anruf/broken")
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert answer.get_json() == {"error": "unavailable", "retry_after": 5}
        late = client.get("/datenschutz")
        assert late.status_code == 503 and "Es tut uns leid" in late.get_data(as_text=True)
        db.session.remove()
    assert "database error: answering 503" in caplog.text and "boom" in caplog.text
