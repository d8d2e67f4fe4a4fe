"""Command line for operators and scripts: `flask --app portal ...`."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from . import validation as v
from .accounts import AccountError, add_advisor, find_advisor
from .audit import audit
from .extensions import db
from .mailing import outbox
from .models import ParticipantRole
from .scheduling import ParticipantSpec, create_appointment
from .timeutil import NonexistentLocalTime, from_local, to_local

advisor_cli = AppGroup("advisor", help="Manage advisor accounts.")
appointment_cli = AppGroup("appointment", help="Manage appointments.")
mail_cli = AppGroup("mail", help="Deliver queued e-mail.")
retention_cli = AppGroup("retention", help="Erase personal data when its time is up.")


def fail(message: str) -> None:
    raise click.ClickException(str(message))


@advisor_cli.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The advisor's full name.")
@click.option("--admin", is_flag=True, help="May see and manage every appointment.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def advisor_add(email: str, name: str, admin: bool, password_stdin: bool) -> None:
    """Create an advisor account (the password is asked for, never given as an argument)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        advisor = add_advisor(email, name, password, admin=admin)
    except AccountError as error:
        fail(str(error))
    click.echo(f"Advisor {advisor.email} created ({advisor.role.value}).")


@advisor_cli.command("reset-2fa")
@click.argument("email")
def advisor_reset_2fa(email: str) -> None:
    """Remove an advisor's second factor (they set it up again at the next sign-in)."""
    from .auth import two_factor

    advisor = find_advisor(email)
    if advisor is None:
        fail(_("No advisor with the e-mail address %(email)s.", email=email))
    two_factor.reset(advisor)
    advisor.end_all_sessions()
    audit("advisor.2fa_reset", actor="cli", advisor=advisor)
    db.session.commit()
    click.echo(f"Second factor of {advisor.email} reset; their sessions have ended.")


@advisor_cli.command("deactivate")
@click.argument("email")
def advisor_deactivate(email: str) -> None:
    """Deactivate an advisor account; every session of it ends at once."""
    advisor = find_advisor(email)
    if advisor is None:
        fail(_("No advisor with the e-mail address %(email)s.", email=email))
    advisor.active = False
    advisor.end_all_sessions()
    audit("advisor.deactivated", actor="cli", advisor=advisor)
    db.session.commit()
    click.echo(f"Advisor {advisor.email} deactivated; their sessions have ended.")


def parse_participant(value: str) -> ParticipantSpec:
    parts = value.split(":", 2)
    if len(parts) != 3:
        fail(_("--participant must look like ROLE:NAME:EMAIL, not %(value)r.", value=value))
    role_raw, name, email = parts
    role = v.parse_role(role_raw)
    if role not in v.EXTRA_ROLES:
        fail(_("Unknown role %(role)r: use interpreter, legal_representative or other.",
               role=role_raw))
    for msg in (v.check_name(name), v.check_email(email)):
        if msg:
            fail(f"{value!r}: {msg}")
    return ParticipantSpec(role, name.strip(), v.normalise_email(email))


def parse_local_start(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(_("--at must be a date and time like 2026-12-01T09:30, not %(value)r.", value=value))
    if not v.MIN_YEAR <= parsed.year <= v.MAX_YEAR:
        fail(_("--at must lie between %(first)d and %(last)d.", first=v.MIN_YEAR, last=v.MAX_YEAR))
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    try:
        return from_local(parsed.date(), parsed.time())
    except NonexistentLocalTime:
        fail(_("%(value)s does not exist in %(zone)s (clocks go forward).", value=value,
               zone=current_app.config["TIMEZONE"]))


@appointment_cli.command("add")
@click.option("--advisor", "advisor_email", required=True, help="The advisor's e-mail address.")
@click.option("--at", "at", required=True,
              help="Start in the portal's time zone, e.g. 2026-12-01T09:30.")
@click.option("--duration", type=int, default=30, show_default=True, help="Minutes.")
@click.option("--citizen-name", required=True)
@click.option("--citizen-email", required=True)
@click.option("--customer-number")
@click.option("--lang", type=click.Choice(v.LANGUAGES), default="de", show_default=True)
@click.option("--topic", help="Topic or reference (optional).")
@click.option("--participant", "participants", multiple=True, metavar="ROLE:NAME:EMAIL",
              help="An extra participant; repeat for more.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def appointment_add(advisor_email, at, duration, citizen_name, citizen_email, customer_number,
                    lang, topic, participants, as_json) -> None:
    """Create an appointment and send the invitations."""
    advisor = find_advisor(advisor_email)
    if advisor is None or not advisor.active:
        fail(_("No active advisor with the e-mail address %(email)s.", email=advisor_email))
    starts_at = parse_local_start(at)
    for msg in (v.check_start(starts_at), v.check_duration(duration),
                v.check_name(citizen_name), v.check_email(citizen_email),
                v.check_customer_number(customer_number)):
        if msg:
            fail(msg)
    if topic and len(topic) > 200:
        fail(_("The topic must be 200 characters or fewer."))
    others = [parse_participant(p) for p in participants]
    citizen = ParticipantSpec(ParticipantRole.CITIZEN, citizen_name.strip(),
                              v.normalise_email(citizen_email),
                              (customer_number or "").strip() or None)
    outcome = create_appointment(
        advisor=advisor, starts_at=starts_at, duration_minutes=duration, language=lang,
        citizen=citizen, others=others, topic=topic, actor="cli")
    appt = outcome.appointment
    if as_json:
        click.echo(json.dumps({
            "appointment_id": appt.id,
            "starts_at": to_local(appt.starts_at).isoformat(),
            "participants": [
                {"role": p.role.value, "name": p.name, "email": p.email,
                 "link": outcome.links[p.id]}
                for p in appt.participants
            ],
        }, ensure_ascii=False))
    else:
        click.echo(f"Appointment {appt.id} on {to_local(appt.starts_at):%Y-%m-%d %H:%M}:")
        for p in appt.participants:
            click.echo(f"  {p.role.value:22} {p.name} <{p.email}>  {outcome.links[p.id]}")


@mail_cli.command("send-pending")
def mail_send_pending() -> None:
    """Queue due reminders, then deliver queued mail that is due (run it every minute)."""
    from .mailing.reminders import enqueue_due

    reminders = enqueue_due()
    sent, failed = outbox.deliver()
    click.echo(f"{sent} sent, {failed} not sent (retried later with back-off); "
               f"{reminders} reminders queued.")


@click.command("netcheck")
@click.argument("url")
@click.option("--seconds", type=click.FloatRange(1, 60), default=10, show_default=True,
              help="Longest time for each direction.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def netcheck_command(url: str, seconds: float, as_json: bool) -> None:
    """Measure download, upload and ping to a portal (speedtest-cli's engine, no internet)."""
    import speedtest

    from .netcheck.speedtest_engine import measure

    try:
        result = measure(url, seconds=seconds)
    except (speedtest.SpeedtestException, OSError) as exc:
        fail(f"Could not measure {url}: {exc}")
    if as_json:
        click.echo(json.dumps({"download_bps": round(result.download_bps),
                               "upload_bps": round(result.upload_bps),
                               "ping_ms": round(result.ping_ms, 1)}))
    else:
        click.echo(f"Download: {result.download_bps / 1e6:.2f} Mbit/s")
        click.echo(f"Upload:   {result.upload_bps / 1e6:.2f} Mbit/s")
        click.echo(f"Ping:     {result.ping_ms:.1f} ms")


@retention_cli.command("purge")
def retention_purge() -> None:
    """Erase personal data of appointments that ended RETENTION_DAYS ago (run daily)."""
    from .call.limits import purge_stale_signals
    from .retention import purge, purge_outbox_files

    erased = purge()
    removed = purge_outbox_files()
    # Joins run this too; a day without any call would otherwise leave old signals lying.
    signals = purge_stale_signals()
    db.session.commit()
    click.echo(f"{erased} participants erased "
               f"(appointments older than {current_app.config['RETENTION_DAYS']} days), "
               f"{removed} outbox files removed, {signals} stale call signals deleted.")


def register_cli(app: Flask) -> None:
    from .demo import demo_command

    for group in (advisor_cli, appointment_cli, mail_cli, retention_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    app.cli.add_command(netcheck_command)
