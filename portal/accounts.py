"""Advisor accounts as operators manage them (the CLI, the demo): find and create; and the
advisor a session names.

Input is checked with the rules web forms use (portal.validation); a refused input raises
AccountError with a translated message.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_login import UserMixin
from sqlalchemy import func, select

from . import validation as v
from .extensions import db
from .models import Advisor, Role
from .poll_cache import for_app as poll_cache

MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """The account cannot be created as asked; the message says why."""


# What a worker keeps of an advisor for the queue's automatic poll: what the sign-in check and
# the queue read, never the password hash or the TOTP secret.
_KEPT = ("id", "name", "email", "role", "active", "session_generation", "totp_enabled_at")


class KeptAdvisor(UserMixin):
    """The signed-in advisor of a queue poll, from this worker's copy: attaching an ORM
    instance to the session costs a tenth of such a poll. The rules are Advisor's own (the
    same functions, applied to the kept values); anything not kept is read from the database
    on first use in the request."""

    get_id = Advisor.get_id
    is_active = Advisor.is_active
    is_admin = Advisor.is_admin
    has_two_factor = Advisor.has_two_factor

    def __init__(self, values: dict):
        self.__dict__.update(values)

    def __getattr__(self, name: str):
        advisor = self.__dict__.get("_advisor")
        if advisor is None:
            advisor = self.__dict__["_advisor"] = db.session.get(Advisor, self.__dict__["id"])
        return getattr(advisor, name)


def advisor_by_id(advisor_id: int, *, kept: bool = False) -> Advisor | KeptAdvisor | None:
    """The advisor with this id. With `kept` (the queue's automatic poll, which changes
    nothing), from this worker's copy when there is one, so such a poll reads nothing at all.
    The copy is dropped when the advisor's row changes (a sign-out everywhere, a deactivation),
    by whoever changes it (portal/poll_cache.py)."""
    cache = poll_cache() if kept else None
    if cache is not None:
        values = cache.get_advisor(advisor_id)
        if values is not None:
            return KeptAdvisor(values)
        epoch = cache.queue_epoch(advisor_id, False)
    advisor = db.session.get(Advisor, advisor_id)
    if advisor is not None and cache is not None:
        cache.put_advisor(advisor_id, {key: getattr(advisor, key) for key in _KEPT}, epoch)
    return advisor


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
