"""Anonymous statistics: counted when things happen, exactly once, never personal; kept when
the retention job erases people; small cells suppressed on the page and in the export."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal import admission, create_app, statistics
from portal.extensions import db
from portal.models import Appointment, StatCounter, utcnow
from portal.scheduling import cancel_appointment

from .conftest import base_config
from .helpers import csrf_token, login
from .journey_helpers import book, consent, device_check, to_waiting_room
from .pg import pg_database

FIREFOX_DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
                   "Firefox/133.0")


def all_counters() -> Counter:
    db.session.rollback()  # a fresh read of what the requests committed
    result = Counter()
    for c in db.session.scalars(sa.select(StatCounter)):
        result[(c.dimension, c.value)] += c.count
    return result


def weeks_counted() -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(sa.select(StatCounter.week).distinct()))


def _fresh(appointment) -> Appointment:
    db.session.rollback()
    return db.session.get(Appointment, appointment.id)


def script(app, advisor, make_client):
    """Six appointments with known outcomes; returns (appointments, personal values)."""
    done = {}
    # Held: the citizen waited 7 minutes, the call lasted 25.
    held, paths = book(advisor)
    client = make_client()
    to_waiting_room(client, paths["citizen"])
    held = _fresh(held)
    held.citizen.waiting_since = utcnow() - timedelta(minutes=7, seconds=30)
    db.session.commit()
    assert admission.admit(held, [held.citizen], advisor) == 1
    held.citizen.admitted_at = utcnow() - timedelta(minutes=25)
    db.session.commit()
    admission.end_appointment(held, advisor)
    admission.end_appointment(_fresh(held), advisor)  # a second click counts nothing
    done["held"] = held

    # Cancelled by the advisor, by the agency's script, and by the citizen on their page.
    by_advisor, _ = book(advisor)
    cancel_appointment(by_advisor, actor="advisor", acting=advisor)
    by_cli, _ = book(advisor)
    cancel_appointment(by_cli, actor="cli")
    by_citizen, paths = book(advisor)
    client = make_client()
    client.get(paths["citizen"])
    assert client.post("/termin/absagen", data={
        "csrf_token": csrf_token(client, "/termin/absagen")}).status_code == 200
    done["cancelled"] = [by_advisor, by_cli, by_citizen]

    # A no-show: invited, never came; its time is long over.
    no_show, _ = book(advisor, starts_in=timedelta(hours=-3))
    # Came (a weak connection on a Windows PC) but the advisor ended without letting them in.
    not_held, paths = book(advisor, starts_in=timedelta(minutes=5))
    client = make_client()
    client.get(paths["citizen"])
    consent(client)
    device_check(client, ua=FIREFOX_DESKTOP, confirm=True, download_kbps="300",
                 upload_kbps="200", rtt_ms="120", jitter_ms="5")
    client.get("/termin/wartebereich")
    admission.end_appointment(_fresh(not_held), advisor)
    done["no_show"], done["not_held"] = no_show, not_held
    return done


EXPECTED = {
    ("outcome", "held"): 1, ("outcome", "cancelled"): 3, ("outcome", "no_show"): 1,
    ("outcome", "not_held"): 1,
    ("cancelled_by", "advisor"): 1, ("cancelled_by", "agency"): 1,
    ("cancelled_by", "citizen"): 1,
    ("waiting_minutes", "5-10"): 1, ("call_minutes", "20-30"): 1, ("provider", "builtin"): 1,
    # Two device checks: a phone with Chrome on a good line, a Windows PC with Firefox on a
    # weak one.
    ("check_grade", "good"): 1, ("check_grade", "audio_only"): 1,
    ("browser", "Chrome"): 1, ("browser", "Firefox"): 1,
    ("os", "Android"): 1, ("os", "Windows"): 1,
}


def test_scripted_appointments_give_exactly_the_expected_counters(app, advisor, runner):
    done = script(app, advisor, app.test_client)
    # Before the scheduled job, the no-show is not counted: nobody came, nothing happened.
    assert ("outcome", "no_show") not in all_counters()
    assert runner.invoke(args=["retention", "purge"]).exit_code == 0
    assert all_counters() == Counter(EXPECTED)
    weeks = {statistics.iso_week(a.starts_at) for a in
             [done["held"], done["no_show"], done["not_held"], *done["cancelled"]]}
    assert weeks_counted() == weeks
    # Running the job again counts nothing twice.
    assert runner.invoke(args=["retention", "purge"]).exit_code == 0
    assert all_counters() == Counter(EXPECTED)


def test_retention_keeps_the_statistics_and_leaves_nothing_personal(app, advisor, runner):
    links = []
    done = script(app, advisor, app.test_client)
    assert runner.invoke(args=["retention", "purge"]).exit_code == 0
    before = all_counters()
    personal = {"Erika Mustermann", "erika@example.org", "123D456789", "Ivan Dolmetscher",
                "198.51.100.23"}
    # Their tokens: every mail the outbox wrote holds one.
    from pathlib import Path

    from .helpers import LINK_RE

    for mail in Path(app.config["OUTBOX_DIR"]).glob("*.eml"):
        links += LINK_RE.findall(mail.read_text(encoding="utf-8", errors="replace"))
    tokens = {link.rsplit("/", 1)[1] for link in links}
    assert tokens
    from portal.tokens import hash_token

    # Long after: every appointment is past the retention period.
    for appointment in db.session.scalars(sa.select(Appointment)):
        appointment.starts_at -= timedelta(days=30)
        for column in ("ended_at", "cancelled_at"):
            if getattr(appointment, column):
                setattr(appointment, column, getattr(appointment, column) - timedelta(days=30))
    db.session.commit()
    result = runner.invoke(args=["retention", "purge"])
    assert result.exit_code == 0 and result.output.startswith("6 participants erased")
    assert all_counters() == before

    dump = "\n".join(db.session.connection().connection.driver_connection.iterdump())
    found = [value for value in personal | tokens | {hash_token(t) for t in tokens}
             if value in dump]
    assert found == []
    assert all(p.erased_at for a in done["cancelled"] for p in _fresh(a).participants)


def _seed(week: str, team: int, **counts) -> None:
    for key, n in counts.items():
        dimension, value = key.split("__")
        db.session.add(StatCounter(week=week, team_id=team, dimension=dimension, value=value,
                                   count=n))
    db.session.commit()


@pytest.fixture
def admin_client(app, make_advisor):
    make_advisor(email="admin@jobcenter.example", name="Ada Admin", admin=True)
    client = app.test_client()
    login(client, "admin@jobcenter.example")
    return client


def _this_week() -> str:
    return statistics.iso_week(utcnow())


def test_small_cells_are_suppressed_on_the_page_and_in_the_export(app, admin_client):
    week = _this_week()
    _seed(week, 0, outcome__held=7, outcome__cancelled=3, check_grade__good=5,
          browser__Firefox=1)
    page = admin_client.get("/verwaltung/statistik")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    outcome = html[html.index('id="outcome-title"'):html.index('id="cancelled-by-title"')]
    assert re.search(r'<th scope="row">stattgefunden</th><td class="numeric">7</td>', outcome)
    assert re.search(r'<th scope="row">abgesagt</th><td class="numeric">weniger als 5</td>',
                     outcome)
    assert ">3<" not in outcome
    grades = html[html.index('id="grade-title"'):html.index('id="browser-title"')]
    assert re.search(r'<td class="numeric">5</td>', grades)

    export = admin_client.get("/verwaltung/statistik.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    by_key = {(r["week"], r["dimension"], r["value"]): r["count"] for r in rows}
    assert by_key[(week, "outcome", "held")] == "7"
    assert by_key[(week, "outcome", "cancelled")] == "<5"
    assert by_key[(week, "browser", "Firefox")] == "<5"
    assert {r["team"] for r in rows} == {"0"}


def test_the_page_filters_by_period_and_team(app, admin_client):
    this_week = _this_week()
    long_ago = statistics.iso_week(utcnow() - timedelta(weeks=30))
    _seed(this_week, 0, outcome__held=6)
    _seed(this_week, 3, outcome__held=9)
    _seed(long_ago, 0, outcome__held=8)

    def held(**args):
        html = admin_client.get("/verwaltung/statistik", query_string=args).get_data(
            as_text=True)
        part = html[html.index('id="outcome-title"'):html.index('id="cancelled-by-title"')]
        return re.search(r'stattgefunden</th><td class="numeric">([^<]+)<', part).group(1)

    assert held() == "15"  # the last 12 weeks, every team
    assert held(team="3") == "9"
    assert held(team="0") == "6"
    start = (utcnow() - timedelta(weeks=31)).date().isoformat()
    assert held(von=start) == "23"
    page = admin_client.get("/verwaltung/statistik").get_data(as_text=True)
    assert '<option value="3">Team 3</option>' in page
    assert '<option value="0">Ohne Team</option>' in page
    export = admin_client.get("/verwaltung/statistik.csv", query_string={"team": "3"})
    assert {r["team"] for r in csv.DictReader(io.StringIO(export.get_data(as_text=True)))} \
        == {"3"}


@pytest.mark.parametrize("args", [{"von": "gestern"}, {"bis": "2026-13-45"},
                                  {"von": "2026-05-01", "bis": "2026-04-01"},
                                  {"von": "2000-01-01", "bis": "2026-01-01"}, {"team": "x"},
                                  {"von": "2026-02-30"}])
def test_bad_filters_are_explained_never_a_500(app, admin_client, args):
    response = admin_client.get("/verwaltung/statistik", query_string=args)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<title>Fehler: " in html and 'class="error-summary"' in html
    assert admin_client.get("/verwaltung/statistik.csv", query_string=args).status_code == 422


def test_only_admins_see_the_statistics(app, client, staff):
    for url in ("/verwaltung/statistik", "/verwaltung/statistik.csv"):
        assert client.get(url).status_code == 302  # to the sign-in
        assert staff.get(url).status_code == 404  # an advisor: as if it did not exist
    assert "/verwaltung/statistik" not in staff.get("/beratung/termine").get_data(as_text=True)


# ---- several instances at once, on PostgreSQL -----------------------------------------------

@pytest.fixture
def pg_app(tmp_path):
    with pg_database(True, lambda url: base_config(tmp_path, url)) as url:
        app = create_app(base_config(tmp_path, url))
        yield app
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _run_in_threads(app, target, n):
    errors = []
    barrier = threading.Barrier(n)

    def run(i):
        try:
            with app.app_context():
                barrier.wait()
                target(i)
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


@pytest.mark.postgres
def test_concurrent_counting_loses_nothing_on_postgresql(pg_app):
    with pg_app.app_context():
        from portal.models import Advisor

        advisor = Advisor(name="Anna", email="anna@example.org")
        advisor.set_password("correct horse battery staple")
        db.session.add(advisor)
        db.session.commit()
        appointment, _ = book(advisor)
        appointment_id = appointment.id

    def increments(i):
        appointment = db.session.get(Appointment, appointment_id)
        for _ in range(25):
            # Two counters in either order: sorted on commit, so no deadlock.
            pair = [("browser", "Chrome"), ("os", "Android")]
            for dimension, value in (pair if i % 2 else pair[::-1]):
                statistics.count(appointment, dimension, value)
            db.session.commit()

    _run_in_threads(pg_app, increments, 6)
    with pg_app.app_context():
        assert all_counters() == Counter({("browser", "Chrome"): 150, ("os", "Android"): 150})


@pytest.mark.postgres
def test_two_jobs_at_once_count_each_no_show_once_on_postgresql(pg_app):
    with pg_app.app_context():
        from portal.models import Advisor

        advisor = Advisor(name="Anna", email="anna@example.org")
        advisor.set_password("correct horse battery staple")
        db.session.add(advisor)
        db.session.commit()
        for _ in range(8):
            book(advisor, starts_in=timedelta(hours=-5))

    _run_in_threads(pg_app, lambda i: statistics.settle_finished(), 3)
    with pg_app.app_context():
        assert all_counters() == Counter({("outcome", "no_show"): 8})
