"""The provider interface: which provider an appointment uses, the advisor's choice, the
personal-room link, the built-in call's meeting row, and start-up refusing a provider that
is not fully configured."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import ProviderMeeting
from portal.providers import (
    ProviderError,
    available_providers,
    choose,
    get_provider,
    provider_for,
)
from portal.providers.link import check_personal_room_url

from .conftest import base_config
from .journey_helpers import book

ROOM = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0"
JITSI = {"JITSI_URL": "https://meet.agency.example", "JITSI_APP_ID": "videotermin",
         "JITSI_APP_SECRET": "a-jitsi-app-secret-of-32-characters!"}


@pytest.fixture
def config(config):
    config.update(JITSI, PROVIDER="builtin", PROVIDERS=["builtin", "jitsi", "link"])
    return config


@pytest.fixture
def appointment(app, advisor):
    appointment, _ = book(advisor)
    return appointment


def test_available_providers_default_first_with_translated_labels(app):
    with force_locale("de"):
        providers = available_providers()
        assert [(p.name, p.label, p.builtin) for p in providers] == [
            ("builtin", "Videoanruf im Portal", True), ("jitsi", "Jitsi Meet", False),
            ("link", "Persönlicher Besprechungsraum", False)]
        assert "Anzeigenamen" in providers[1].receives
        assert "nichts" in providers[0].receives


def test_an_appointment_uses_the_default_until_the_advisor_chooses(app, appointment):
    assert provider_for(appointment).name == "builtin"
    choose(appointment, "jitsi")
    assert appointment.provider == "jitsi" and provider_for(appointment).name == "jitsi"
    choose(appointment, None)
    assert provider_for(appointment).name == "builtin"


def test_once_prepared_the_meeting_keeps_its_provider(app, appointment):
    choose(appointment, "jitsi")
    provider_for(appointment).prepare(appointment)
    db.session.commit()
    app.config["PROVIDER"] = "link"  # the operator changes the default meanwhile
    appointment.provider = None
    assert provider_for(appointment).name == "jitsi"
    with pytest.raises(ProviderError) as caught:
        choose(appointment, "builtin")
    assert caught.value.reason == "already_prepared"
    provider_for(appointment).end(appointment)  # e.g. rescheduled: choosing is open again
    choose(appointment, "builtin")
    assert provider_for(appointment).name == "builtin"


def test_a_provider_that_is_not_configured_cannot_be_chosen(app, appointment):
    for name in ("webex", "zoom"):
        with pytest.raises(ProviderError) as caught:
            choose(appointment, name)
        assert caught.value.reason == "not_available"
    with pytest.raises(ProviderError) as caught:
        get_provider("bigbluebutton")
    assert caught.value.reason == "misconfigured"


def test_the_link_provider_needs_the_advisor_s_personal_room(app, appointment, advisor):
    with pytest.raises(ProviderError) as caught:
        choose(appointment, "link")
    assert caught.value.reason == "no_personal_room"
    with force_locale("de"):
        assert "Profil" in caught.value.message
    with pytest.raises(ProviderError):
        get_provider("link").prepare(appointment)
    assert appointment.provider_meeting.last_failure == "no_personal_room"

    advisor.personal_room_url = ROOM
    choose(appointment, "link")
    provider = provider_for(appointment)
    provider.prepare(appointment)
    assert provider.join_url(appointment, participant=appointment.citizen) == ROOM
    assert provider.join_url(appointment, advisor=advisor) == ROOM
    assert provider.is_running(appointment) is None


@pytest.mark.parametrize(("value", "ok"), [
    (ROOM, True), ("https://agency.webex.com/meet/anna.berater", True), ("", True),
    ("http://agency.webex.com/meet/anna", False), ("javascript:alert(1)", False),
    ("agency.webex.com/meet/anna", False), ("https://user:pw@zoom.us/my/anna", False),
    ("https://zoom.us/my/anna\nX", False), ("https://zoom.us/" + "a" * 500, False)])
def test_personal_room_urls_must_be_https(app, value, ok):
    url, error = check_personal_room_url(value)
    assert (error is None) is ok
    assert url == (value or None if ok else None)


def test_the_built_in_call_prepares_a_row_and_ends(app, appointment):
    provider = get_provider()
    assert provider.is_running(appointment) is False
    provider.prepare(appointment)
    db.session.commit()
    row = appointment.provider_meeting
    assert row.provider == "builtin" and row.prepared_at is not None
    assert appointment.uid not in row.meeting_key and len(row.meeting_key) == 40
    provider.prepare(appointment)  # idempotent
    assert db.session.scalars(select(ProviderMeeting)).all() == [row]
    provider.end(appointment)
    assert row.ended_at is not None


def test_the_meeting_row_goes_with_the_appointment(app, appointment):
    get_provider().prepare(appointment)
    db.session.commit()
    db.session.delete(appointment)
    db.session.commit()
    assert db.session.scalars(select(ProviderMeeting)).all() == []


def test_a_provider_failure_message_names_what_failed(app):
    error = ProviderError("timeout", "jitsi", "GET https://meet.agency.example/x: ReadTimeout")
    with force_locale("de"):
        assert error.message == "Jitsi Meet hat nicht rechtzeitig geantwortet."
    with force_locale("en"):
        assert error.message == "Jitsi Meet did not answer in time."


# ---- start-up refuses what would fail at the first hand-off ----------------------------

@pytest.fixture
def key_file(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "ec.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(path)


BBB = {"BBB_URL": "https://bbb.agency.example/bigbluebutton/api/",
       "BBB_SECRET": "a-bbb-shared-secret"}
BAD = [
    ({"PROVIDER": "zoom"}, "PORTAL_PROVIDER: unknown provider 'zoom'"),
    ({"PROVIDERS": "builtin,teams"}, "PORTAL_PROVIDERS: unknown provider 'teams'"),
    ({"PROVIDER": "builtin", "PROVIDERS": ["jitsi"], **JITSI},
     "PORTAL_PROVIDERS must include the default PORTAL_PROVIDER 'builtin'"),
    ({"PROVIDER": "jitsi"}, "PORTAL_JITSI_URL is not set"),
    ({"PROVIDER": "jitsi", **JITSI, "JITSI_URL": "http://meet.agency.example"},
     "PORTAL_JITSI_URL must be an https:// URL"),
    ({"PROVIDER": "jitsi", **JITSI, "JITSI_APP_SECRET": None},
     "PORTAL_JITSI_APP_SECRET is not set"),
    ({"PROVIDER": "jitsi", **JITSI, "JITSI_APP_SECRET": "short"},
     "PORTAL_JITSI_APP_SECRET must be at least 32 characters"),
    ({"PROVIDER": "jitsi", **JITSI, "JITSI_PRIVATE_KEY_FILE": "/nonexistent.pem",
      "JITSI_KID": "k"}, "PORTAL_JITSI_PRIVATE_KEY_FILE: '/nonexistent.pem' is not a readable"),
    ({"PROVIDER": "bigbluebutton", **BBB, "BBB_SECRET": ""}, "PORTAL_BBB_SECRET is not set"),
    ({"PROVIDER": "bigbluebutton", **BBB, "BBB_SECRET": 123456},
     "PORTAL_BBB_SECRET was read as a number"),
    ({"PROVIDER": "bigbluebutton", **BBB, "BBB_CHECKSUM": "md5"},
     "PORTAL_BBB_CHECKSUM must be one of sha1, sha256, sha384, sha512"),
    ({"PROVIDER": "bigbluebutton", **BBB, "BBB_URL": "https://bbb.agency.example/"},
     "PORTAL_BBB_URL must be the API base ending in /api/"),
    ({"PROVIDER": "webex"}, "PORTAL_WEBEX_TOKEN is not set"),
    ({"PROVIDER": "webex", "WEBEX_TOKEN": "t", "WEBEX_VERTICAL_TYPE": "edu"},
     "PORTAL_WEBEX_VERTICAL_TYPE must be gen or hc"),
    ({"PROVIDER": "webex", "WEBEX_TOKEN": "t", "WEBEX_BROKER_URL": "http://broker.example"},
     "PORTAL_WEBEX_BROKER_URL must be an https:// URL"),
    ({"PROVIDER_TIMEOUT_SECONDS": 0}, "PORTAL_PROVIDER_TIMEOUT_SECONDS must be"),
    ({"PROVIDER_CA_FILE": "/nonexistent-ca.pem"}, "PORTAL_PROVIDER_CA_FILE: '/nonexistent-ca"),
]


@pytest.mark.parametrize(("settings", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_provider_settings_stop_start_up(tmp_path, settings, message):
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(".", r"\.")):
        create_app({**base_config(tmp_path, "sqlite://"), **settings})


def test_a_non_rsa_key_for_jitsi_rs256_stops_start_up(tmp_path, key_file):
    with pytest.raises(RuntimeError, match="must hold an RSA key"):
        create_app({**base_config(tmp_path, "sqlite://"), "PROVIDER": "jitsi", **JITSI,
                    "JITSI_PRIVATE_KEY_FILE": key_file, "JITSI_KID": "k"})


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_PROVIDER", "bigbluebutton")
    monkeypatch.setenv("PORTAL_BBB_URL", "http://bbb.agency.example/bigbluebutton/api/")
    monkeypatch.setenv("PORTAL_BBB_SECRET", "s3cret-value")
    with pytest.raises(RuntimeError, match="PORTAL_BBB_URL must be an https:// URL"):
        create_app(base_config(tmp_path, "sqlite://"))
    monkeypatch.setenv("PORTAL_BBB_URL", "https://bbb.agency.example/bigbluebutton/api")
    monkeypatch.setenv("PORTAL_PROVIDERS", "bigbluebutton, builtin")
    app = create_app(base_config(tmp_path, "sqlite://"))
    assert app.config["PROVIDERS"] == ["bigbluebutton", "builtin"]
    assert app.config["BBB_URL"] == "https://bbb.agency.example/bigbluebutton/api/"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request, config, tmp_path):
    """The race below on SQLite (`make run`) and on PostgreSQL (production)."""
    from .test_fuzz import postgres_config

    if request.param == "sqlite":
        yield config
        return
    with postgres_config(tmp_path) as pg_config:
        config.update({k: v for k, v in pg_config.items() if k == "SQLALCHEMY_DATABASE_URI"})
        yield config


def test_two_workers_preparing_at_once_share_one_meeting(db_kind, tmp_path, advisor):
    import sqlalchemy as sa

    from portal.models import utcnow
    from portal.providers.meetings import meeting_of

    appointment, _ = book(advisor)
    assert appointment.provider_meeting is None  # this worker saw no meeting yet
    other = sa.create_engine(db.engine.url)  # another worker inserts its row meanwhile
    with other.begin() as conn:
        conn.execute(sa.insert(ProviderMeeting).values(
            appointment_id=appointment.id, provider="builtin", meeting_key="k" * 40,
            prepared_at=utcnow()))
    other.dispose()
    row = meeting_of(appointment, "builtin")
    db.session.commit()
    assert row.meeting_key == "k" * 40
    assert len(db.session.scalars(select(ProviderMeeting)).all()) == 1
