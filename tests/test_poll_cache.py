"""The waiting room's poll cache on PostgreSQL: an unchanged poll reads nothing, and a change
made anywhere (another instance, a tool writing SQL, the retention job) is seen at once.

Real PostgreSQL (a database of the test's own) with the trigger of migration 0005.
"""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest

from portal import admission, create_app
from portal.citizen.waiting_room import poll_cache, poll_engine
from portal.extensions import db
from portal.models import Advisor, Appointment, Participant, utcnow

from . import test_polling
from .conftest import PASSWORD, base_config
from .pg import pg_database
from .test_polling import HTMX, QUEUE, poll, recorded

pytestmark = pytest.mark.postgres
waiting = test_polling.waiting  # the same fixture, on this module's PostgreSQL `config`


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def eventually(check, seconds: float = 5.0):
    """Until `check()` is true (the database's notice travels to another thread)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def sql(url: str, statement: str, *params) -> None:
    """A write from outside the portal (psql, another program): only the trigger knows."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(statement, params)


def listener_pids(url: str) -> list[int]:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'videotermin poll cache' "
            "AND datname = current_database()")]


def admit_on_another_instance(tmp_path, url: str, appointment_id: int, pid: int) -> None:
    """Instance B on the same database lets the participant in (this worker only hears of it
    through the database)."""
    other = create_app(base_config(tmp_path, url))
    with other.app_context():
        appt = db.session.get(Appointment, appointment_id)
        advisor = db.session.get(Advisor, appt.advisor_id)
        assert admission.admit(appt, [db.session.get(Participant, pid)], advisor) == 1
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def database_url(tmp_path):
    """A fresh, migrated PostgreSQL database of this test's own."""
    with pg_database(migrated=True, config_for=lambda url: base_config(tmp_path, url)) as url:
        yield url


@pytest.fixture
def config(tmp_path, database_url):  # conftest's `app` (and `waiting`) on PostgreSQL
    return base_config(tmp_path, database_url)


@pytest.fixture
def pg(app, database_url):
    """(app, database url), with the app's cache listening; stopped afterwards."""
    cache = poll_cache()
    eventually(lambda: cache.listening)
    yield app, database_url
    cache.stop(wait=5)
    poll_engine().dispose()


def test_an_unchanged_poll_reads_nothing_once_the_row_is_kept(pg, waiting):
    app, _ = pg
    _, client, _, version = waiting
    assert poll(client, version).status_code == 204  # read, and kept
    with recorded(app) as (statements, templates):
        for _ in range(3):
            assert poll(client, version).status_code == 204
    assert statements == [] and templates == []


def test_a_message_written_by_another_program_reaches_the_waiting_room(pg, waiting):
    _, url = pg
    appointment, client, _, version = waiting
    assert poll(client, version).status_code == 204
    sql(url, "UPDATE appointment SET waiting_message = %s, waiting_message_at = now() "
             "AT TIME ZONE 'UTC' WHERE id = %s", "Ich verspäte mich um 5 Minuten.",
        appointment.id)
    eventually(lambda: poll(client, version).status_code == 200)
    assert "Ich verspäte mich" in poll(client, version).get_data(as_text=True)


def test_admission_on_another_instance_sends_the_citizen_on(pg, waiting, tmp_path):
    _, url = pg
    appointment, client, pid, version = waiting
    assert poll(client, version).status_code == 204
    admit_on_another_instance(tmp_path, url, appointment.id, pid)
    eventually(lambda: poll(client, version).status_code != 204)
    assert "data-admitted" in poll(client, version).get_data(as_text=True)


def test_erasure_outside_the_request_path_ends_the_binding(pg, waiting):
    _, url = pg
    _, client, pid, version = waiting
    assert poll(client, version).status_code == 204
    # As the retention job does it: a bulk UPDATE, no ORM object in this process.
    sql(url, "UPDATE participant SET erased_at = now() AT TIME ZONE 'UTC', name = NULL "
             "WHERE id = %s", pid)
    eventually(lambda: poll(client, version).status_code == 404)


def test_a_broken_listener_serves_nothing_stale(pg, waiting):
    _, url = pg
    appointment, client, _, version = waiting
    assert poll(client, version).status_code == 204
    cache = poll_cache()
    old = listener_pids(url)
    assert len(old) == 1
    # The listener's connection is cut (a PostgreSQL restart, a network hiccup); a change
    # comes before it listens again, so no notice about it ever reaches this worker.
    sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE application_name = 'videotermin poll cache' AND datname = current_database()")
    sql(url, "UPDATE appointment SET waiting_message = 'Bitte noch kurz warten.', "
             "waiting_message_at = now() AT TIME ZONE 'UTC' WHERE id = %s", appointment.id)
    # Listening again on a new connection (the same thread noticed the loss first).
    eventually(lambda: cache.listening and listener_pids(url) not in ([], old))
    assert poll(client, version).status_code == 200


def test_a_row_read_while_a_notice_came_is_not_kept(pg, waiting):
    _, url = pg
    appointment, _, pid, _ = waiting
    cache = poll_cache()
    epoch = cache.epoch()
    stale = object()  # what a poll read just before the change below
    sql(url, "UPDATE appointment SET waiting_message_at = now() AT TIME ZONE 'UTC' "
             "WHERE id = %s", appointment.id)
    eventually(lambda: cache.epoch() != epoch)
    cache.put(pid, appointment.id, stale, epoch)
    assert cache.get(pid) is None


def test_presence_is_written_in_the_next_batch(pg, waiting):
    _, url = pg
    _, client, pid, version = waiting
    long_ago = (utcnow() - timedelta(seconds=40)).replace(tzinfo=None)
    sql(url, "UPDATE participant SET last_seen_at = %s WHERE id = %s", long_ago, pid)
    before = utcnow()
    assert poll(client, version).status_code == 204

    def written():
        db.session.expire_all()
        seen = db.session.get(Participant, pid).last_seen_at
        return seen is not None and seen >= before - timedelta(seconds=1)

    eventually(written)


# The advisor's queue: the sign-in check and the queue's rows are kept too.

def queue_version(staff) -> str:
    html = staff.get(QUEUE, headers=HTMX).get_data(as_text=True)
    return html.split("v=", 1)[1].split('"', 1)[0]


def queue_poll(staff, version: str):
    return staff.get(f"{QUEUE}?v={version}", headers=HTMX)


def test_an_unchanged_queue_poll_reads_nothing_once_kept(pg, waiting, staff):
    app, _ = pg
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204  # read, and kept
    with recorded(app) as (statements, templates):
        for _ in range(3):
            assert queue_poll(staff, version).status_code == 204
    assert statements == [] and templates == []


def test_presence_written_elsewhere_reaches_the_kept_queue(pg, waiting, staff, advisor):
    _, url = pg
    _, _, pid, _ = waiting
    # The citizen's last poll was stored long ago: "connection lost?".
    long_ago = (utcnow() - timedelta(seconds=40)).replace(tzinfo=None)
    sql(url, "UPDATE participant SET last_seen_at = %s WHERE id = %s", long_ago, pid)
    eventually(lambda: 'data-state="connection_lost"' in staff.get(QUEUE).get_data(as_text=True))
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204
    kept = poll_cache().get_queue(advisor.id, False)
    assert kept is not None
    # Another worker writes the citizen's presence: the queue shows them waiting again, from
    # the rows it keeps (presence is merged in, not a reason to read the queue again).
    sql(url, "UPDATE participant SET last_seen_at = %s WHERE id = %s",
        utcnow().replace(tzinfo=None), pid)
    eventually(lambda: queue_poll(staff, version).status_code == 200)
    assert 'data-state="waiting"' in queue_poll(staff, version).get_data(as_text=True)
    assert poll_cache().get_queue(advisor.id, False) is kept


def test_the_queue_sees_changes_made_elsewhere(pg, waiting, staff, tmp_path):
    _, url = pg
    appointment, _, pid, _ = waiting
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204
    sql(url, "UPDATE appointment SET waiting_message = %s, waiting_message_at = now() "
             "AT TIME ZONE 'UTC' WHERE id = %s", "Ich bin gleich da.", appointment.id)
    eventually(lambda: queue_poll(staff, version).status_code == 200)
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204
    admit_on_another_instance(tmp_path, url, appointment.id, pid)
    eventually(lambda: queue_poll(staff, version).status_code == 200)
    html = queue_poll(staff, version).get_data(as_text=True)
    assert f'data-participant="{pid}" data-state="admitted"' in html
    # The meeting's state at the provider, as another instance records a failure.
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204
    sql(url, "UPDATE provider_meeting SET last_failure = 'timeout', last_failure_at = now() "
             "AT TIME ZONE 'UTC' WHERE appointment_id = %s", appointment.id)
    eventually(lambda: queue_poll(staff, version).status_code == 200)


def test_signing_out_everywhere_ends_a_kept_session(pg, waiting, staff, advisor):
    _, url = pg
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204
    assert poll_cache().get_advisor(advisor.id) is not None
    # As "sign out everywhere" on another instance does it.
    sql(url, "UPDATE advisor SET session_generation = session_generation + 1 WHERE id = %s",
        advisor.id)
    eventually(lambda: queue_poll(staff, version).status_code != 204)
    assert staff.get("/beratung/termine").headers["Location"].startswith("/anmelden")


def test_a_broken_listener_keeps_no_queue(pg, waiting, staff):
    _, url = pg
    appointment, _, _, _ = waiting
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204
    cache = poll_cache()
    old = listener_pids(url)
    sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE application_name = 'videotermin poll cache' AND datname = current_database()")
    sql(url, "UPDATE appointment SET waiting_message = 'Gleich geht es los.', "
             "waiting_message_at = now() AT TIME ZONE 'UTC' WHERE id = %s", appointment.id)
    eventually(lambda: cache.listening and listener_pids(url) not in ([], old))
    assert queue_poll(staff, version).status_code == 200


def test_queue_rows_read_while_a_notice_came_are_not_kept(pg, waiting, advisor):
    _, url = pg
    appointment, _, _, _ = waiting
    cache = poll_cache()
    epoch = cache.queue_epoch(advisor.id, False)
    sql(url, "UPDATE appointment SET status = status WHERE id = %s", appointment.id)
    eventually(lambda: cache.queue_epoch(advisor.id, False) != epoch)
    cache.put_queue(advisor.id, False, object(), epoch)
    assert cache.get_queue(advisor.id, False) is None


def test_the_kept_queue_fingerprint_turns_with_the_clock_exactly_like_a_fresh_one(
        pg, waiting, advisor, monkeypatch):
    """The kept fingerprint is reused until the next moment the clock alone can change it;
    at every turning point (and just before and after) it equals one worked out afresh."""
    from flask_login import login_user

    from portal.advisor import fingerprint

    app, _ = pg
    appointment, _, pid, _ = waiting
    p = db.session.get(Participant, pid)
    now = utcnow().replace(microsecond=0)
    p.waiting_since, p.last_seen_at = now - timedelta(seconds=50), now - timedelta(seconds=3)
    db.session.commit()
    config = app.config
    timeout = timedelta(seconds=config["PRESENCE_TIMEOUT_SECONDS"])
    turns = [now + timedelta(seconds=10), p.last_seen_at + timeout,  # a minute; presence
             appointment.starts_at - timedelta(minutes=config["WAITING_ROOM_OPENS_MINUTES"]),
             appointment.ends_at, appointment.ends_at + timedelta(
                 minutes=config["LINK_GRACE_MINUTES"])]
    tiny = timedelta(microseconds=1)
    times = sorted({t + d for t in turns for d in (-tiny, timedelta(0), tiny)} | {now})
    worked_out = []
    real = fingerprint._fingerprint

    def counted(*args):
        worked_out.append(args[1].now)
        return real(*args)

    monkeypatch.setattr(fingerprint, "_fingerprint", counted)
    with app.test_request_context():
        login_user(advisor)
        eventually(lambda: poll_cache().listening)
        seen = []
        for t in times:
            if t < now:
                continue
            got = fingerprint.queue_fingerprint(False, t)
            kept = poll_cache().get_queue(advisor.id, False)
            assert kept is not None
            fresh = real(kept.rows, fingerprint.Window(t), "de", False, poll_cache())[0]
            assert got == fresh, t
            seen.append(got)
    assert len(set(seen)) >= 4  # minutes, presence lost, over, gone from the queue
    assert len(worked_out) < len(seen)  # and most answers came from the kept one


def test_the_kept_advisor_follows_the_advisors_rules_and_reads_the_rest(pg, waiting, staff,
                                                                         advisor):
    from portal.accounts import KeptAdvisor, advisor_by_id

    app, _ = pg
    version = queue_version(staff)
    assert queue_poll(staff, version).status_code == 204  # kept
    with app.test_request_context():
        kept = advisor_by_id(advisor.id, kept=True)
        assert isinstance(kept, KeptAdvisor)
        assert (kept.get_id(), kept.is_admin, kept.is_active, kept.has_two_factor) == (
            advisor.get_id(), advisor.is_admin, advisor.is_active, advisor.has_two_factor)
        # Not kept (the password hash never is): read from the database when asked for.
        assert kept.check_password(PASSWORD)
        assert [a.id for a in kept.appointments] == [a.id for a in advisor.appointments]
