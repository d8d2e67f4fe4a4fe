"""Time-based one-time passwords (RFC 6238, pyotp) and one-time recovery codes.

The TOTP secret is stored in the database as is (it must be readable to verify a code):
database backups must be protected as well as the database. Recovery codes are stored as
SHA-256 hashes only; they are random (140 bits), so a plain hash suffices.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp
import segno
from flask import current_app
from sqlalchemy import or_, update

from ..extensions import db
from ..models import Advisor, RecoveryCode, utcnow

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_RECOVERY_LENGTH = 28  # 28 * log2(31) ≈ 139 bits
STEP_SECONDS = 30


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, as RFC 4226 recommends


def provisioning_uri(advisor: Advisor) -> str:
    return pyotp.TOTP(advisor.totp_secret).provisioning_uri(
        name=advisor.email, issuer_name=current_app.config["AGENCY_NAME"])


def qr_code_data_uri(uri: str) -> str:
    """An SVG image as a data: URI (CSP allows img-src data:, and an image has no styles)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4)


def grouped_secret(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _digits(code: str) -> str:
    return re.sub(r"\s", "", code or "")


def totp_matches(secret: str, code: str) -> int | None:
    """The time step (one before or after now allowed, for clock drift) the code belongs to."""
    code = _digits(code)
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // STEP_SECONDS
    for step in (now, now - 1, now + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def use_totp(advisor: Advisor, code: str) -> bool:
    """True once per time step: the last used step is stored with a conditional update,
    so the same code can't be replayed, not even by two instances at the same moment."""
    step = totp_matches(advisor.totp_secret, code) if advisor.totp_secret else None
    if step is None:
        return False
    result = db.session.execute(
        update(Advisor).where(Advisor.id == advisor.id, or_(
            Advisor.totp_last_step.is_(None), Advisor.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    advisor.totp_last_step = step
    return True


def _hash(code: str) -> str:
    normalised = re.sub(r"[^a-z0-9]", "", (code or "").lower())
    return hashlib.sha256(normalised.encode()).hexdigest()


def new_recovery_codes(advisor: Advisor) -> list[str]:
    """Replaces any earlier codes; the plain codes are shown once and never stored."""
    advisor.recovery_codes.clear()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
        advisor.recovery_codes.append(RecoveryCode(code_hash=_hash(raw)))
    return codes


def use_recovery_code(advisor: Advisor, code: str) -> bool:
    result = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.advisor_id == advisor.id,
                                   RecoveryCode.code_hash == _hash(code),
                                   RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def enable(advisor: Advisor, code: str) -> list[str] | None:
    """Confirms enrolment with a code from the app; returns the new recovery codes."""
    if not use_totp(advisor, code):
        return None
    advisor.totp_enabled_at = utcnow()
    return new_recovery_codes(advisor)


def reset(advisor: Advisor) -> None:
    advisor.totp_secret = None
    advisor.totp_enabled_at = None
    advisor.totp_last_step = None
    advisor.recovery_codes.clear()
