"""Short-lived TURN credentials for the built-in call (the TURN REST API scheme that coturn's
`use-auth-secret` checks).

The username is "<unix expiry>:<opaque id>" and the password base64(HMAC-SHA1(secret,
username)): the TURN server computes the same from its `static-auth-secret` and refuses
the credentials after the expiry. The id is random, so nothing personal reaches the TURN
server or its logs. Only the call's join endpoint hands these out, and it answers only the
appointment's admitted participants and its advisor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from flask import current_app


def credentials(secret: str, ttl_seconds: int, *, now: float | None = None,
                opaque_id: str | None = None) -> tuple[str, str]:
    """(username, credential), valid for ttl_seconds from now."""
    expiry = int(time.time() if now is None else now) + int(ttl_seconds)
    username = f"{expiry}:{opaque_id or secrets.token_hex(8)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers() -> list[dict]:
    """The configured ICE servers (STUN and any fixed ones) and, when a TURN relay is
    configured, an entry with fresh credentials for this caller."""
    config = current_app.config
    servers = list(config["ICE_SERVERS"])
    if config.get("TURN_URLS"):
        username, credential = credentials(config["TURN_SECRET"], config["TURN_TTL_SECONDS"])
        servers.append({"urls": list(config["TURN_URLS"]), "username": username,
                        "credential": credential})
    return servers
