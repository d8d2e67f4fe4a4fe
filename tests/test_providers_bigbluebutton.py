"""BigBlueButton against a fake server that checks every checksum and answers the documented
XML: create/join/end round trips, idempotent prepare, the official checksum vector, failures
as ProviderError with the right reason, and the end callback's token."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from portal.extensions import db
from portal.providers import ProviderError, get_provider
from portal.providers.bigbluebutton import checksum
from portal.providers.meetings import END_CALLBACK_RULE, meeting_for_end_callback

from .fakes.server import shown as page_fact
from .journey_helpers import book

pytest_plugins = ["tests.fakes.fixtures"]  # provider_ca, fake_bbb


@pytest.fixture
def config(config, fake_bbb):
    config.update(fake_bbb.portal_config(), PROVIDER="bigbluebutton",
                  PROVIDERS=["bigbluebutton"], PROVIDER_TIMEOUT_SECONDS=1)
    return config


@pytest.fixture
def appointment(app, advisor):
    appointment, _ = book(advisor, interpreter=True)
    return appointment


def open_join(url: str, ca) -> httpx.Response:
    """What the browser does with the join URL: follow BigBlueButton's redirect."""
    return httpx.get(url, verify=ca.client_context(), follow_redirects=True, timeout=5)


def shown(response: httpx.Response, fact: str) -> str | None:
    return page_fact(response.text, fact)


# ---- the checksum ----------------------------------------------------------------------

VECTOR_QUERY = "name=Test+Meeting&meetingID=abc123&attendeePW=111222&moderatorPW=333444"
VECTOR_SECRET = "639259d4-9dd8-4b25-bf01-95f9567eaf4b"


def test_the_official_checksum_vector_sha1_and_sha256():
    assert checksum("create", VECTOR_QUERY, VECTOR_SECRET, "sha1") == \
        "1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
    assert checksum("create", VECTOR_QUERY, VECTOR_SECRET, "sha256") == \
        "da9185f7f333cfdfcd6eeac32dca3777510c4c436020d8b887ba5515bd1d189e"


def test_the_fake_refuses_a_wrong_or_missing_checksum(fake_bbb, provider_ca):
    base = fake_bbb.api_url + "isMeetingRunning?meetingID=abc123"
    good = checksum("isMeetingRunning", "meetingID=abc123", fake_bbb.secret)
    for url, accepted in ((base, False), (base + "&checksum=" + "0" * 64, False),
                          (base + "&checksum=" + good, True)):
        answer = httpx.get(url, verify=provider_ca.client_context()).text
        assert ("SUCCESS" in answer) is accepted
        assert ("checksumError" in answer) is not accepted


# ---- the round trip --------------------------------------------------------------------

def test_create_join_as_viewer_and_moderator_then_end(app, appointment, advisor, fake_bbb,
                                                      provider_ca):
    provider = get_provider()
    provider.prepare(appointment)
    db.session.commit()
    row = appointment.provider_meeting
    assert list(fake_bbb.meetings) == [row.meeting_key]
    assert len(row.meeting_key) == 40 and appointment.uid not in row.meeting_key
    create = fake_bbb.meetings[row.meeting_key].params
    assert create["record"] == "false" and create["guestPolicy"] == "ALWAYS_ACCEPT"
    assert create["logoutURL"] == "http://portal.test/besprechung/verlassen"
    assert int(create["meetingExpireIfNoUserJoinedInMinutes"]) > 0
    assert create["name"] == "Jobcenter Musterstadt"  # nothing personal
    callback = create["meta_endCallbackUrl"]
    prefix = "http://portal.test" + END_CALLBACK_RULE.replace("<token>", "")
    assert callback.startswith(prefix)
    assert meeting_for_end_callback(callback[len(prefix):]) == row
    assert row.create_time == fake_bbb.meetings[row.meeting_key].create_time

    assert provider.is_running(appointment) is False  # nobody joined yet
    citizen = appointment.citizen
    url = provider.join_url(appointment, participant=citizen)
    query = parse_qs(urlsplit(url).query)
    assert query["role"] == ["VIEWER"] and query["redirect"] == ["true"]
    assert query["createTime"] == [str(row.create_time)]
    sent = " ".join(v for values in query.values() for v in values)
    assert citizen.email not in sent and citizen.customer_number not in sent
    assert query["userID"][0] not in (str(citizen.id), citizen.email)
    page = open_join(url, provider_ca)
    assert page.status_code == 200
    assert shown(page, "name") == "Erika Mustermann" and shown(page, "role") == "VIEWER"
    assert shown(page, "meeting") == row.meeting_key

    page = open_join(provider.join_url(appointment, advisor=advisor), provider_ca)
    assert shown(page, "name") == "Anna Berater" and shown(page, "role") == "MODERATOR"
    users = [j["userID"] for j in fake_bbb.meetings[row.meeting_key].joins]
    assert len(set(users)) == 2 and all(len(u) == 24 for u in users)
    assert provider.is_running(appointment) is True

    provider.end(appointment)
    db.session.commit()
    assert fake_bbb.meetings[row.meeting_key].ended
    assert appointment.provider_meeting.ended_at is not None
    assert provider.is_running(appointment) is False


def test_prepare_is_idempotent(app, appointment, fake_bbb):
    provider = get_provider()
    provider.prepare(appointment)
    first = appointment.provider_meeting.create_time
    provider.prepare(appointment)
    db.session.commit()
    assert len(fake_bbb.meetings) == 1
    assert [c for c, _, _ in fake_bbb.calls] == ["create", "create"]
    assert appointment.provider_meeting.create_time == first


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_every_checksum_algorithm_is_accepted(app, appointment, fake_bbb, algorithm):
    app.config["BBB_CHECKSUM"] = algorithm
    get_provider().prepare(appointment)
    assert fake_bbb.calls[-1][:1] == ("create",) and fake_bbb.calls[-1][2] == algorithm


def test_a_meeting_that_expired_unjoined_is_created_again_for_the_join(
        app, appointment, fake_bbb, provider_ca):
    provider = get_provider()
    provider.prepare(appointment)
    key = appointment.provider_meeting.meeting_key
    del fake_bbb.meetings[key]  # BigBlueButton dropped it: nobody joined in time
    time.sleep(0.01)
    page = open_join(provider.join_url(appointment, participant=appointment.citizen),
                     provider_ca)
    assert page.status_code == 200 and shown(page, "role") == "VIEWER"
    assert appointment.provider_meeting.create_time == fake_bbb.meetings[key].create_time


def test_after_the_end_a_new_meeting_is_made(app, appointment, fake_bbb):
    provider = get_provider()
    provider.prepare(appointment)
    old = appointment.provider_meeting.meeting_key
    provider.end(appointment)
    provider.prepare(appointment)  # e.g. the appointment was moved to another day
    assert appointment.provider_meeting.meeting_key != old
    assert fake_bbb.meetings[old].ended
    assert not fake_bbb.meetings[appointment.provider_meeting.meeting_key].ended


# ---- failures --------------------------------------------------------------------------

def failure(appointment) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        get_provider().prepare(appointment)
    db.session.commit()  # the caller keeps the failure for the queue
    return caught.value


def test_a_wrong_secret_is_a_configuration_error_said_without_the_secret(app, appointment,
                                                                        fake_bbb):
    app.config["BBB_SECRET"] = "not-the-servers-secret"
    error = failure(appointment)
    assert error.reason == "misconfigured"
    assert "BigBlueButton" in error.message and "wenden Sie sich an den Betrieb" in error.message
    for text in (str(error), error.message):
        assert "not-the-servers-secret" not in text and "checksum=" not in text
    assert appointment.provider_meeting.last_failure == "misconfigured"
    assert fake_bbb.meetings == {}


def test_a_failed_answer_is_rejected(app, appointment, fake_bbb):
    fake_bbb.fail_next("create", "maxConcurrent", "Too many meetings.")
    assert failure(appointment).reason == "rejected"


def test_down_is_unreachable_and_a_retry_succeeds_once_it_is_back(app, appointment, fake_bbb):
    fake_bbb.set_mode("down")
    error = failure(appointment)
    assert error.reason == "unreachable"
    assert "nicht erreicht" in error.message
    assert appointment.provider_meeting.last_failure_at is not None
    fake_bbb.set_mode("up")
    get_provider().prepare(appointment)
    db.session.commit()
    assert appointment.provider_meeting.last_failure is None
    assert appointment.provider_meeting.prepared_at is not None


def test_slow_is_a_timeout_within_bounded_time(app, appointment, fake_bbb):
    fake_bbb.set_mode("slow", delay=10)
    started = time.monotonic()
    error = failure(appointment)
    assert error.reason == "timeout"
    assert time.monotonic() - started < 4  # two attempts of 1 s and a short pause
    assert sum(1 for r in fake_bbb.requests if "/create" in r[1]) == 2  # retried once


def test_an_internal_error_is_a_server_error(app, appointment, fake_bbb):
    fake_bbb.set_mode("error")
    assert failure(appointment).reason == "server_error"


def test_an_untrusted_certificate_is_named(app, appointment, fake_bbb):
    app.config["PROVIDER_CA_FILE"] = None  # the fake's CA is not among the public roots
    assert failure(appointment).reason == "certificate"


def test_ending_fails_quietly_and_still_ends_here(app, appointment, fake_bbb, caplog):
    provider = get_provider()
    provider.prepare(appointment)
    fake_bbb.set_mode("down")
    provider.end(appointment)  # no exception
    assert appointment.provider_meeting.ended_at is not None
    assert "Ending the meeting failed" in caplog.text
    assert fake_bbb.secret not in caplog.text


# ---- the end callback's token ----------------------------------------------------------

def test_the_end_callback_token_cannot_be_forged(app, appointment, fake_bbb):
    get_provider().prepare(appointment)
    db.session.commit()
    row = appointment.provider_meeting
    token = fake_bbb.meetings[row.meeting_key].params["meta_endCallbackUrl"].rsplit("/", 1)[1]
    assert meeting_for_end_callback(token) == row
    key, signature = token.split(".")
    assert len(signature) >= 40  # HMAC-SHA256, base64: 256 bits
    forged = [f"{key}.{signature[:-2]}AA", f"{key}x.{signature}", key, "", "x" * 500,
              f"{'0' * 40}.{signature}"]
    assert [meeting_for_end_callback(t) for t in forged] == [None] * len(forged)
    app.config["SECRET_KEY"] = "another portal"
    assert meeting_for_end_callback(token) is None
