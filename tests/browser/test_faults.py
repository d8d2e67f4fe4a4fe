"""PostgreSQL restarted while a citizen waits, in Debian's Chromium against gunicorn
(2 workers) on a private PostgreSQL cluster: the waiting room says the connection is
interrupted, keeps polling, recovers by itself, and admission still reaches the call."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.admission import admit
from portal.extensions import db
from portal.models import Advisor, Appointment, Participant

from ..faultlab import Gunicorn, PrivatePostgres
from ..test_faults import migrated_portal
from .steps import assert_accessible, citizen_to_waiting_room

pytestmark = pytest.mark.postgres

NOTICE = "[data-offline-notice] p"
GERMAN_NOTICE = "Die Verbindung zum Server ist unterbrochen. Wir versuchen es weiter …"


def test_waiting_room_survives_a_postgresql_restart(tmp_path, chromium, contexts):
    pg = PrivatePostgres()
    server = None
    try:
        pg.start()
        app, appointment_id, paths = migrated_portal(tmp_path, pg)
        server = Gunicorn(tmp_path, {
            "PORTAL_SQLALCHEMY_DATABASE_URI": pg.url("portal"),
            "PORTAL_WAITING_ROOM_POLL_SECONDS": "1",
            # Over loopback a device check moves gigabytes.
            "PORTAL_NETCHECK_RATE_LIMIT": "100000 per minute",
            "PORTAL_NETCHECK_VOLUME_LIMIT": "1000000 per minute"})
        page = contexts(chromium.new_context()).new_page()
        polls: list[tuple[float, int, str | None]] = []

        def record(response):
            request = response.request
            if "/termin/wartebereich" in request.url and request.headers.get("hx-request"):
                polls.append((time.time(), response.status, response.headers.get("retry-after")))

        page.on("response", record)
        citizen_to_waiting_room(page, server.url + paths["citizen"])
        expect(page.locator("#waiting-status[hx-trigger]")).to_have_count(1)
        expect(page.locator(NOTICE)).to_have_count(0)

        pg.stop()
        stopped = time.time()
        # A polite notice, in German, while the polls keep coming and answer 503.
        expect(page.locator(NOTICE)).to_have_text(GERMAN_NOTICE, timeout=20_000)
        expect(page.locator("[data-offline-notice]")).to_have_attribute("role", "status")
        assert_accessible(page, "waiting room, server interrupted")
        deadline = time.time() + 20
        while sum(1 for t, s, _ in polls if t > stopped and s == 503) < 3:
            assert time.time() < deadline, polls[-10:]
            page.wait_for_timeout(500)
        failed = [(s, retry) for t, s, retry in polls if t > stopped]
        assert all(s == 503 and retry and int(retry) > 0 for s, retry in failed), failed

        pg.start()
        restarted = time.time()
        # It recovers by itself: the notice goes, polls answer again, nothing was reloaded.
        expect(page.locator(NOTICE)).to_have_count(0, timeout=30_000)
        deadline = time.time() + 20
        while not any(t > restarted and s in (200, 204) for t, s, _ in polls):
            assert time.time() < deadline, polls[-10:]
            page.wait_for_timeout(500)
        assert page.url.endswith("/termin/wartebereich")
        expect(page.locator("#waiting-status[hx-trigger]")).to_have_count(1)

        with app.app_context():
            citizen = db.session.scalar(select(Participant).where(
                Participant.appointment_id == appointment_id, Participant.role == "citizen"))
            assert citizen.has_consented and citizen.device_check is not None
            assert admit(db.session.get(Appointment, appointment_id), [citizen],
                         db.session.scalar(select(Advisor))) == 1
            db.session.remove()
            db.engine.dispose()
        page.wait_for_url("**/termin/anruf", timeout=20_000)
        assert not [s for _, s, _ in polls if s >= 500 and s != 503]
        assert "Traceback" not in server.log_text()
    finally:
        if server is not None:
            server.stop()
        pg.destroy()
