"""The retention job erases every personal field once the retention period is over."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from portal.extensions import db
from portal.models import DeviceCheck, OutgoingMail, Participant, utcnow

from .journey_helpers import book, to_waiting_room


def test_personal_data_is_erased_after_the_retention_period(app, client, runner, make_advisor):
    advisor = make_advisor()
    old, paths = book(advisor, interpreter=True)
    to_waiting_room(client, paths["citizen"])  # consent and device check stored
    recent, _ = book(advisor)
    old.starts_at = utcnow() - timedelta(days=15)
    old.topic = "Bewerbungscoaching Erika"
    recent.starts_at = utcnow() - timedelta(days=13)
    db.session.commit()

    result = runner.invoke(args=["retention", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 participants erased")

    db.session.expire_all()
    for p in old.participants:
        assert (p.name, p.email, p.customer_number) == (None, None, None) and p.erased_at
    # Address, device and measurements alike: the device check is gone.
    assert db.session.query(DeviceCheck).count() == 0
    mails = db.session.query(OutgoingMail).filter_by(appointment_id=old.id).all()
    assert mails and all(m.recipient is None and m.message is None for m in mails)
    assert old.topic is None
    dump = "\n".join(db.session.connection().connection.driver_connection.iterdump())
    assert "Ivan Dolmetscher" not in dump
    assert dump.count("123D456789") == 1  # only the recent appointment's citizen

    assert db.session.get(Participant, recent.citizen.id).name == "Erika Mustermann"
    # Erased participants' links no longer open anything.
    assert client.get(paths["citizen"]).status_code == 404
    # Mail written to the local outbox (no SMTP server) goes after the period too.
    outbox = Path(app.config["OUTBOX_DIR"])
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 3
    month_ago = (utcnow() - timedelta(days=30)).timestamp()
    os.utime(files[0], (month_ago, month_ago))
    assert "1 outbox files removed" in runner.invoke(args=["retention", "purge"]).output
    assert sorted(outbox.glob("*.eml")) == files[1:]
    # Running it again changes nothing.
    assert runner.invoke(args=["retention", "purge"]).output.startswith("0 participants")

