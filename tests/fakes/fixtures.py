"""pytest fixtures for the fakes: provider_ca (session), fake_bbb, fake_jitsi, fake_webex
(each started before the test and stopped after it). A test module that uses them says

    pytest_plugins = ["tests.fakes.fixtures"]

and gives the app the fake's settings, e.g. config.update(fake_bbb.portal_config(),
PROVIDER="bigbluebutton", PROVIDERS=["bigbluebutton"]); each portal_config() includes
PROVIDER_CA_FILE, the throw-away CA that signed the fake's certificate."""

from __future__ import annotations

import pytest

from .bigbluebutton import FakeBigBlueButton
from .jitsi import FakeJitsi
from .tls import make_ca
from .webex import FakeWebex


@pytest.fixture(scope="session")
def provider_ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("provider-ca"))


@pytest.fixture
def fake_bbb(provider_ca):
    fake = FakeBigBlueButton(provider_ca).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_jitsi(provider_ca):
    fake = FakeJitsi(provider_ca).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_webex(provider_ca):
    fake = FakeWebex(provider_ca).start()
    yield fake
    fake.stop()
