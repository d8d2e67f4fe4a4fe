"""Jitsi Meet with tokens, against a fake that verifies each JWT as prosody does: the name
and role arrive, the claims hold only what they should, and a tampered, foreign, unsigned
or expired token is refused."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from portal.extensions import db
from portal.providers import get_provider
from portal.providers.jitsi import token_claims

from .fakes.server import shown
from .journey_helpers import book

pytest_plugins = ["tests.fakes.fixtures"]  # provider_ca, fake_jitsi


@pytest.fixture
def config(config, fake_jitsi):
    config.update(fake_jitsi.portal_config(), PROVIDER="jitsi", PROVIDERS=["jitsi"],
                  JITSI_SUBJECT="127.0.0.1")
    return config


@pytest.fixture
def appointment(app, advisor):
    appointment, _ = book(advisor)
    return appointment


def open_url(url: str, ca) -> httpx.Response:
    return httpx.get(url, verify=ca.client_context(), timeout=5)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["jwt"][0]


def with_token(url: str, token: str) -> str:
    return url.split("?", 1)[0] + "?jwt=" + token


def test_the_citizen_joins_as_participant_and_the_advisor_as_moderator(
        app, appointment, advisor, fake_jitsi, provider_ca):
    provider = get_provider()
    provider.prepare(appointment)
    db.session.commit()
    room = appointment.provider_meeting.meeting_key
    page = open_url(provider.join_url(appointment, participant=appointment.citizen),
                    provider_ca)
    assert page.status_code == 200
    assert shown(page.text, "name") == "Erika Mustermann"
    assert shown(page.text, "role") == "participant"
    assert shown(page.text, "room") == room
    assert shown(page.text, "lobby_bypass") == "True"
    page = open_url(provider.join_url(appointment, advisor=advisor), provider_ca)
    assert shown(page.text, "name") == "Anna Berater"
    assert shown(page.text, "role") == "moderator"
    assert provider.is_running(appointment) is None  # Jitsi cannot tell


def test_the_token_holds_the_display_name_only_and_is_valid_around_the_appointment(
        app, appointment):
    provider = get_provider()
    citizen = appointment.citizen
    url = provider.join_url(appointment, participant=citizen)
    claims = jwt.decode(token_of(url), options={"verify_signature": False})
    assert set(claims) == {"iss", "aud", "sub", "room", "iat", "nbf", "exp", "context"}
    user = claims["context"]["user"]
    assert all(isinstance(value, str) and value for value in user.values())
    assert user["name"] == "Erika Mustermann" and user["moderator"] == "false"
    text = str(claims)
    for personal in (citizen.email, citizen.customer_number, appointment.uid):
        assert personal not in text
    assert user["id"] not in (str(citizen.id), citizen.name)
    opens = appointment.starts_at - timedelta(minutes=app.config["WAITING_ROOM_OPENS_MINUTES"])
    closes = appointment.ends_at + timedelta(minutes=app.config["LINK_GRACE_MINUTES"])
    assert claims["nbf"] <= min(opens.timestamp(), time.time())
    assert claims["exp"] == int(closes.timestamp())
    assert claims["room"] == appointment.provider_meeting.meeting_key
    assert len(claims["room"]) == 40


def test_tampered_foreign_unsigned_and_expired_tokens_are_refused(
        app, appointment, fake_jitsi, provider_ca):
    provider = get_provider()
    url = provider.join_url(appointment, participant=appointment.citizen)
    row = appointment.provider_meeting
    claims = jwt.decode(token_of(url), options={"verify_signature": False})
    secret = fake_jitsi.secret

    promoted = dict(claims, context={**claims["context"], "user": {
        **claims["context"]["user"], "moderator": "true"}})
    header, _, signature = token_of(url).split(".")
    forged_body = jwt.encode(promoted, "x" * 32, algorithm="HS256").split(".")[1]
    refused = {
        "tampered": f"{header}.{forged_body}.{signature}",
        "wrong secret": jwt.encode(claims, "guessed-secret-" * 3, algorithm="HS256"),
        "unsigned": jwt.encode(claims, None, algorithm="none"),
        "other room": jwt.encode(dict(claims, room="someotherroom"), secret,
                                 algorithm="HS256"),
        "expired": jwt.encode(dict(claims, exp=int(time.time()) - 10), secret,
                              algorithm="HS256"),
        "not yet": jwt.encode(dict(claims, nbf=int(time.time()) + 600), secret,
                              algorithm="HS256"),
        "other audience": jwt.encode(dict(claims, aud="other"), secret, algorithm="HS256"),
        "null name": jwt.encode(dict(claims, context={"user": {"name": "E", "email": None}}),
                                secret, algorithm="HS256"),
    }
    for what, token in refused.items():
        page = open_url(with_token(url, token), provider_ca)
        assert page.status_code == 403, what
        assert "Authentication failed" in page.text, what
    assert open_url(url, provider_ca).status_code == 200  # the genuine one still works
    assert fake_jitsi.joins[-1]["room"] == row.meeting_key


def test_the_token_is_valid_from_the_waiting_room_to_the_link_s_end_only(app, appointment):
    provider = get_provider()
    provider.prepare(appointment)
    claims = token_claims(appointment, appointment.provider_meeting,
                          participant=appointment.citizen)
    config = app.config
    minutes = (config["WAITING_ROOM_OPENS_MINUTES"] + appointment.duration_minutes
               + config["LINK_GRACE_MINUTES"])
    # The room opened 20 minutes ago (the appointment starts in 10): nbf is its opening,
    # a minute earlier for clock skew.
    assert claims["exp"] - claims["nbf"] == minutes * 60 + 60


def test_rs256_with_a_key_id_as_8x8_jaas_uses(app, appointment, advisor, fake_jitsi,
                                              provider_ca, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "jitsi.key").write_bytes(pem)
    fake_jitsi.secret = None
    fake_jitsi.public_keys = {"vpaas-magic-cookie-test/4f3a": key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)}
    app.config.update(JITSI_PRIVATE_KEY_FILE=str(tmp_path / "jitsi.key"),
                      JITSI_KID="vpaas-magic-cookie-test/4f3a", JITSI_APP_SECRET=None)
    url = get_provider().join_url(appointment, advisor=advisor)
    assert jwt.get_unverified_header(token_of(url)) == {
        "alg": "RS256", "kid": "vpaas-magic-cookie-test/4f3a", "typ": "JWT"}
    page = open_url(url, provider_ca)
    assert page.status_code == 200 and shown(page.text, "role") == "moderator"
    # The HS256 token an attacker makes with the public key as secret is refused.
    claims = jwt.decode(token_of(url), options={"verify_signature": False})
    forged = jwt.encode(claims, "public-key-as-an-hmac-secret-000", algorithm="HS256")
    assert open_url(with_token(url, forged), provider_ca).status_code == 403


def test_after_the_end_the_room_changes(app, appointment):
    provider = get_provider()
    provider.prepare(appointment)
    old = appointment.provider_meeting.meeting_key
    provider.end(appointment)
    assert provider.is_running(appointment) is False
    url = provider.join_url(appointment, participant=appointment.citizen)
    assert old not in url
