"""Reminders 24 h and 1 h before, through a real SMTP server with the job's clock moved: the
personal link, the calendar entry and a cancel link; none for a cancelled appointment, new
ones after a move, none twice, also with two senders at once on PostgreSQL."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db
from portal.mailing import outbox, reminders
from portal.models import Advisor, Appointment, MailKind, MailStatus, OutgoingMail, Reminder
from portal.models import utcnow as real_utcnow
from portal.scheduling import cancel_appointment, reschedule_appointment

from .conftest import PASSWORD, SmtpServer, base_config
from .helpers import ics_part, link_in, text_part
from .journey_helpers import book
from .pg import pg_database

pytestmark = pytest.mark.smtp


class Clock:
    """The job's clock (portal.mailing.reminders.utcnow), moved by the test."""

    def __init__(self, monkeypatch):
        self.now = real_utcnow()
        monkeypatch.setattr(reminders, "utcnow", lambda: self.now)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def run_job(runner) -> str:
    result = runner.invoke(args=["mail", "send-pending"])
    assert result.exit_code == 0, result.output
    return result.output


def queued_and_sent(runner) -> tuple[int, int]:
    """(reminders queued, mails sent) by one run of the job."""
    output = run_job(runner)
    # Log lines (an SMTP failure) may come before the summary.
    match = re.search(r"^(\d+) sent, \d+ not sent .*; (\d+) reminders queued\.$", output,
                      re.MULTILINE)
    assert match, output
    return int(match.group(2)), int(match.group(1))


def reminder_mails(smtp_server):
    return [m for m in smtp_server.messages if m["Subject"].startswith("Erinnerung:")]


def test_reminders_a_day_and_an_hour_before(app, advisor, runner, smtp_server, clock, client):
    appointment, paths = book(advisor, starts_in=timedelta(days=3), interpreter=True)
    start = appointment.starts_at
    assert len(smtp_server.messages) == 2  # the invitations

    for moment in (real_utcnow(), start - timedelta(hours=25)):
        clock.now = moment
        assert queued_and_sent(runner)[0] == 0
    assert reminder_mails(smtp_server) == []

    clock.now = start - timedelta(hours=23, minutes=59)
    assert queued_and_sent(runner) == (2, 2)
    day_before = reminder_mails(smtp_server)
    assert sorted(m["To"] for m in day_before) == ["erika@example.org", "ivan@example.org"]
    citizen_mail = next(m for m in day_before if m["To"] == "erika@example.org")
    text = text_part(citizen_mail)
    assert "wir erinnern Sie an Ihren Videotermin" in text
    assert "Der Link aus Ihrer Einladung funktioniert weiterhin." in text
    ics = ics_part(citizen_mail).decode()
    assert "METHOD:REQUEST" in ics and f"SEQUENCE:{appointment.sequence}" in ics
    interpreter_mail = next(m for m in day_before if m["To"] == "ivan@example.org")
    assert "/absagen" not in text_part(interpreter_mail)  # interpreters cannot cancel

    # The reminder's link works, and so does the invitation's: neither ends the other.
    link = link_in(citizen_mail)
    assert link != "http://portal.test" + paths["citizen"]
    opened = client.get(urlsplit(link).path)
    assert opened.status_code == 302 and opened.location.endswith("/termin")
    other = app.test_client()
    assert other.get(paths["citizen"]).status_code == 302
    assert client.get("/termin").status_code == 200  # the first browser is still bound
    cancel_link = next(line for line in text.splitlines() if line.endswith("/absagen"))
    assert cancel_link == f"{link}/absagen"
    asked = client.get(urlsplit(cancel_link).path)
    assert asked.status_code == 302 and asked.location.endswith("/termin/absagen")
    assert "Möchten Sie Ihren Termin" in client.get("/termin/absagen").get_data(as_text=True)

    # The same minute again, and later that day: nothing new.
    assert queued_and_sent(runner)[0] == 0
    clock.now = start - timedelta(hours=2)
    assert queued_and_sent(runner)[0] == 0

    clock.now = start - timedelta(minutes=59)
    assert queued_and_sent(runner) == (2, 2)
    clock.now = start - timedelta(minutes=20)
    assert queued_and_sent(runner)[0] == 0
    assert len(reminder_mails(smtp_server)) == 4
    assert len({link_in(m) for m in reminder_mails(smtp_server)}) == 4  # a token each


def test_none_for_a_cancelled_appointment(app, advisor, runner, smtp_server, clock):
    appointment, _ = book(advisor, starts_in=timedelta(days=2))
    start = appointment.starts_at
    cancel_appointment(appointment, actor="advisor", acting=advisor)
    for before in (timedelta(hours=23), timedelta(minutes=30)):
        clock.now = start - before
        assert queued_and_sent(runner)[0] == 0
    assert reminder_mails(smtp_server) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) == 0


def test_a_moved_appointment_is_reminded_anew(app, advisor, runner, smtp_server, clock, client):
    appointment, _ = book(advisor, starts_in=timedelta(days=3))
    first_start = appointment.starts_at
    clock.now = first_start - timedelta(hours=23)
    run_job(runner)
    old_link = link_in(reminder_mails(smtp_server)[0])

    new_start = first_start + timedelta(days=2)
    reschedule_appointment(db.session.get(Appointment, appointment.id), starts_at=new_start,
                           duration_minutes=30)
    # The old reminder's link named the old time: it opens nothing now.
    assert client.get(urlsplit(old_link).path).status_code == 404
    clock.now = first_start - timedelta(minutes=30)  # the old time's hour: nothing
    assert queued_and_sent(runner)[0] == 0
    clock.now = new_start - timedelta(hours=23)
    assert queued_and_sent(runner) == (1, 1)
    newest = reminder_mails(smtp_server)[-1]
    assert "SEQUENCE:1" in ics_part(newest).decode()
    assert client.get(urlsplit(link_in(newest)).path).status_code == 302
    assert len(reminder_mails(smtp_server)) == 2


def test_a_pending_reminder_is_not_sent_once_the_appointment_is_cancelled(
        app, advisor, runner, smtp_port, clock):
    appointment, _ = book(advisor, starts_in=timedelta(days=1))  # the SMTP server is down
    clock.now = appointment.starts_at - timedelta(minutes=55)
    assert queued_and_sent(runner) == (1, 0)
    cancel_appointment(db.session.get(Appointment, appointment.id), actor="cli")
    db.session.execute(sa.update(OutgoingMail).values(next_attempt_at=real_utcnow()))
    db.session.commit()
    server = SmtpServer(smtp_port).start()
    try:
        run_job(runner)
        subjects = [m["Subject"] for m in server.messages]
    finally:
        server.stop()
    assert any(s.startswith("Abgesagt:") for s in subjects)
    assert not any(s.startswith("Erinnerung:") for s in subjects)
    row = db.session.scalar(sa.select(OutgoingMail).where(OutgoingMail.kind == MailKind.REMINDER))
    assert row.status is MailStatus.FAILED and row.message is None


def test_after_a_pause_only_the_nearest_reminder_goes(app, advisor, runner, smtp_server, clock):
    appointment, _ = book(advisor, starts_in=timedelta(days=2))
    clock.now = appointment.starts_at - timedelta(minutes=50)  # the job missed the day before
    assert queued_and_sent(runner)[0] == 1
    leads = {r.lead_minutes: r.token_hash for r in db.session.scalars(sa.select(Reminder))}
    assert set(leads) == {1440, 60} and leads[1440] is None and leads[60]


def test_no_day_before_reminder_right_after_the_invitation(app, advisor, runner, smtp_server,
                                                            clock):
    appointment, _ = book(advisor, starts_in=timedelta(hours=10))
    clock.now = real_utcnow() + timedelta(minutes=1)
    assert queued_and_sent(runner)[0] == 0
    clock.now = appointment.starts_at - timedelta(minutes=59)
    assert queued_and_sent(runner)[0] == 1


@pytest.mark.parametrize("value, expected", [("1440,60", [1440, 60]), ("60, 1440", [1440, 60]),
                                             ("", []), ("[30]", [30])])
def test_the_reminder_setting(config, value, expected, monkeypatch):
    monkeypatch.setenv("PORTAL_REMINDER_MINUTES", value)
    config.pop("REMINDER_MINUTES", None)
    assert create_app(config).config["REMINDER_MINUTES"] == expected


@pytest.mark.parametrize("value", ["1 day", "0", "20000", "1.5"])
def test_a_bad_reminder_setting_stops_start_up(config, value, monkeypatch):
    monkeypatch.setenv("PORTAL_REMINDER_MINUTES", value)
    with pytest.raises(RuntimeError, match="PORTAL_REMINDER_MINUTES"):
        create_app(config)


@pytest.mark.postgres
def test_two_senders_at_once_send_each_reminder_once_on_postgresql(tmp_path, smtp_server,
                                                                   smtp_port):
    def settings(url):
        return {**base_config(tmp_path, url), "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": smtp_port, "MAIL_TIMEOUT": 5}

    with pg_database(True, settings) as url:
        app = create_app(settings(url))
        with app.app_context():
            advisor = Advisor(name="Anna", email="anna@example.org")
            advisor.set_password(PASSWORD)
            db.session.add(advisor)
            db.session.commit()
            starts = [book(advisor, starts_in=timedelta(days=2), interpreter=True)[0].starts_at
                      for _ in range(3)]
        invitations = len(smtp_server.messages)
        assert invitations == 6
        errors = []
        for moment in (max(starts) - timedelta(hours=23), max(starts) - timedelta(minutes=30)):
            barrier = threading.Barrier(4)

            def sender(moment=moment, barrier=barrier):
                try:
                    with app.app_context():
                        barrier.wait()
                        reminders.enqueue_due(moment)
                        outbox.deliver()
                        db.session.remove()
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=sender) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        assert errors == []
        sent = reminder_mails(smtp_server)
        # Three appointments × two participants × two reminders, each exactly once.
        assert len(sent) == 12
        assert len({(m["To"], link_in(m)) for m in sent}) == 12
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) == 12
            db.session.remove()
            db.engine.dispose()
