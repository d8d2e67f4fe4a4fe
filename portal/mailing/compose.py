"""Compose the e-mails participants receive, in their own language."""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_mail import Message

from ..labels import role_label
from ..models import Appointment, MailKind, Participant, ParticipantRole
from ..timeutil import long_datetime
from .calendar import build_ics


def _subject(kind: MailKind, agency: str, when: str) -> str:
    if kind is MailKind.INVITATION:
        return _("Your video appointment with %(agency)s on %(when)s", agency=agency, when=when)
    if kind is MailKind.UPDATE:
        return _("New time for your video appointment with %(agency)s: %(when)s",
                 agency=agency, when=when)
    if kind is MailKind.REMINDER:
        return _("Reminder: your video appointment with %(agency)s on %(when)s",
                 agency=agency, when=when)
    return _("Cancelled: your video appointment with %(agency)s on %(when)s",
             agency=agency, when=when)


def compose_cancellation_notice(appointment: Appointment, participant: Participant) -> Message:
    """Tell the advisor that a participant cancelled (in the portal's default language)."""
    cfg = current_app.config
    lang = cfg["BABEL_DEFAULT_LOCALE"]
    with force_locale(lang):
        when = long_datetime(appointment.starts_at, lang)
        context = dict(name=participant.name or "",
                       role=role_label(participant.role), when=when,
                       url=f"{cfg['BASE_URL']}/beratung/termine/{appointment.id}")
        subject = _("Cancelled by %(name)s: video appointment on %(when)s",
                    name=context["name"], when=when)
        text = render_template("mail/cancelled_by_participant.txt", **context)
    return Message(subject=subject, recipients=[appointment.advisor.email], body=text,
                   sender=cfg["MAIL_DEFAULT_SENDER"])


def compose(appointment: Appointment, participant: Participant, kind: MailKind,
            link: str | None, *, previous_start=None, cancel_link: str | None = None
            ) -> Message:
    """Build the complete message. `link` is required for invitations, updates and
    reminders; `cancel_link` (reminders) lets the participant cancel from the mail."""
    cfg = current_app.config
    with force_locale(participant.language):
        when = long_datetime(appointment.starts_at, participant.language)
        context = dict(
            appointment=appointment,
            participant=participant,
            kind=kind.value,
            agency=cfg["AGENCY_NAME"],
            contact=cfg["AGENCY_CONTACT"],
            when=when,
            previous_when=(long_datetime(previous_start, participant.language)
                           if previous_start else None),
            duration=appointment.duration_minutes,
            link=link,
            cancel_link=cancel_link,
            role=role_label(participant.role),
            is_citizen=participant.role is ParticipantRole.CITIZEN,
            lang=participant.language,
            check_url=cfg["BASE_URL"] + "/technik-check",
        )
        subject = _subject(kind, cfg["AGENCY_NAME"], when)
        text = render_template(f"mail/{kind.value}.txt", **context)
        html = render_template(f"mail/{kind.value}.html", subject=subject, **context)
        summary = _("Video appointment with %(agency)s", agency=cfg["AGENCY_NAME"])
        if kind is MailKind.CANCELLATION:
            description = _("This appointment has been cancelled.")
        else:
            description = _("Join with your personal link: %(link)s", link=link)

    method = "CANCEL" if kind is MailKind.CANCELLATION else "REQUEST"
    msg = Message(
        subject=subject,
        recipients=[participant.email],
        body=text,
        html=html,
        sender=cfg["MAIL_DEFAULT_SENDER"],
    )
    msg.attach(
        "termin.ics",
        f"text/calendar; charset=utf-8; method={method}",
        build_ics(appointment, participant, method=method, summary=summary,
                  description=description, link=link),
    )
    return msg
