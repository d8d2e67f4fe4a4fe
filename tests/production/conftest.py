"""The production-shaped stack (nginx + two gunicorn instances + PostgreSQL + Redis), once
per module. These tests are part of `make test`: CI installs nginx, openssl and Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .stack import production_stack

# Low enough that a test reaches them quickly, high enough for one journey's own requests.
LINK_RATE_LIMIT = 8
LOGIN_RATE_LIMIT = 6


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents and "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for tool in ("nginx", "openssl"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            pytest.fail(f"{tool} is not installed (apt-get install nginx-light openssl)")
    with production_stack(tmp_path_factory.mktemp("production"),
                          LINK_RATE_LIMIT=f"{LINK_RATE_LIMIT} per minute",
                          LOGIN_RATE_LIMIT=f"{LOGIN_RATE_LIMIT} per minute") as running:
        yield running
