"""Webex Instant Connect against a fake broker and instant site: links requested with the
documented body, the host's and each guest's page, links renewed when they expire or a
participant has none, and failures with their reasons."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from portal.extensions import db
from portal.models import utcnow
from portal.providers import ProviderError, get_provider
from portal.providers.webex import AUDIENCE

from .fakes.server import shown
from .journey_helpers import book

pytest_plugins = ["tests.fakes.fixtures"]  # provider_ca, fake_webex


@pytest.fixture
def config(config, fake_webex):
    config.update(fake_webex.portal_config(), PROVIDER="webex", PROVIDERS=["webex"],
                  PROVIDER_TIMEOUT_SECONDS=1)
    return config


@pytest.fixture
def appointment(app, advisor):
    appointment, _ = book(advisor, interpreter=True)
    return appointment


def open_url(url: str, ca) -> httpx.Response:
    return httpx.get(url, verify=ca.client_context(), timeout=5)


def test_links_for_the_host_and_each_guest(app, appointment, advisor, fake_webex, provider_ca):
    provider = get_provider()
    provider.prepare(appointment)
    db.session.commit()
    row = appointment.provider_meeting
    [body] = fake_webex.bodies
    assert body["aud"] == AUDIENCE and body["jwt"]["sub"] == row.meeting_key
    assert body["numHost"] == 1 and body["numGuest"] == 2  # citizen and interpreter
    assert body["verticalType"] == "gen"
    assert json.dumps(body).count("@") == 0  # no e-mail address, nothing personal
    assert "Erika" not in json.dumps(body)

    citizen, interpreter = appointment.participants
    pages = {who: open_url(provider.join_url(appointment, **kw), provider_ca)
             for who, kw in (("citizen", {"participant": citizen}),
                             ("interpreter", {"participant": interpreter}),
                             ("advisor", {"advisor": advisor}))}
    assert [shown(p.text, "role") for p in pages.values()] == ["guest", "guest", "host"]
    assert {shown(p.text, "meeting") for p in pages.values()} == {row.meeting_key}
    urls = [provider.join_url(appointment, participant=p) for p in (citizen, interpreter)]
    assert urls[0] != urls[1]  # a link of their own each
    assert len(fake_webex.bodies) == 1  # still fresh: not asked again
    provider.end(appointment)
    assert row.host_secret is None and row.guest_secrets is None
    assert provider.is_running(appointment) is False


def test_expired_links_are_requested_again(app, appointment, fake_webex, provider_ca):
    provider = get_provider()
    provider.prepare(appointment)
    appointment.provider_meeting.secrets_expire_at = utcnow() - timedelta(seconds=1)
    url = provider.join_url(appointment, participant=appointment.citizen)
    assert len(fake_webex.bodies) == 2
    assert fake_webex.bodies[1]["jwt"]["sub"] == fake_webex.bodies[0]["jwt"]["sub"]
    assert shown(open_url(url, provider_ca).text, "role") == "guest"


def test_a_participant_without_a_link_gets_one(app, appointment, fake_webex):
    provider = get_provider()
    provider.prepare(appointment)
    row = appointment.provider_meeting
    row.guest_secrets = json.dumps({str(appointment.citizen.id): "old"})  # added later
    provider.join_url(appointment, participant=appointment.participants[1])
    assert len(fake_webex.bodies) == 2


def test_the_health_care_vertical(app, appointment, advisor, fake_webex, provider_ca):
    app.config["WEBEX_VERTICAL_TYPE"] = "hc"
    url = get_provider().join_url(appointment, advisor=advisor)
    assert "/hc/v1/login?" in url
    assert shown(open_url(url, provider_ca).text, "vertical") == "hc"


def test_a_wrong_token_is_unauthorized(app, appointment, fake_webex):
    app.config["WEBEX_TOKEN"] = "revoked-token"
    with pytest.raises(ProviderError) as caught:
        get_provider().prepare(appointment)
    assert caught.value.reason == "unauthorized"
    assert "revoked-token" not in str(caught.value) + caught.value.message
    assert appointment.provider_meeting.last_failure == "unauthorized"


@pytest.mark.parametrize(("mode", "reason"), [("down", "unreachable"), ("slow", "timeout"),
                                              ("error", "server_error")])
def test_failures_have_their_reason_and_a_retry_works(app, appointment, fake_webex, mode,
                                                      reason):
    fake_webex.set_mode(mode, delay=5)
    with pytest.raises(ProviderError) as caught:
        get_provider().prepare(appointment)
    assert caught.value.reason == reason
    fake_webex.set_mode("up")
    get_provider().prepare(appointment)
    assert appointment.provider_meeting.last_failure is None
