"""Cheap polling: the unchanged waiting-room and queue polls answer 204 from a data fingerprint,
without rendering and without writing; every change either fragment shows changes it.

Behaviour only: speed is measured in bench/polling.py.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import template_rendered
from sqlalchemy import event

from portal import admission
from portal.advisor.fingerprint import queue_fingerprint
from portal.citizen.waiting_room import poll_engine, presence_write_every
from portal.extensions import db
from portal.models import JourneyState, Participant, utcnow
from portal.scheduling import cancel_appointment, reschedule_appointment

from .journey_helpers import book, consent, device_check, to_waiting_room

HTMX = {"HX-Request": "true"}
WAITING_ROOM = "/termin/wartebereich"
QUEUE = "/beratung/warteschlange"


def version_in(response) -> str:
    match = re.search(r"[?&](?:amp;)?v=([0-9a-f]{16})", response.get_data(as_text=True))
    assert match, "the fragment carries its version"
    return match.group(1)


@contextmanager
def recorded(app):
    """SQL statements sent to the database and templates rendered, during the block."""
    statements, templates = [], []

    def on_statement(conn, cursor, statement, *args):
        statements.append(statement.split(None, 1)[0].upper())

    def on_render(sender, template, context, **extra):
        templates.append(template.name)

    engines = (db.engine, poll_engine())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_statement)
    template_rendered.connect(on_render, app)
    try:
        yield statements, templates
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_statement)
        template_rendered.disconnect(on_render, app)


def participant(pid: int) -> Participant:
    db.session.expire_all()
    return db.session.get(Participant, pid)


def set_last_seen(pid: int, ago: timedelta) -> None:
    p = participant(pid)
    p.last_seen_at = utcnow() - ago
    db.session.commit()


@pytest.fixture
def waiting(app, advisor):
    """A citizen in the waiting room: (appointment, citizen's client, citizen's id, version)."""
    appointment, paths = book(advisor)
    client = app.test_client()
    to_waiting_room(client, paths["citizen"])
    version = version_in(client.get(WAITING_ROOM, headers=HTMX))
    return appointment, client, appointment.citizen.id, version


def poll(client, version):
    return client.get(f"{WAITING_ROOM}?v={version}", headers=HTMX)


# The waiting room


def test_unchanged_poll_is_one_select_no_update_no_template(app, waiting):
    appointment, client, pid, version = waiting
    set_last_seen(pid, timedelta(seconds=1))  # fresh
    before = participant(pid).last_seen_at
    with recorded(app) as (statements, templates):
        response = poll(client, version)
    assert response.status_code == 204 and response.get_data() == b""
    assert statements == ["SELECT"]
    assert templates == []
    assert participant(pid).last_seen_at == before


def test_presence_write_interval_leaves_room_for_a_missed_poll(app):
    # Defaults: timeout 15 s, poll 3 s, PostgreSQL's batch delay 2 s -> written every 5 s
    # at most (every second poll).
    assert presence_write_every() == timedelta(seconds=5)
    app.config.update(PRESENCE_TIMEOUT_SECONDS=30, WAITING_ROOM_POLL_SECONDS=5)
    assert presence_write_every() == timedelta(seconds=16)


def test_presence_is_written_after_the_interval_then_not_again(app, waiting):
    appointment, client, pid, version = waiting
    set_last_seen(pid, timedelta(seconds=4.5))
    with recorded(app) as (statements, _):
        assert poll(client, version).status_code == 204
    assert statements == ["SELECT"], "younger than the interval: not written"
    set_last_seen(pid, timedelta(seconds=6))
    stale = participant(pid).last_seen_at
    with recorded(app) as (statements, _):
        assert poll(client, version).status_code == 204
    assert statements == ["SELECT", "UPDATE"]
    written = participant(pid).last_seen_at
    assert written > stale and utcnow() - written < timedelta(seconds=5)
    with recorded(app) as (statements, _):
        assert poll(client, version).status_code == 204
    assert statements == ["SELECT"]
    assert participant(pid).last_seen_at == written


def test_first_presence_is_written_when_none_is_stored(app, waiting):
    appointment, client, pid, version = waiting
    p = participant(pid)
    p.last_seen_at = None
    db.session.commit()
    assert poll(client, version).status_code == 204
    assert participant(pid).last_seen_at is not None


def test_queue_sees_connection_lost_and_back_through_fast_polls(app, staff, waiting):
    appointment, client, pid, version = waiting
    set_last_seen(pid, timedelta(seconds=40))
    queue_version = version_in(staff.get(QUEUE, headers=HTMX))
    assert f'data-participant="{pid}" data-state="connection_lost"' in \
        staff.get(QUEUE).get_data(as_text=True)
    assert poll(client, version).status_code == 204  # the fast path writes presence
    response = staff.get(f"{QUEUE}?v={queue_version}", headers=HTMX)
    assert response.status_code == 200
    assert f'data-participant="{pid}" data-state="waiting"' in response.get_data(as_text=True)


def test_a_wrong_session_or_version_never_gets_a_204(app, waiting):
    appointment, client, pid, version = waiting
    assert app.test_client().get(f"{WAITING_ROOM}?v={version}", headers=HTMX).status_code == 404
    response = poll(client, "0" * 16)
    assert response.status_code == 200 and 'id="waiting-status"' in response.get_data(as_text=True)


def _changes(client, version) -> str:
    """The poll with the old version answers with the new fragment."""
    response = poll(client, version)
    assert response.status_code == 200, "a change must not be answered with 204"
    return response.get_data(as_text=True)


def test_advisor_message_changes_the_waiting_room(app, advisor, waiting):
    appointment, client, pid, version = waiting
    admission.set_waiting_message(appointment, "Fünf Minuten später", advisor)
    assert "Fünf Minuten später" in _changes(client, version)


def test_admission_changes_the_waiting_room(app, advisor, waiting):
    appointment, client, pid, version = waiting
    db.session.expire_all()
    admission.admit(appointment, [participant(pid)], advisor)
    assert "data-admitted" in _changes(client, version)


def test_cancellation_and_end_leave_the_waiting_room(app, advisor, waiting):
    appointment, client, pid, version = waiting
    cancel_appointment(appointment, actor="advisor")
    response = poll(client, version)
    assert response.status_code != 204
    assert "HX-Redirect" in response.headers or response.status_code == 404


def test_end_sends_the_waiting_participant_on(app, advisor, waiting):
    appointment, client, pid, version = waiting
    admission.end_appointment(appointment, advisor)
    response = poll(client, version)
    assert response.status_code == 200 and response.headers.get("HX-Redirect")


def test_reschedule_changes_the_waiting_room(app, advisor, waiting):
    appointment, client, pid, version = waiting
    reschedule_appointment(appointment, starts_at=appointment.starts_at + timedelta(minutes=5),
                           duration_minutes=appointment.duration_minutes)
    assert poll(client, version).status_code != 204


def test_leaving_in_another_tab_is_not_undone_by_a_poll(app, waiting):
    appointment, client, pid, version = waiting
    p = participant(pid)
    p.journey_state = JourneyState.LEFT
    db.session.commit()
    assert poll(client, version).status_code != 204
    assert participant(pid).journey_state is JourneyState.LEFT


def test_the_waiting_room_polls_faster_from_the_start_time(app, advisor):
    early, paths = book(advisor, starts_in=timedelta(minutes=10))
    client = app.test_client()
    html = to_waiting_room(client, paths["citizen"]).get_data(as_text=True)
    assert 'hx-trigger="every 3s"' in html
    due, paths = book(advisor, starts_in=timedelta(minutes=-1))
    client = app.test_client()
    html = to_waiting_room(client, paths["citizen"]).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html


# The advisor's queue


def queue_version(staff) -> str:
    return version_in(staff.get(QUEUE, headers=HTMX))


def test_unchanged_queue_poll_is_204_without_rendering(app, staff, advisor, waiting):
    version = queue_version(staff)
    with recorded(app) as (statements, templates):
        response = staff.get(f"{QUEUE}?v={version}", headers=HTMX)
    assert response.status_code == 204 and response.get_data() == b""
    assert templates == []
    # The advisor's login check and the fingerprint: nothing else, nothing written.
    assert statements == ["SELECT", "SELECT"]


def _queue_changed(staff, version) -> str:
    response = staff.get(f"{QUEUE}?v={version}", headers=HTMX)
    assert response.status_code == 200, "a change must not be answered with 204"
    return response.get_data(as_text=True)


@pytest.mark.parametrize("change", [
    "message", "admission", "identity", "cancellation", "end", "reschedule",
    "other participant", "device check", "erasure", "connection lost",
])
def test_every_change_the_queue_shows_changes_its_fingerprint(app, staff, advisor, change):
    appointment, paths = book(advisor, interpreter=True)
    citizen_client = app.test_client()
    to_waiting_room(citizen_client, paths["citizen"])
    version = queue_version(staff)
    assert staff.get(f"{QUEUE}?v={version}", headers=HTMX).status_code == 204
    db.session.expire_all()  # the requests changed rows this session has loaded
    citizen, interpreter = appointment.citizen, [
        p for p in appointment.participants if p.role.value == "interpreter"][0]
    if change == "message":
        admission.set_waiting_message(appointment, "Bitte noch kurz warten", advisor)
    elif change == "admission":
        admission.admit(appointment, [citizen], advisor)
    elif change == "identity":
        admission.set_identity_checked(citizen, True, advisor)
    elif change == "cancellation":
        cancel_appointment(appointment, actor="advisor")
    elif change == "end":
        admission.end_appointment(appointment, advisor)
    elif change == "reschedule":
        reschedule_appointment(appointment, starts_at=appointment.starts_at
                               + timedelta(minutes=15),
                               duration_minutes=appointment.duration_minutes)
    elif change == "other participant":
        interpreter_client = app.test_client()
        interpreter_client.get(paths["interpreter"])
        consent(interpreter_client)
    elif change == "device check":
        device_check(citizen_client, camera="denied", confirm=True)
    elif change == "erasure":
        interpreter.erase_personal_data()
        db.session.commit()
    elif change == "connection lost":
        set_last_seen(citizen.id, timedelta(seconds=40))
    _queue_changed(staff, version)


def test_queue_fingerprint_follows_the_clock(app, staff, advisor, waiting):
    """Waiting minutes, presence timing out and a no-show are changes nobody makes."""
    appointment, client, pid, version = waiting
    set_last_seen(pid, timedelta(seconds=0))
    p = participant(pid)
    p.waiting_since = utcnow()
    db.session.commit()
    now = utcnow()
    with app.test_request_context():
        from flask_login import login_user

        login_user(advisor)
        same = queue_fingerprint(False, now)
        assert queue_fingerprint(False, now + timedelta(seconds=1)) == same
        assert queue_fingerprint(False, now + timedelta(seconds=61)) != same  # minutes; presence
        late = queue_fingerprint(False, appointment.ends_at - timedelta(seconds=1))
        assert queue_fingerprint(False, appointment.ends_at + timedelta(seconds=1)) != late



# The session cookie


def test_unchanged_poll_does_not_resend_the_session_cookie(app, waiting):
    appointment, client, pid, version = waiting
    response = poll(client, version)
    assert response.status_code == 204
    assert "Set-Cookie" not in response.headers
    # Once the signature is older than SESSION_REFRESH_SECONDS, the expiry slides on.
    app.config["SESSION_REFRESH_SECONDS"] = 0
    response = poll(client, version)
    assert response.status_code == 204
    assert app.config["SESSION_COOKIE_NAME"] in response.headers.get("Set-Cookie", "")
    # and the re-sent cookie still binds the participant
    assert poll(client, version).status_code == 204


def test_a_changed_session_is_always_sent(app, waiting):
    appointment, client, pid, version = waiting
    response = client.get(f"{WAITING_ROOM}?v={version}&lang=en", headers=HTMX)
    assert app.config["SESSION_COOKIE_NAME"] in response.headers.get("Set-Cookie", "")
