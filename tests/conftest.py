from __future__ import annotations

import os
import shutil

import flask_migrate
import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient

from portal import create_app
from portal.extensions import db
from portal.models import Advisor, Role

from .helpers import free_port, parse_mail

PASSWORD = "correct horse battery staple"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """A skipped test proves nothing: a run with skips (a missing Chromium, PostgreSQL, Redis
    or nginx) fails, unless PORTAL_TEST_ALLOW_SKIPS=1 says that a partial run is meant."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0 and os.environ.get("PORTAL_TEST_ALLOW_SKIPS") != "1":
        reporter.write_line(f"{len(skipped)} test(s) skipped: the run counts as failed "
                            "(PORTAL_TEST_ALLOW_SKIPS=1 allows a partial run).", red=True)
        session.exitstatus = 1


def base_config(tmp_path, db_uri: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": db_uri,
        "BASE_URL": "http://portal.test",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "MAIL_SERVER": None,
        "MAIL_DEFAULT_SENDER": "Jobcenter Musterstadt <videotermin@jobcenter.example>",
        "AGENCY_NAME": "Jobcenter Musterstadt",
        # Rate limits stay on (fresh in-memory storage per app), generous unless a test lowers them.
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LINK_RATE_LIMIT": "1000 per minute",
        # Over loopback a check moves gigabytes; the limits' own tests lower these.
        "NETCHECK_RATE_LIMIT": "100000 per minute",
        "NETCHECK_VOLUME_LIMIT": "1000000 per minute",
    }


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A SQLite file migrated once with Alembic; each test gets a copy."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    app = create_app(base_config(folder, f"sqlite:///{path}"))
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def config(tmp_path, migrated_sqlite) -> dict:
    db_path = tmp_path / "portal.db"
    shutil.copy(migrated_sqlite, db_path)
    return base_config(tmp_path, f"sqlite:///{db_path}")


@pytest.fixture
def smtp_port():
    return free_port()


class IsolatedClient(FlaskClient):
    """Runs every request in its own app context, as a real server does: `g`, the CSRF
    token cache, Babel's locale and the database session never leak between requests or
    into the test's own session."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(config, request):
    """The portal on a fresh copy of the migrated database. Tests marked `smtp` send mail
    through a real SMTP conversation to 127.0.0.1:<smtp_port> instead of the file outbox."""
    if request.node.get_closest_marker("smtp"):
        config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=request.getfixturevalue("smtp_port"),
                      MAIL_TIMEOUT=5)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_advisor(app):
    def make(email="anna.berater@jobcenter.example", name="Anna Berater", admin=False):
        advisor = Advisor(name=name, email=email, role=Role.ADMIN if admin else Role.ADVISOR)
        advisor.set_password(PASSWORD)
        db.session.add(advisor)
        db.session.commit()
        return advisor

    return make


@pytest.fixture
def advisor(make_advisor):
    return make_advisor()


@pytest.fixture
def staff(app, advisor):
    """A browser of the signed-in advisor."""
    from .helpers import login

    client = app.test_client()
    login(client, advisor.email)
    return client


class Inbox:
    """Collects what the SMTP server receives."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, started and stopped by the test."""

    def __init__(self, port: int):
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    @property
    def messages(self):
        return [parse_mail(e.original_content) for e in self.inbox.envelopes]

    def recipients(self):
        return [rcpt for e in self.inbox.envelopes for rcpt in e.rcpt_tos]


@pytest.fixture
def smtp_server(smtp_port):
    server = SmtpServer(smtp_port).start()
    yield server
    server.stop()
