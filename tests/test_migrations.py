"""The Alembic migrations build the schema the models expect, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal import create_app
from portal.extensions import db
from portal.models import Advisor, ParticipantRole
from portal.scheduling import ParticipantSpec, create_appointment

from .conftest import base_config

PG_ADMIN_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL",
                              "postgresql+psycopg://root@127.0.0.1:5432/postgres")


def assert_migrations_match_models_and_work(app):
    with app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"

        # The schema holds real data, with times round-tripping as aware UTC.
        advisor = Advisor(name="Anna", email="anna@example.org")
        advisor.set_password("correct horse battery staple")
        db.session.add(advisor)
        db.session.commit()
        starts = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
        outcome = create_appointment(
            advisor=advisor, starts_at=starts, duration_minutes=30, language="de",
            citizen=ParticipantSpec(ParticipantRole.CITIZEN, "Erika", "erika@example.org"))
        appointment_id = outcome.appointment.id
        db.session.expunge_all()
        from portal.models import Appointment

        assert db.session.get(Appointment, appointment_id).starts_at == starts

        db.session.remove()
        flask_migrate.downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        flask_migrate.upgrade()
        db.session.remove()
        db.engine.dispose()


def test_migrations_on_sqlite(tmp_path):
    app = create_app(base_config(tmp_path, f"sqlite:///{tmp_path}/migrate.db"))
    assert_migrations_match_models_and_work(app)


@pytest.fixture
def postgres_url():
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server at {PG_ADMIN_URL}: {exc.orig}")
    name = f"portal_test_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_migrations_on_postgresql(tmp_path, postgres_url):
    app = create_app(base_config(tmp_path, postgres_url))
    assert_migrations_match_models_and_work(app)
