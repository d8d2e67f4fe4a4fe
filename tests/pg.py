"""Throw-away PostgreSQL databases (prefix h5_) on the machine's server, dropped after."""

from __future__ import annotations

import contextlib
import os
import secrets

import flask_migrate
import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db

PG_ADMIN_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL",
                              "postgresql+psycopg://root@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def pg_database(migrated: bool, config_for):
    """A fresh database; `config_for(url)` gives the app settings used to migrate it."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"no PostgreSQL server at {PG_ADMIN_URL}: {exc.orig}")
    name = f"h5_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        if migrated:
            app = create_app(config_for(url))
            with app.app_context():
                flask_migrate.upgrade()
                db.engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
