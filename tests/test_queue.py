"""The advisor's queue page: states, presence, admission and the other actions."""

from __future__ import annotations

import json
from datetime import timedelta

from portal.extensions import db
from portal.models import AuditEvent, DeviceCheck, JourneyState, Participant, utcnow

from .helpers import csrf_token, login
from .journey_helpers import book, consent, device_check, to_waiting_room

HTMX = {"HX-Request": "true"}


def rows(html: str) -> dict[str, str]:
    """participant id -> data-state, from the rendered queue."""
    import re

    return dict(re.findall(r'data-participant="(\d+)" data-state="([a-z_]+)"', html))


def test_queue_shows_todays_participants_with_state_and_device_check(app, staff, advisor):
    appointment, paths = book(advisor, interpreter=True)
    citizen = app.test_client()
    to_waiting_room(citizen, paths["citizen"])
    html = staff.get("/beratung/warteschlange").get_data(as_text=True)
    states = rows(html)
    ids = {p.role.value: str(p.id) for p in appointment.participants}
    assert states == {ids["citizen"]: "waiting", ids["interpreter"]: "invited"}
    assert "<title>(1) " in html  # the count of waiting people in the title
    assert "Chrome 131" in html and "Android 14" in html
    assert 'data-waiting-count="1"' in html


def test_someone_who_stops_polling_shows_as_connection_lost(app, staff, advisor):
    appointment, paths = book(advisor)
    to_waiting_room(app.test_client(), paths["citizen"])
    citizen = db.session.get(Participant, appointment.citizen.id)
    citizen.last_seen_at = utcnow() - timedelta(seconds=40)
    citizen.waiting_since = utcnow() - timedelta(minutes=7)
    db.session.commit()
    html = staff.get("/beratung/warteschlange").get_data(as_text=True)
    assert rows(html)[str(citizen.id)] == "connection_lost"
    assert "7 Minuten" in html  # still listed with the waiting time, not silently removed


def test_no_show_and_cancelled_states(app, staff, advisor):
    late, _ = book(advisor, starts_in=timedelta(minutes=-50))
    html = staff.get("/beratung/warteschlange").get_data(as_text=True)
    assert rows(html)[str(late.citizen.id)] == "no_show"


def test_queue_shows_warnings_and_jitter_and_survives_partial_figures(app, staff, advisor):
    appointment, paths = book(advisor, interpreter=True)
    citizen = app.test_client()
    citizen.get(paths["citizen"])
    consent(citizen)
    device_check(citizen, warnings="camera_frozen,microphone_clipping,bogus", jitter_ms="7.4")
    # A hand-made request with half the network figures: nothing of them is kept.
    interpreter = app.test_client()
    interpreter.get(paths["interpreter"])
    consent(interpreter)
    device_check(interpreter, confirm=True, upload_kbps="", rtt_ms="abc")
    response = staff.get("/beratung/warteschlange")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Bild eingefroren" in html and "Mikrofon übersteuert" in html
    assert "bogus" not in html
    assert "Jitter 7 ms" in html
    partial = db.session.query(DeviceCheck).filter_by(
        participant_id=appointment.participants[1].id).one()
    assert (partial.download_kbps, partial.upload_kbps, partial.rtt_ms, partial.jitter_ms) == (
        None, None, None, None)


def test_queue_spans_midnight_for_open_waiting_rooms(app, staff, advisor):
    # Stands in for 23:50 and an appointment at 00:05: another day, but its waiting room is
    # open, so whoever waits there must be on the queue. Days away, it is not.
    app.config["WAITING_ROOM_OPENS_MINUTES"] = 3 * 24 * 60
    soon, paths = book(advisor, starts_in=timedelta(days=2))
    later, _ = book(advisor, starts_in=timedelta(days=4))
    to_waiting_room(app.test_client(), paths["citizen"])
    # A call that began yesterday evening and is still within its grace period stays too.
    app.config["LINK_GRACE_MINUTES"] = 2 * 24 * 60
    running, _ = book(advisor, starts_in=timedelta(days=-1, hours=-1))
    over, _ = book(advisor, starts_in=timedelta(days=-4))
    states = rows(staff.get("/beratung/warteschlange").get_data(as_text=True))
    assert states[str(soon.citizen.id)] == "waiting"
    assert str(running.citizen.id) in states
    assert str(later.citizen.id) not in states and str(over.citizen.id) not in states


def test_unchanged_queue_poll_is_204_and_a_change_returns_the_fragment(app, staff, advisor):
    appointment, paths = book(advisor)
    first = staff.get("/beratung/warteschlange", headers=HTMX)
    version = first.get_data(as_text=True).split("v=", 1)[1].split('"', 1)[0]
    assert staff.get(f"/beratung/warteschlange?v={version}", headers=HTMX).status_code == 204
    to_waiting_room(app.test_client(), paths["citizen"])
    changed = staff.get(f"/beratung/warteschlange?v={version}", headers=HTMX)
    assert changed.status_code == 200
    assert 'data-state="waiting"' in changed.get_data(as_text=True)
    assert "<html" not in changed.get_data(as_text=True)  # only the fragment


def test_admit_with_and_without_javascript_is_audited(app, staff, advisor):
    appointment, paths = book(advisor, interpreter=True)
    for role in ("citizen", "interpreter"):
        to_waiting_room(app.test_client(), paths[role])
    token = csrf_token(staff, "/beratung/warteschlange")
    url = f"/beratung/termine/{appointment.id}/einlassen/{appointment.citizen.id}"
    plain = staff.post(url, data={"csrf_token": token})
    assert plain.status_code == 302 and plain.headers["Location"] == "/beratung/warteschlange"
    interpreter = next(p for p in appointment.participants if p.role.value == "interpreter")
    partial = staff.post(f"/beratung/termine/{appointment.id}/alle-einlassen",
                         data={"csrf_token": token}, headers=HTMX)
    assert partial.status_code == 200 and 'id="queue"' in partial.get_data(as_text=True)
    db.session.expire_all()
    assert {p.journey_state for p in appointment.participants} == {JourneyState.ADMITTED}
    events = db.session.query(AuditEvent).filter_by(action="participant.admitted").all()
    assert sorted(e.participant_id for e in events) == sorted(
        [appointment.citizen.id, interpreter.id])
    assert all(e.advisor_id == advisor.id for e in events)


def test_identity_check_stores_only_yes_and_time(app, staff, advisor):
    appointment, paths = book(advisor)
    token = csrf_token(staff, "/beratung/warteschlange")
    url = f"/beratung/termine/{appointment.id}/identitaet/{appointment.citizen.id}"
    staff.post(url, data={"csrf_token": token, "checked": "1",
                          "document_number": "L01X00T47"})
    db.session.expire_all()
    assert appointment.citizen.identity_checked_at is not None
    dump = "\n".join(db.session.connection().connection.driver_connection.iterdump())
    assert "L01X00T47" not in dump
    staff.post(url, data={"csrf_token": token, "checked": "0"})
    db.session.expire_all()
    assert appointment.citizen.identity_checked_at is None
    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions[-2:] == ["identity.checked", "identity.unchecked"]


def test_other_advisors_cannot_act_on_my_queue(app, advisor, make_advisor):
    appointment, paths = book(advisor)
    to_waiting_room(app.test_client(), paths["citizen"])
    other = make_advisor(email="bernd@jobcenter.example", name="Bernd")
    client = app.test_client()
    login(client, other.email)
    assert "Erika" not in client.get("/beratung/warteschlange").get_data(as_text=True)
    token = csrf_token(client, "/beratung/warteschlange")
    for url in (f"/beratung/termine/{appointment.id}/einlassen/{appointment.citizen.id}",
                f"/beratung/termine/{appointment.id}/alle-einlassen",
                f"/beratung/termine/{appointment.id}/nachricht",
                f"/beratung/termine/{appointment.id}/beenden"):
        assert client.post(url, data={"csrf_token": token, "message": "x"}).status_code == 404
    assert client.get(f"/beratung/termine/{appointment.id}/anruf").status_code == 404
    assert client.post(f"/anruf/{appointment.id}/beitreten?as=advisor", json={},
                       headers={"X-CSRFToken": token}).status_code == 404
    db.session.expire_all()
    assert appointment.citizen.journey_state is JourneyState.WAITING


def test_admin_can_filter_the_queue_to_everyone(app, make_advisor):
    owner = make_advisor()
    appointment, _ = book(owner)
    make_advisor(email="admin@jobcenter.example", name="Ada Admin", admin=True)
    client = app.test_client()
    login(client, "admin@jobcenter.example")
    assert "Erika" not in client.get("/beratung/warteschlange").get_data(as_text=True)
    assert "Erika" in client.get("/beratung/warteschlange?alle=1").get_data(as_text=True)


def test_overlong_message_is_refused(app, staff, advisor):
    appointment, _ = book(advisor)
    token = csrf_token(staff, "/beratung/warteschlange")
    response = staff.post(f"/beratung/termine/{appointment.id}/nachricht",
                          data={"csrf_token": token, "message": "x" * 301}, follow_redirects=True)
    assert response.status_code == 200
    db.session.expire_all()
    assert appointment.waiting_message is None


def test_signalling_rejects_bad_input_with_4xx(app, staff, advisor):
    appointment, paths = book(advisor)
    token = csrf_token(staff, "/beratung/warteschlange")
    headers = {"X-CSRFToken": token}
    base = f"/anruf/{appointment.id}"
    joined = staff.post(f"{base}/beitreten?as=advisor", json={}, headers=headers)
    assert joined.status_code == 200
    peer = joined.get_json()["peer"]
    assert len(peer) == 32
    cases = [
        staff.post(f"{base}/signal?as=advisor", data="not json", headers=headers,
                   content_type="application/json"),
        staff.post(f"{base}/signal?as=advisor", json=[1, 2], headers=headers),
        staff.post(f"{base}/signal?as=advisor", json={"peer": peer, "to": peer, "kind": "evil",
                                                     "payload": {}}, headers=headers),
        staff.post(f"{base}/signal?as=advisor", json={"peer": peer, "to": peer, "kind": "offer",
                                                     "payload": "x"}, headers=headers),
        staff.post(f"{base}/signal?as=advisor", json={"peer": "f" * 32, "to": peer,
                                                     "kind": "offer", "payload": {}},
                   headers=headers),
        staff.post(f"{base}/signal?as=advisor", headers=headers, content_type="application/json",
                   data=json.dumps({"peer": peer, "to": peer, "kind": "offer",
                                    "payload": {"sdp": "x" * 70000}})),
        staff.get(f"{base}/signale?as=advisor&peer=nope&after=-1"),
        staff.post(f"{base}/signal?as=advisor", json={"peer": peer}),  # no CSRF header
    ]
    codes = [c.status_code for c in cases]
    assert all(400 <= c < 500 for c in codes), codes
    ok = staff.get(f"{base}/signale?as=advisor&peer={peer}&after=abc")
    assert ok.status_code == 200 and ok.get_json()["signals"] == []
