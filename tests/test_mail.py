"""Invitations, updates and cancellations through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from portal.extensions import db
from portal.mailing import outbox
from portal.models import MailStatus, OutgoingMail, ParticipantRole
from portal.scheduling import (
    ParticipantSpec,
    cancel_appointment,
    create_appointment,
    reschedule_appointment,
)

from .conftest import SmtpServer
from .dates import DECEMBER_TUESDAY, YEAR, german_day
from .helpers import html_part, ics_part, link_in, text_part

pytestmark = pytest.mark.smtp
BERLIN = ZoneInfo("Europe/Berlin")
# 08:30 UTC on a Tuesday in December is 09:30 in Berlin (winter time).
INVITED_FOR = datetime.combine(DECEMBER_TUESDAY, time(8, 30), UTC)
WHEN_DE = f"{german_day(DECEMBER_TUESDAY, 'Dienstag')}, 09:30 Uhr"
MOVED_TO = INVITED_FOR + timedelta(days=2, hours=4, minutes=30)  # Thursday 14:00 in Berlin


def make(advisor, starts_at, language="de", others=()):
    return create_appointment(
        advisor=advisor, starts_at=starts_at, duration_minutes=30, language=language,
        citizen=ParticipantSpec(ParticipantRole.CITIZEN, "Erika Mustermann",
                                "erika@example.org", "123D456789"),
        others=list(others))


def calendar_of(msg):
    cal = Calendar.from_ical(ics_part(msg))
    return cal, cal.walk("VEVENT")[0]


def test_invitation_reaches_the_smtp_server_complete(app, client, make_advisor, smtp_server):
    advisor = make_advisor()
    outcome = make(advisor, INVITED_FOR, others=[
        ParticipantSpec(ParticipantRole.INTERPRETER, "Ivan Dolmetscher", "ivan@example.org")])

    assert sorted(smtp_server.recipients()) == ["erika@example.org", "ivan@example.org"]
    citizen_mail = next(m for m in smtp_server.messages if m["To"] == "erika@example.org")
    assert "Jobcenter Musterstadt" in citizen_mail["Subject"]
    assert WHEN_DE in citizen_mail["Subject"]
    assert citizen_mail["From"] == "Jobcenter Musterstadt <videotermin@jobcenter.example>"
    assert citizen_mail["Message-ID"]

    text, html = text_part(citizen_mail), html_part(citizen_mail)
    for part in (text, html):
        assert WHEN_DE in part
        assert "Jobcenter Musterstadt" in part
        assert "Chrome, Firefox, Safari oder Edge" in part
        assert "Ausweis" in part  # the citizen brings an ID document
        assert "erneut" in part or "noch einmal" in part  # use the link again after a drop
        assert "http://portal.test/technik-check" in part  # test the device beforehand
    link = link_in(citizen_mail)
    assert link.startswith("http://portal.test/t/")
    assert link in html
    assert link == outcome.links[outcome.appointment.citizen.id]

    interpreter_mail = next(m for m in smtp_server.messages if m["To"] == "ivan@example.org")
    assert "Ausweis" not in text_part(interpreter_mail)
    assert link_in(interpreter_mail) != link

    # The link from the mail opens the citizen's start page (via a token-free URL).
    response = client.get(urlsplit(link).path)
    assert response.status_code == 302 and response.headers["Location"] == "/termin"
    start = client.get("/termin").get_data(as_text=True)
    assert WHEN_DE in start

    # Delivered mail is not kept with its link in the database.
    rows = db.session.query(OutgoingMail).all()
    assert all(r.status is MailStatus.SENT and r.message is None for r in rows)


def test_invitation_in_english(app, make_advisor, smtp_server):
    make(make_advisor(), INVITED_FOR, language="en")
    msg = smtp_server.messages[0]
    assert f"Tuesday, {DECEMBER_TUESDAY.day} December {YEAR}, 9:30 AM" in msg["Subject"]
    assert "Your personal link" in text_part(msg)
    assert "identity document" in html_part(msg)


def test_calendar_file_on_the_day_the_clocks_change(app, make_advisor, smtp_server):
    # 29 March 2026, 10:00 in Berlin: summer time has begun at 02:00, so this is 08:00 UTC.
    outcome = make(make_advisor(), datetime(2026, 3, 29, 8, 0, tzinfo=UTC))
    msg = smtp_server.messages[0]
    assert "Sonntag, 29. März 2026, 10:00 Uhr" in text_part(msg)
    cal, event = calendar_of(msg)
    assert str(cal["METHOD"]) == "REQUEST"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    start = event.decoded("DTSTART")
    assert start.replace(tzinfo=None) == datetime(2026, 3, 29, 10, 0)
    assert start.astimezone(UTC) == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert event.decoded("DTEND").astimezone(UTC) == datetime(2026, 3, 29, 8, 30, tzinfo=UTC)
    assert cal.walk("VTIMEZONE")[0]["TZID"] == "Europe/Berlin"
    assert int(event["SEQUENCE"]) == 0
    assert str(event["URL"]) == outcome.links[outcome.appointment.citizen.id]
    assert str(event["URL"]) in str(event["DESCRIPTION"])
    assert str(event["UID"]).startswith(outcome.appointment.uid)
    assert "ics" in next(p.get_filename() for p in msg.walk() if p.get_filename())


def test_reschedule_sends_an_update_with_a_new_link(app, client, make_advisor, smtp_server):
    outcome = make(make_advisor(), INVITED_FOR)
    first = smtp_server.messages[0]
    old_link = link_in(first)
    _, first_event = calendar_of(first)

    reschedule_appointment(outcome.appointment,
                           starts_at=MOVED_TO,
                           duration_minutes=45)
    update = smtp_server.messages[1]
    assert f"{german_day(MOVED_TO.date(), 'Donnerstag')}, 14:00 Uhr" in update["Subject"]
    assert WHEN_DE.split(", ", 1)[1] in text_part(update)  # mentions the old time
    cal, event = calendar_of(update)
    assert str(cal["METHOD"]) == "REQUEST"
    assert event["UID"] == first_event["UID"]
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART").astimezone(UTC) == MOVED_TO
    assert event.decoded("DTEND").astimezone(UTC) == MOVED_TO + timedelta(minutes=45)
    new_link = link_in(update)
    assert new_link != old_link
    assert client.get(urlsplit(old_link).path).status_code == 404
    assert client.get(urlsplit(new_link).path).status_code == 302


def test_cancel_sends_a_calendar_cancellation(app, client, make_advisor, smtp_server):
    outcome = make(make_advisor(), INVITED_FOR)
    link = link_in(smtp_server.messages[0])
    cancel_appointment(outcome.appointment)
    cancellation = smtp_server.messages[1]
    assert "Abgesagt" in cancellation["Subject"] or "abgesagt" in cancellation["Subject"]
    assert "/t/" not in text_part(cancellation)
    cal, event = calendar_of(cancellation)
    assert str(cal["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1
    assert client.get(urlsplit(link).path).status_code == 404


def test_smtp_down_loses_nothing_and_delivers_later(app, make_advisor, smtp_port, runner):
    app.config["MAIL_RETRY_BASE_SECONDS"] = 0  # retry at once in this test
    outcome = make(make_advisor(), INVITED_FOR)
    # Nothing listens on the port: the appointment exists, the mail waits.
    assert outcome.appointment.id is not None
    row = db.session.query(OutgoingMail).one()
    assert row.status is MailStatus.PENDING and row.attempts == 1
    assert "Connection refused" in row.last_error or "Errno" in row.last_error
    assert row.message  # kept until delivered

    server = SmtpServer(smtp_port).start()
    try:
        result = runner.invoke(args=["mail", "send-pending"])
        assert result.exit_code == 0, result.output
        assert "1 sent" in result.output
        assert server.recipients() == ["erika@example.org"]
        assert link_in(server.messages[0]) == outcome.links[outcome.appointment.citizen.id]
    finally:
        server.stop()
    db.session.refresh(row)
    assert row.status is MailStatus.SENT and row.attempts == 2 and row.message is None
    # Nothing is sent twice.
    assert runner.invoke(args=["mail", "send-pending"]).output.startswith("0 sent")


def test_failed_delivery_backs_off_and_gives_up(app, make_advisor):
    app.config.update(MAIL_MAX_ATTEMPTS=3, MAIL_RETRY_BASE_SECONDS=60)
    make(make_advisor(), INVITED_FOR)
    row = db.session.query(OutgoingMail).one()
    first_wait = row.next_attempt_at - datetime.now(UTC)
    assert 50 < first_wait.total_seconds() <= 60
    assert outbox.deliver() == (0, 0)  # not due yet: nothing is tried
    for attempt in (2, 3):
        row.next_attempt_at = datetime.now(UTC)
        db.session.commit()
        assert outbox.deliver() == (0, 1)
        db.session.refresh(row)
        assert row.attempts == attempt
    assert row.status is MailStatus.FAILED
