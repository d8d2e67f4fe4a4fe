"""iCalendar (RFC 5545/5546) files for invitations, updates and cancellations."""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import urlsplit

from flask import current_app
from icalendar import Calendar, Event, vCalAddress, vText

from ..models import Appointment, Participant, utcnow
from ..timeutil import to_local


def calendar_uid(appointment: Appointment) -> str:
    # Stable for the life of the appointment, so updates and cancellations replace the entry.
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "portal.invalid"
    return f"{appointment.uid}@{host}"


def build_ics(appointment: Appointment, participant: Participant, *, method: str,
              summary: str, description: str, link: str | None) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Videotermin-Portal//DE")
    cal.add("version", "2.0")
    cal.add("method", method)

    event = Event()
    event.add("uid", calendar_uid(appointment))
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", utcnow())
    # Local time with TZID (and a VTIMEZONE below) so calendars show the agency's wall clock.
    event.add("dtstart", to_local(appointment.starts_at))
    event.add("dtend", to_local(appointment.ends_at))
    event.add("summary", summary)
    event.add("description", description)
    if link:
        event.add("url", link)
        event.add("location", link)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")

    sender_name, sender_addr = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    organizer = vCalAddress(f"mailto:{sender_addr}")
    organizer.params["cn"] = vText(current_app.config["AGENCY_NAME"])
    event.add("organizer", organizer)
    if participant.email:
        attendee = vCalAddress(f"mailto:{participant.email}")
        if participant.name:
            attendee.params["cn"] = vText(participant.name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["rsvp"] = vText("FALSE")
        event.add("attendee", attendee)

    cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
