"""Property-based fuzzing of every route: whatever a client sends, the portal never answers 5xx.

Every rule of `app.url_map`, every method it allows, with hypothesis-made path values (real
ids, huge and negative numbers, unicode, percent-escapes), query strings, form and JSON bodies
and odd headers, as three roles: anonymous, a signed-in advisor, and a participant bound by a
personal link and in the call. POSTs carry the real CSRF token most of the time, so the
fuzzer gets past the CSRF check into the views. Runs on SQLite and on PostgreSQL (which
refuses NUL characters, unlike SQLite).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import re
import secrets
import shutil
import threading
from urllib.parse import quote

import flask
import flask_migrate
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import create_app
from portal.extensions import db
from portal.models import Advisor, AppointmentStatus, JourneyState, Participant

from .conftest import PASSWORD, IsolatedClient, base_config
from .helpers import csrf_token, login
from .journey_helpers import book, to_waiting_room

PG_ADMIN_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PLACEHOLDER = re.compile(r"<(?:(\w+):)?(\w+)>")
META_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "150"))  # per role and database

# Values that broke (or could break) something somewhere.
NASTY = ["", "0", "-1", "1.5", "9223372036854775807", "9223372036854775808",
         "18446744073709551616", "9" * 40, "1e309", "nan", "inf", "²", "٣", "\x00", "a\x00b",
         "%00", "%ff", "%2e%2e", "..", "../../etc/passwd", "<script>", "' OR 1=1 --", "ä" * 300,
         "x" * 5000, "\ud7ff", "💥", "true", "null", "[]", "{}", "advisor", "participant"]
QUERY_KEYS = ["as", "peer", "after", "lang", "v", "alle", "vergangen", "next", "size", "ckSize",
              "x", "bytes", "appointment_id", "_method", "page"]
FORM_KEYS = ["csrf_token", "email", "password", "decision", "camera", "microphone", "speaker",
             "download_kbps", "upload_kbps", "rtt_ms", "jitter_ms", "confirm", "day", "clock",
             "duration", "citizen_name", "citizen_email", "customer_number", "language", "topic",
             "extras-0-role", "extras-0-name", "extras-0-email", "message", "checked", "reason",
             "next", "code", "totp", "new_password", "current_password"]
JSON_KEYS = ["peer", "to", "kind", "payload", "final", "type", "sdp", "candidate"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded",
                 "application/x-www-form-urlencoded; charset=ebcdic", "multipart/form-data",
                 "multipart/form-data; boundary=", "text/plain",
                 "application/json; charset=latin-1",
                 "image/jpeg", "application/octet-stream", "ä/ö"]


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - no server here: SQLite only
        return False


@contextlib.contextmanager
def postgres_config(tmp_path):
    """Settings for a fresh, migrated PostgreSQL database of this test's own (dropped after)."""
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable at " + PG_ADMIN_URL)
    name = f"h3_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        config = base_config(tmp_path, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
        app = create_app(config)
        with app.app_context():
            flask_migrate.upgrade()
            db.engine.dispose()
        yield config
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fuzz_config(request, tmp_path, migrated_sqlite):
    if request.param == "sqlite":
        shutil.copy(migrated_sqlite, tmp_path / "fuzz.db")
        yield base_config(tmp_path, f"sqlite:///{tmp_path}/fuzz.db")
        return
    with postgres_config(tmp_path) as config:
        yield config


class World:
    """The app with one advisor, an appointment whose citizen is in the call, and a browser
    per role. Actions of the fuzzer (log out, cancel, end, decline) can change the world, so
    `restore` brings each role back before the next example."""

    def __init__(self, app):
        self.app = app
        with app.app_context():
            advisor = Advisor(name="Anna Berater", email="anna@example.org")
            advisor.set_password(PASSWORD)
            db.session.add(advisor)
            db.session.commit()
            self.advisor_id, self.advisor_email = advisor.id, advisor.email
        self.anonymous = app.test_client()
        self.staff = app.test_client()
        self.citizen = None
        self.login()
        self.new_call()

    def login(self):
        login(self.staff, self.advisor_email)
        self.staff_csrf = csrf_token(self.staff, "/beratung/termine/neu")

    def new_call(self):
        with self.app.app_context():
            advisor = db.session.get(Advisor, self.advisor_id)
            appointment, paths = book(advisor, interpreter=True)
            self.appointment_id = appointment.id
            self.participant_ids = [p.id for p in appointment.participants]
            self.citizen_id = appointment.citizen.id
            db.session.remove()
        self.citizen = self.app.test_client()
        to_waiting_room(self.citizen, paths["citizen"])
        self.staff.post(f"/beratung/termine/{self.appointment_id}/einlassen/{self.citizen_id}",
                        data={"csrf_token": self.staff_csrf})
        html = self.citizen.get("/termin/anruf").get_data(as_text=True)
        self.citizen_csrf = META_CSRF.search(html).group(1)
        joined = self.citizen.post(f"/anruf/{self.appointment_id}/beitreten",
                                   headers={"X-CSRFToken": self.citizen_csrf}, json={})
        self.peer = joined.get_json()["peer"] if joined.status_code == 200 else "0" * 32

    def restore(self, role):
        if role == "advisor" and self.staff.get("/beratung/termine").status_code != 200:
            self.login()
        if role == "participant":
            with self.app.app_context():
                citizen = db.session.get(Participant, self.citizen_id)
                in_call = citizen.appointment.status is AppointmentStatus.SCHEDULED and \
                    citizen.journey_state in (JourneyState.ADMITTED, JourneyState.IN_CALL)
                db.session.remove()
            if not in_call:
                if self.staff.get("/beratung/termine").status_code != 200:
                    self.login()
                self.new_call()

    def client(self, role):
        return {"anonymous": self.anonymous, "advisor": self.staff,
                "participant": self.citizen}[role]

    def csrf(self, role):
        return {"anonymous": None, "advisor": self.staff_csrf,
                "participant": self.citizen_csrf}[role]


def nasty_text():
    return st.one_of(st.sampled_from(NASTY), st.text(max_size=40),
                     st.text(alphabet=st.characters(codec="utf-8"), max_size=20))


@st.composite
def path_value(draw, converter, world):
    if converter == "int":
        return draw(st.one_of(
            st.sampled_from([world.appointment_id, *world.participant_ids, world.advisor_id]),
            st.integers(min_value=-(2**70), max_value=2**80),
            st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
        ).map(str) | st.sampled_from(["-1", "1.0", "٣", "0x10"]))
    raw = draw(nasty_text())
    if draw(st.booleans()):
        return quote(raw, safe="")
    # Hand-made escapes, some invalid UTF-8; keep "/" out so the segment stays one segment.
    return quote(raw, safe="%").replace("/", "%2F") + draw(
        st.sampled_from(["", "%ff", "%00", "%c3", "%2F", "%25"]))


def json_value(world):
    leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                       st.floats(allow_nan=False), nasty_text(),
                       st.sampled_from([world.peer, "offer", "answer", "candidate"]))
    return st.recursive(leaves, lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(JSON_KEYS) | st.text(max_size=8), children, max_size=5), max_leaves=12)


@st.composite
def request_for(draw, world, role, rules):
    rule = draw(st.sampled_from(rules))
    method = draw(st.sampled_from(sorted(rule.methods - {"OPTIONS"})))
    path = rule.rule
    for converter, name in PLACEHOLDER.findall(rule.rule):
        value = draw(path_value(converter or "default", world))
        path = path.replace(f"<{converter}:{name}>" if converter else f"<{name}>", value, 1)
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS) | st.text(max_size=6), st.one_of(
        nasty_text(), st.sampled_from([world.peer, "advisor", "participant", "1"])), max_size=4))
    if draw(st.booleans()):  # the call's API reads its role from the query
        query["as"] = draw(st.sampled_from(["advisor", "participant"]) | nasty_text())
    headers = {}
    if draw(st.booleans()):
        headers["HX-Request"] = draw(st.sampled_from(["true", "false", "", "1"]))
    if draw(st.booleans()):
        headers["Accept-Language"] = draw(st.sampled_from(
            ["de", "en", "fr;q=0.5", "*", "en-US,en;q=0.9,de;q=0.8", "xx-ÿ", ";q=abc", ",,,"]))
    if draw(st.booleans()):
        headers["Origin"] = draw(st.sampled_from(
            ["http://portal.test", "null", "https://evil.example", "http://localhost", "ä://"]))
    token = world.csrf(role)
    with_csrf = token is not None and draw(st.integers(0, 3)) > 0
    if with_csrf:
        headers["X-CSRFToken"] = token
    kwargs = {"headers": headers, "query_string": query}
    body = draw(st.sampled_from(["none", "form", "json", "raw"])) if method == "POST" else \
        draw(st.sampled_from(["none", "none", "none", "raw"]))
    if body == "form":
        form = draw(st.dictionaries(st.sampled_from(FORM_KEYS), st.one_of(
            nasty_text(), st.sampled_from(["agree", "decline", "ok", "1", "interpreter"])),
            max_size=8))
        if with_csrf:
            form["csrf_token"] = token
        kwargs["data"] = form
    elif body == "json":
        kwargs["json"] = draw(st.one_of(json_value(world), st.fixed_dictionaries({
            "peer": st.sampled_from([world.peer, "", "x", "\x00" * 32]) | nasty_text(),
            "to": st.sampled_from([world.peer, "x", world.peer + "\x00"]) | nasty_text(),
            "kind": st.sampled_from(["offer", "answer", "candidate", "bye"]),
            "payload": json_value(world), "final": st.booleans()})))
    elif body == "raw":
        kwargs["data"] = draw(st.binary(max_size=200) | st.sampled_from(
            [b"[" * 5000, b'{"peer": NaN}', b"--x\r\nContent-Disposition: form-data\r\n\r\n"]))
        kwargs["content_type"] = draw(st.sampled_from(CONTENT_TYPES))
    return method, path, kwargs


@pytest.mark.parametrize("role", ["anonymous", "advisor", "participant"])
def test_no_request_answers_5xx(fuzz_config, role):
    app = create_app(fuzz_config)
    app.test_client_class = IsolatedClient
    world = World(app)
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    failures = []
    seen = collections.Counter()
    # POSTs of the fuzzer that reached a view (past the origin check and CSRF).
    reached = collections.Counter()
    fuzzing = threading.Event()

    def counted(endpoint, view):
        @functools.wraps(view)
        def run(*args, **kwargs):
            if fuzzing.is_set() and flask.request.method == "POST":
                reached[endpoint] += 1
            return view(*args, **kwargs)
        return run

    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = counted(endpoint, view)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def fuzz(data):
        world.restore(role)
        method, path, kwargs = data.draw(request_for(world, role, rules))
        fuzzing.set()
        try:
            response = world.client(role).open(path, method=method, **kwargs)
        finally:
            fuzzing.clear()
        status = response.status_code
        response.close()
        seen[(method, status)] += 1
        if status >= 500:
            failures.append((status, method, path, kwargs))
        assert status < 500, (method, path, kwargs)

    try:
        fuzz()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert not failures
    print(role, sorted(seen.items()), sorted(reached.items()))
    # The fuzzer got past the origin check and CSRF into the views, not only to error pages.
    if role != "anonymous":
        assert reached, "no POST reached a view"
