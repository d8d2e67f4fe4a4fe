"""Personal link tokens: 256 bits from the OS's CSPRNG; only a SHA-256 hash is stored."""

from __future__ import annotations

import hashlib
import re
import secrets

from flask import current_app

TOKEN_BYTES = 32
# token_urlsafe(32) always gives 43 characters of the URL-safe base64 alphabet.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> tuple[str, str]:
    """Return (token, hash). Hand the token out once; keep only the hash."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def is_well_formed(token: str) -> bool:
    return bool(TOKEN_RE.fullmatch(token))


def personal_link(token: str) -> str:
    # Built from the configured base URL, never from the request's Host header.
    return f"{current_app.config['BASE_URL']}/t/{token}"
