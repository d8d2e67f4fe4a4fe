"""Bounds on the built-in call's signalling: rate limits, one live peer per person, capped
storage, and signals deleted once nobody needs them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import CallPeer, CallSignal, utcnow

from .helpers import csrf_token
from .journey_helpers import book, to_waiting_room
from .test_fuzz import postgres_config

META_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host",
             "sdpMid": "0", "sdpMLineIndex": 0}


class Caller:
    """One browser tab in the call, driven through the signalling API like call.js does."""

    def __init__(self, client, appointment_id, as_role):
        self.client, self.base, self.as_role = client, f"/anruf/{appointment_id}", as_role
        page = "/termin/anruf" if as_role == "participant" else \
            f"/beratung/termine/{appointment_id}/anruf"
        html = client.get(page).get_data(as_text=True)
        self.headers = {"X-CSRFToken": META_CSRF.search(html).group(1)}
        self.peer, self.after = None, 0

    def url(self, action, **query):
        query = "&".join(f"{k}={v}" for k, v in {"as": self.as_role, **query}.items())
        return f"{self.base}/{action}?{query}"

    def join(self):
        response = self.client.post(self.url("beitreten"), json={}, headers=self.headers)
        if response.status_code == 200:
            self.peer = response.get_json()["peer"]
        return response

    def send(self, to, kind="candidate", payload=None):
        return self.client.post(self.url("signal"), headers=self.headers, json={
            "peer": self.peer, "to": to, "kind": kind, "payload": payload or CANDIDATE})

    def poll(self):
        response = self.client.get(self.url("signale", peer=self.peer, after=self.after))
        if response.status_code == 200:
            for signal in response.get_json()["signals"]:
                self.after = max(self.after, signal["id"])
        return response

    def leave(self, final=False):
        return self.client.post(self.url("verlassen"), headers=self.headers,
                                json={"peer": self.peer, "final": final})


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request, config, tmp_path):
    """Each test on SQLite (`make run`) and on PostgreSQL (production)."""
    if request.param == "sqlite":
        yield config
        return
    with postgres_config(tmp_path) as pg_config:
        yield pg_config


@pytest.fixture
def call(app, client, staff, advisor):
    """An appointment with the citizen admitted; the advisor's and the citizen's browsers."""
    appointment, paths = book(advisor)
    to_waiting_room(client, paths["citizen"])
    token = csrf_token(staff, "/beratung/warteschlange")
    staff.post(f"/beratung/termine/{appointment.id}/einlassen/{appointment.citizen.id}",
               data={"csrf_token": token})
    return appointment


def stored(**where) -> int:
    query = select(func.count(CallSignal.id))
    for column, value in where.items():
        query = query.where(getattr(CallSignal, column) == value)
    return db.session.scalar(query)


def test_ids_beyond_the_database_range_are_not_found(client, staff):
    # PostgreSQL's id columns are `integer`: 2^31 is already out of its range.
    for url in ("/anruf/9223372036854775808/signale", "/anruf/99999999999999999999999/signale",
                "/anruf/2147483648/signale?as=advisor",
                "/anruf/9223372036854775808/signale?as=advisor"):
        assert client.get(url).status_code == 404, url
        assert staff.get(url).status_code == 404, url
    assert client.post("/anruf/9223372036854775808/beitreten").status_code in (400, 404)
    for url in ("/beratung/termine/9223372036854775808", "/beratung/termine/2147483648/anruf",
                "/beratung/termine/2147483647", "/speedtest/random2147483648x4.jpg"):
        assert staff.get(url).status_code == 404, url


def test_pending_signals_per_recipient_are_capped_and_freed_by_polling(app, client, staff, call):
    app.config["CALL_MAX_PENDING_SIGNALS"] = 5
    advisor = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor.join(), citizen.join()
    for _ in range(5):
        assert advisor.send(citizen.peer).get_json() == {"delivered": True}
    refused = advisor.send(citizen.peer)
    assert refused.status_code == 429
    assert refused.is_json and refused.get_json()["delivered"] is False
    assert int(refused.headers["Retry-After"]) >= 1
    # Signals the other way are not affected: the cap is per recipient.
    assert citizen.send(advisor.peer).status_code == 200

    assert len(citizen.poll().get_json()["signals"]) == 5
    citizen.poll()  # tells the portal how far it has read: those five go
    assert stored(recipient=citizen.peer) == 1  # the last one marks the read position
    assert advisor.send(citizen.peer).status_code == 200
    assert [s["id"] for s in citizen.poll().get_json()["signals"]] == [citizen.after]


def test_stored_bytes_per_appointment_are_capped(app, client, staff, call):
    app.config["CALL_MAX_SIGNAL_BYTES"] = 20_000
    advisor = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor.join(), citizen.join()
    big = {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 1200}  # about 8.4 kB as JSON
    assert advisor.send(citizen.peer, "offer", big).status_code == 200
    assert citizen.send(advisor.peer, "answer", big).status_code == 200
    assert advisor.send(citizen.peer, "offer", big).status_code == 429
    assert advisor.send(citizen.peer).status_code == 200  # a small candidate still fits
    assert db.session.scalar(select(func.sum(func.length(CallSignal.payload)))) <= 20_000
    # Nobody can fill the budget with a mailbox of their own that they never empty.
    assert citizen.send(citizen.peer).status_code == 404


def test_signalling_requests_are_rate_limited_per_person(app, client, staff, call):
    advisor = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor.join(), citizen.join()
    app.config["CALL_SIGNAL_RATE_LIMIT"] = "5 per minute"
    answers = [citizen.poll().status_code for _ in range(5)]
    assert answers == [200] * 5
    limited = citizen.poll()
    assert limited.status_code == 429 and limited.is_json
    assert int(limited.headers["Retry-After"]) >= 1
    assert citizen.send(advisor.peer).status_code == 429  # polls and sends share the budget
    assert advisor.poll().status_code == 200  # the advisor has a budget of their own


def test_joins_are_limited_per_participant(app, client, call):
    app.config["CALL_JOIN_RATE_LIMIT"] = "3 per minute"
    citizen = Caller(client, call.id, "participant")
    assert [citizen.join().status_code for _ in range(3)] == [200] * 3
    limited = citizen.join()
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"
    assert db.session.scalar(select(func.count(CallPeer.id))) == 3


def test_a_second_tab_takes_over_and_the_first_is_told(app, client, staff, call):
    advisor = Caller(staff, call.id, "advisor")
    first = Caller(client, call.id, "participant")
    advisor.join(), first.join()
    advisor.send(first.peer, "offer", {"type": "offer", "sdp": "v=0"})
    first.send(advisor.peer)

    second = Caller(client, call.id, "participant")  # same browser, another tab
    second.join()
    told = first.poll()
    assert told.status_code == 200 and told.get_json()["replaced"] is True
    assert first.send(advisor.peer).status_code == 409
    # The advisor sees one participant: the new tab.
    assert [p["peer"] for p in advisor.poll().get_json()["peers"]] == [second.peer]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(CallPeer.id)).where(
        CallPeer.participant_id == call.citizen.id, CallPeer.left_at.is_(None))) == 1
    assert stored(recipient=first.peer) == 0  # what waited for the old tab is gone
    # Taking it back: the first tab joins again, the second is told.
    first.join()
    assert second.poll().get_json()["replaced"] is True


def test_the_advisor_too_has_one_live_peer_per_appointment(staff, call):
    one, two = Caller(staff, call.id, "advisor"), Caller(staff, call.id, "advisor")
    one.join(), two.join()
    assert one.poll().get_json()["replaced"] is True
    assert "replaced" not in two.poll().get_json()


def test_a_peer_that_left_without_a_successor_is_not_found(client, staff, call):
    citizen = Caller(client, call.id, "participant")
    citizen.join()
    citizen.leave()
    assert citizen.poll().status_code == 404


def test_leaving_deletes_what_waited_for_the_peer(client, staff, call):
    advisor = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor.join(), citizen.join()
    for _ in range(3):
        advisor.send(citizen.peer)
    assert stored(recipient=citizen.peer) == 3
    citizen.leave()
    assert stored(recipient=citizen.peer) == 0


def test_ending_the_appointment_deletes_every_signal(client, staff, call):
    advisor = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor.join(), citizen.join()
    advisor.send(citizen.peer), citizen.send(advisor.peer)
    token = csrf_token(staff, "/beratung/warteschlange")
    staff.post(f"/beratung/termine/{call.id}/beenden", data={"csrf_token": token})
    assert stored(appointment_id=call.id) == 0
    assert citizen.poll().get_json()["ended"] is True


def test_old_signals_are_purged_by_the_next_join(app, client, staff, call, advisor):
    advisor_tab = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor_tab.join(), citizen.join()
    for _ in range(3):
        advisor_tab.send(citizen.peer)
    citizen.send(advisor_tab.peer)
    db.session.execute(update(CallSignal).values(created_at=utcnow() - timedelta(minutes=6)))
    db.session.commit()
    other, _ = book(advisor)  # any join anywhere runs the safety net
    Caller(staff, other.id, "advisor").join()
    # Each live recipient keeps only its newest signal (its read position) ...
    assert stored(recipient=citizen.peer) == 1 and stored(recipient=advisor_tab.peer) == 1
    # ... and signals for a peer that has left go entirely.
    citizen.leave()
    advisor_tab.send(citizen.peer)  # refused: no such live recipient
    db.session.execute(update(CallSignal).values(created_at=utcnow() - timedelta(minutes=6)))
    db.session.commit()
    Caller(staff, other.id, "advisor").join()
    assert stored(recipient=citizen.peer) == 0


def test_the_daily_retention_job_purges_old_signals_without_any_join(app, client, staff, call,
                                                                     runner):
    advisor_tab = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor_tab.join(), citizen.join()
    for _ in range(3):
        advisor_tab.send(citizen.peer)
    db.session.execute(update(CallSignal).values(created_at=utcnow() - timedelta(minutes=6)))
    db.session.commit()
    result = runner.invoke(args=["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert "2 stale call signals deleted" in result.output
    assert stored(recipient=citizen.peer) == 1  # the newest stays: the reader's position


def test_signals_are_delivered_in_order_across_cleanups(client, staff, call):
    """Deleting picked-up signals must never make a later one invisible (SQLite reuses the
    highest id once its row is gone)."""
    advisor = Caller(staff, call.id, "advisor")
    citizen = Caller(client, call.id, "participant")
    advisor.join(), citizen.join()
    received = []
    for round_ in range(4):
        advisor.send(citizen.peer, "candidate", {"n": round_})
        received += [s["payload"]["n"] for s in citizen.poll().get_json()["signals"]]
        citizen.poll()
    assert received == [0, 1, 2, 3]


def test_the_call_page_offers_a_way_back_when_replaced(client, call):
    html = client.get("/termin/anruf").get_data(as_text=True)
    assert "data-replaced" in html
    assert 'href="/termin/anruf"' in html


def test_malformed_peer_keys_never_reach_the_database(client, staff, call):
    # A NUL character in a peer key made PostgreSQL fail (a 500), found by fuzzing.
    advisor = Caller(staff, call.id, "advisor")
    advisor.join()
    for key in ("\x00" * 32, advisor.peer + "\x00", 12, None, ["x"], "Ä" * 32):
        assert advisor.send(key).status_code == 404, key
        assert advisor.client.post(advisor.url("signal"), headers=advisor.headers, json={
            "peer": key, "to": advisor.peer, "kind": "candidate",
            "payload": CANDIDATE}).status_code == 404, key
        assert advisor.client.post(advisor.url("verlassen"), headers=advisor.headers,
                                   json={"peer": key}).status_code == 200
    assert staff.get(advisor.url("signale", peer="%00" * 32)).status_code in (400, 404)
