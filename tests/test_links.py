"""Personal links: hashed tokens, one friendly page for every bad link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from portal.extensions import db
from portal.models import JourneyState, ParticipantRole, utcnow
from portal.scheduling import ParticipantSpec, cancel_appointment, create_appointment
from portal.tokens import hash_token

from .helpers import page_text


@pytest.fixture
def invitation(app, make_advisor):
    outcome = create_appointment(
        advisor=make_advisor(), starts_at=utcnow() + timedelta(days=2), duration_minutes=30,
        language="de",
        citizen=ParticipantSpec(ParticipantRole.CITIZEN, "Erika Mustermann",
                                "erika@example.org"))
    citizen = outcome.appointment.citizen
    return outcome.appointment, citizen, urlsplit(outcome.links[citizen.id]).path


def test_token_has_256_bits_and_only_its_hash_is_stored(app, invitation):
    appointment, citizen, path = invitation
    token = path.rsplit("/", 1)[1]
    assert len(token) == 43  # 32 random bytes, URL-safe base64
    assert citizen.token_hash == hash_token(token)
    # The token appears nowhere in the database (outbox bodies are erased once sent).
    dump = "\n".join(db.session.connection().connection.driver_connection.iterdump())
    assert token not in dump
    assert citizen.token_hash in dump


def test_link_opens_start_page_on_a_token_free_url(client, invitation):
    appointment, citizen, path = invitation
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/termin"
    page = client.get("/termin")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ihr Videotermin" in html
    assert path not in html
    db.session.refresh(citizen)
    assert citizen.journey_state is JourneyState.LINK_OPENED


def test_start_page_offers_the_language_switch(client, invitation):
    client.get(invitation[2])
    html = client.get("/termin?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "Your video appointment" in html
    assert 'href="/termin?lang=de"' in html


def test_link_works_again_on_another_device(app, invitation):
    path = invitation[2]
    for _ in range(2):
        fresh_browser = app.test_client()
        assert fresh_browser.get(path).status_code == 302
        assert fresh_browser.get("/termin").status_code == 200


def bad_link_pages(client, invitation):
    appointment, citizen, path = invitation
    token = path.rsplit("/", 1)[1]
    pages = {
        "unknown": client.get("/t/" + "A" * 43),
        "malformed": client.get("/t/abc%0d%0aSet-Cookie:x"),
        "too long": client.get("/t/" + "A" * 5000),
        "wrong alphabet": client.get("/t/" + "!" * 43),
        "truncated": client.get(path[:-1]),
        "different case": client.get("/t/" + token.swapcase()),
    }
    return pages


def test_every_bad_link_gets_the_same_friendly_page(client, invitation):
    pages = bad_link_pages(client, invitation)
    bodies = {name: page_text(r) for name, r in pages.items()}
    for name, response in pages.items():
        assert response.status_code == 404, name
        assert "Dieser Link kann nicht verwendet werden" in bodies[name], name
        assert "Jobcenter Musterstadt" in bodies[name]
    # No hint whether a token ever existed: every page is the same.
    assert len(set(bodies.values())) == 1


def test_cancelled_and_expired_links_look_like_unknown_ones(client, invitation):
    appointment, citizen, path = invitation
    unknown = page_text(client.get("/t/" + "B" * 43))
    cancel_appointment(appointment)
    cancelled = client.get(path)
    assert cancelled.status_code == 404 and page_text(cancelled) == unknown


def test_link_expires_after_the_appointment_and_grace_period(app, client, invitation):
    appointment, citizen, path = invitation
    app.config["LINK_GRACE_MINUTES"] = 60
    appointment.starts_at = utcnow() - timedelta(minutes=30 + 59)
    db.session.commit()
    assert client.get(path).status_code == 302  # within the grace period
    appointment.starts_at = utcnow() - timedelta(minutes=30 + 61)
    db.session.commit()
    assert client.get(path).status_code == 404
    # A browser that was bound earlier loses access too.
    assert client.get("/termin").status_code == 404


def test_a_bound_browser_loses_access_when_the_link_is_replaced(client, invitation):
    appointment, citizen, path = invitation
    client.get(path)
    citizen.token_hash = hash_token("x" * 43)
    db.session.commit()
    assert client.get("/termin").status_code == 404


def test_start_page_without_link_is_the_friendly_page(client):
    response = client.get("/termin")
    assert response.status_code == 404
    assert "Dieser Link kann nicht verwendet werden" in response.get_data(as_text=True)


def test_opening_the_link_stores_nothing_about_the_visitor(client, invitation):
    appointment, citizen, path = invitation
    client.get(path, headers={"User-Agent": "Mozilla/5.0 UniqueAgent/1.0"},
               environ_base={"REMOTE_ADDR": "203.0.113.77"})
    client.get("/termin")
    dump = "\n".join(db.session.connection().connection.driver_connection.iterdump())
    assert "UniqueAgent" not in dump
    assert "203.0.113.77" not in dump


def test_link_attempts_are_rate_limited(app, client, invitation):
    app.config["LINK_RATE_LIMIT"] = "3 per minute"
    codes = [client.get("/t/" + "C" * 43).status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    assert "Zu viele Versuche" in client.get("/t/" + "C" * 43).get_data(as_text=True)


def test_times_are_stored_in_utc(app, invitation):
    appointment = invitation[0]
    raw = db.session.execute(text("select starts_at from appointment")).scalar_one()
    stored = datetime.fromisoformat(str(raw)).replace(tzinfo=UTC)
    assert abs(stored - appointment.starts_at) < timedelta(seconds=1)
