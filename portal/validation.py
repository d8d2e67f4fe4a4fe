"""Rules for what advisors and operators may enter; shared by the web forms and the CLI.

Each check returns None or a translated message, so both front ends say the same thing.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _

from .models import ParticipantRole, utcnow

NAME_MAX = 120
# Appointments are booked for the near future; this also keeps date arithmetic in range.
MIN_YEAR, MAX_YEAR = 2000, 2099
CUSTOMER_NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{0,39}$")
LANGUAGES = ("de", "en")


def check_name(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return _("Enter the name.")
    if len(value) > NAME_MAX:
        return _("The name must be %(max)d characters or fewer.", max=NAME_MAX)
    # Control characters (newlines above all) would let a name inject mail headers.
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        return _("The name must be on one line, without special control characters.")
    return None


def check_email(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return _("Enter the e-mail address.")
    if any(ch in value for ch in "\r\n"):
        return _("Enter an e-mail address in the correct format, like name@example.org.")
    try:
        # ASCII only (allow_smtputf8=False): not every mail server takes UTF-8 addresses.
        validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return _("Enter an e-mail address in the correct format, like name@example.org.")
    return None


def normalise_email(value: str) -> str:
    return validate_email(value.strip(), check_deliverability=False,
                          allow_smtputf8=False).normalized


def check_customer_number(value: str | None) -> str | None:
    value = (value or "").strip()
    if value and not CUSTOMER_NUMBER_RE.fullmatch(value):
        return _("The customer number may contain letters, digits, spaces, dots, slashes and "
                 "hyphens (up to 40 characters).")
    return None


def check_duration(value: int | None) -> str | None:
    lo = current_app.config["MIN_DURATION_MINUTES"]
    hi = current_app.config["MAX_DURATION_MINUTES"]
    if value is None:
        return _("Enter the duration in minutes.")
    if not lo <= value <= hi:
        return _("The duration must be between %(lo)d and %(hi)d minutes.", lo=lo, hi=hi)
    return None


def check_start(starts_at: datetime) -> str | None:
    if not MIN_YEAR <= starts_at.year <= MAX_YEAR:
        return _("Enter a date between %(lo)d and %(hi)d.", lo=MIN_YEAR, hi=MAX_YEAR)
    if starts_at <= utcnow():
        return _("The appointment must be in the future.")
    return None


def check_language(value: str | None) -> str | None:
    if value not in LANGUAGES:
        return _("Choose German or English.")
    return None


def parse_role(value: str) -> ParticipantRole | None:
    try:
        return ParticipantRole(value.strip().lower().replace("-", "_"))
    except ValueError:
        return None


EXTRA_ROLES = (ParticipantRole.INTERPRETER, ParticipantRole.LEGAL_REPRESENTATIVE,
               ParticipantRole.OTHER)
