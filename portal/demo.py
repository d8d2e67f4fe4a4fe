"""`flask --app portal demo`: a demo advisor and an appointment to try the portal locally.

Idempotent: it reuses the demo advisor and a still-usable demo appointment. Links exist only
as hashes, so each run issues fresh links (earlier demo links stop working) and a new password.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import click
from flask import current_app
from sqlalchemy import select

from .access import link_is_usable
from .accounts import add_advisor, find_advisor
from .extensions import db
from .models import Appointment, AppointmentStatus, ParticipantRole, utcnow
from .scheduling import ParticipantSpec, create_appointment, issue_link
from .timeutil import long_datetime

DEMO_ADVISOR = "demo.advisor@example.org"
DEMO_TOPIC = "Demo"


@click.command("demo")
def demo_command() -> None:
    """Create (or refresh) a demo advisor and appointment and print how to use them."""
    password = secrets.token_urlsafe(12)
    advisor = find_advisor(DEMO_ADVISOR)
    if advisor is None:
        advisor = add_advisor(DEMO_ADVISOR, "Demo-Beraterin", password)
    else:
        advisor.set_password(password)
        advisor.active = True

    appointment = db.session.scalar(
        select(Appointment).where(Appointment.advisor_id == advisor.id,
                                  Appointment.topic == DEMO_TOPIC,
                                  Appointment.status == AppointmentStatus.SCHEDULED)
        .order_by(Appointment.starts_at.desc()))
    if appointment is not None and appointment.citizen and link_is_usable(appointment.citizen):
        links = {p.id: issue_link(p) for p in appointment.participants}
        db.session.commit()
    else:
        # Starts soon, so the whole journey can be tried right away.
        start = (utcnow() + timedelta(minutes=15)).replace(second=0, microsecond=0)
        outcome = create_appointment(
            advisor=advisor, starts_at=start, duration_minutes=60, language="de",
            citizen=ParticipantSpec(ParticipantRole.CITIZEN, "Erika Mustermann",
                                    "erika.mustermann@example.org", "123D456789"),
            others=[ParticipantSpec(ParticipantRole.INTERPRETER, "Ivan Dolmetscher",
                                    "dolmetscher@example.org")],
            topic=DEMO_TOPIC, actor="cli")
        appointment, links = outcome.appointment, outcome.links
    db.session.commit()

    base = current_app.config["BASE_URL"]
    click.echo("Demo ready.")
    click.echo(f"  Advisor login:  {base}/anmelden")
    click.echo(f"    e-mail:       {DEMO_ADVISOR}")
    click.echo(f"    password:     {password}")
    click.echo(f"  Appointment:    {long_datetime(appointment.starts_at, 'de')}")
    for p in appointment.participants:
        click.echo(f"  Link ({p.role.value}): {links[p.id]}")
