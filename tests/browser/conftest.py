"""Real Chromium (Debian's) driven by Playwright against the portal served on 127.0.0.1.

Camera and microphone are Chromium's fake devices; nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from portal.models import Advisor

from ..conftest import PASSWORD, base_config
from ..helpers import free_port

CHROMIUM = Path("/usr/bin/chromium")
LIVE_REDIS_URL = "redis://127.0.0.1:6379/3"
BASE_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic",
             "--autoplay-policy=no-user-gesture-required"]
FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(
                    reason=f"{CHROMIUM} not installed (apt-get install chromium)"))


@dataclass
class LiveServer:
    app: Flask
    url: str

    def advisor(self, email="anna.berater@jobcenter.example", name="Anna Berater"):
        """The advisor with this address, created on first use."""
        with self.app.app_context():
            advisor = db.session.scalar(select(Advisor).where(Advisor.email == email))
            if advisor is not None:
                db.session.expunge(advisor)
                return advisor
            advisor = Advisor(name=name, email=email)
            advisor.set_password(PASSWORD)
            db.session.add(advisor)
            db.session.commit()
            db.session.refresh(advisor)
            db.session.expunge(advisor)
            return advisor


@contextlib.contextmanager
def serve_portal(tmp_path, migrated_sqlite, host="127.0.0.1", **settings):
    """The portal on a copy of the migrated database, served on host:<free port> by a
    threaded server, with `settings` over the test configuration."""
    db_path = tmp_path / "portal.db"
    shutil.copy(migrated_sqlite, db_path)
    port = free_port()
    config = base_config(tmp_path, f"sqlite:///{db_path}")
    config.update(BASE_URL=f"http://{host}:{port}", WAITING_ROOM_POLL_SECONDS=1,
                  QUEUE_POLL_SECONDS=1, CALL_POLL_SECONDS=0.5,
                  # Limits counted in Redis, as in production: the library's in-memory storage
                  # races on its expiry timer under a threaded server (alisaifee/limits#26).
                  RATELIMIT_STORAGE_URI=LIVE_REDIS_URL,
                  RATELIMIT_KEY_PREFIX=f"live-{uuid.uuid4().hex}")
    config.update(settings)
    app = create_app(config)
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://{host}:{port}")
    finally:
        server.shutdown()
        thread.join(5)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def live_server(tmp_path, migrated_sqlite, request):
    """Extra settings for one test: parametrize `live_server` indirectly with a dict."""
    with serve_portal(tmp_path, migrated_sqlite, **getattr(request, "param", {})) as server:
        yield server


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _launch(playwright, *extra):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*BASE_ARGS, *extra])


@pytest.fixture(scope="session")
def chromium(playwright):
    """Camera and microphone are granted and fake (a test pattern and a beep)."""
    browser = _launch(playwright, *FAKE_MEDIA)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def chromium_denied(playwright):
    """No permission prompt answer: every getUserMedia call is refused."""
    browser = _launch(playwright, "--use-fake-device-for-media-stream",
                      "--use-fake-ui-for-media-stream=deny")
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def chromium_no_camera(playwright):
    browser = _launch(playwright, "--use-fake-device-for-media-stream=device-count=0",
                      "--use-fake-ui-for-media-stream")
    yield browser
    browser.close()


@pytest.fixture
def contexts():
    """Browser contexts opened by a test, closed afterwards."""
    opened = []

    def track(context):
        opened.append(context)
        context.set_default_timeout(15_000)
        return context

    yield track
    for context in opened:
        context.close()
