"""Advisor accounts as operators manage them (the CLI, the demo): find and create.

Input is checked with the rules web forms use (portal.validation); a refused input raises
AccountError with a translated message.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from . import validation as v
from .extensions import db
from .models import Advisor, Role

MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """The account cannot be created as asked; the message says why."""


def find_advisor(email: str) -> Advisor | None:
    return db.session.scalar(
        select(Advisor).where(func.lower(Advisor.email) == email.strip().lower()))


def add_advisor(email: str, name: str, password: str, *, admin: bool = False) -> Advisor:
    if msg := v.check_name(name):
        raise AccountError(msg)
    if msg := v.check_email(email):
        raise AccountError(msg)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("The password must be at least 12 characters long."))
    if find_advisor(email):
        raise AccountError(_("An advisor with the e-mail address %(email)s already exists.",
                             email=email))
    advisor = Advisor(name=name.strip(), email=v.normalise_email(email).lower(),
                      role=Role.ADMIN if admin else Role.ADVISOR)
    advisor.set_password(password)
    db.session.add(advisor)
    db.session.commit()
    return advisor
