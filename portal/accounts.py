"""Advisor accounts as operators manage them (the CLI, the demo): find and create; and the
advisor a session names.

Input is checked with the rules web forms use (portal.validation); a refused input raises
AccountError with a translated message.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import make_transient_to_detached

from . import validation as v
from .extensions import db
from .models import Advisor, Role
from .poll_cache import for_app as poll_cache

MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """The account cannot be created as asked; the message says why."""


# What a worker keeps of an advisor for automatic polls: what the sign-in check and the queue
# read, never the password hash or the TOTP secret (anything else is read when used).
_KEPT = ("id", "name", "email", "role", "active", "created_at", "session_generation",
         "totp_enabled_at")


def advisor_by_id(advisor_id: int, *, kept: bool = False) -> Advisor | None:
    """The advisor with this id. With `kept` (an automatic poll, which changes nothing), from
    this worker's copy when there is one: the queue's poll then reads nothing at all. The copy
    is dropped when the advisor's row changes (a sign-out everywhere, a deactivation), by
    whoever changes it (portal/poll_cache.py)."""
    cache = poll_cache() if kept else None
    if cache is not None:
        copy = cache.get_advisor(advisor_id)
        if copy is not None:
            # The copy is shared by this worker's requests and never changed: each request
            # gets its own instance of it, without SQL (other columns load when used).
            return db.session.merge(copy, load=False)
        epoch = cache.queue_epoch(advisor_id, False)
    advisor = db.session.get(Advisor, advisor_id)
    if advisor is not None and cache is not None:
        copy = Advisor(**{key: getattr(advisor, key) for key in _KEPT})
        make_transient_to_detached(copy)  # as if loaded, never in a session itself
        cache.put_advisor(advisor_id, copy, epoch)
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
