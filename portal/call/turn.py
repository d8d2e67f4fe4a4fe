"""Short-lived TURN credentials (the TURN REST API scheme that coturn's `use-auth-secret`
checks), for the built-in call and for the device check's media-path step.

The username is "<unix expiry>:<opaque id>" and the password base64(HMAC-SHA1(secret,
username)): the TURN server computes the same from its `static-auth-secret` and refuses
the credentials after the expiry. The id is random, so nothing personal reaches the TURN
server or its logs. Two places hand them out:

- the call's join (portal/call/routes.py), to the appointment's admitted participants and
  its advisor, valid for TURN_TTL_SECONDS;
- `POST /termin/technik/relais` below, to a participant whose link is valid and who has
  consented (the device check's rule), valid for a few minutes only: the check connects two
  peer connections in the page through the relay and needs them for seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from flask import abort, current_app, jsonify

from ..access import may_check_devices, require_participant
from ..extensions import limiter
from . import bp
from .limits import caller_key

# The device check's credentials: long enough for a check started a little after the page
# loaded, short enough to be useless to anyone who copies them.
CHECK_TTL_SECONDS = 600


def credentials(secret: str, ttl_seconds: int, *, now: float | None = None,
                opaque_id: str | None = None) -> tuple[str, str]:
    """(username, credential), valid for ttl_seconds from now."""
    expiry = int(time.time() if now is None else now) + int(ttl_seconds)
    username = f"{expiry}:{opaque_id or secrets.token_hex(8)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def relay_server(ttl_seconds: int) -> dict:
    """The configured TURN relay as an RTCIceServer entry with fresh credentials."""
    config = current_app.config
    username, credential = credentials(config["TURN_SECRET"], ttl_seconds)
    return {"urls": list(config["TURN_URLS"]), "username": username, "credential": credential}


def ice_servers() -> list[dict]:
    """The configured ICE servers (STUN and any fixed ones) and, when a TURN relay is
    configured, an entry with fresh credentials for this caller."""
    config = current_app.config
    servers = list(config["ICE_SERVERS"])
    if config.get("TURN_URLS"):
        servers.append(relay_server(config["TURN_TTL_SECONDS"]))
    return servers


# ---- the device check's media-path step ---------------------------------------------------

# Counted per participant like the call's join (a check started again, a second tab), in a
# bucket of its own.
check_limit = limiter.limit(lambda: current_app.config["CALL_JOIN_RATE_LIMIT"],
                            key_func=caller_key)


@bp.post("/termin/technik/relais")
@check_limit
def device_check_relay():
    """Relay credentials for the device check's media-path step (`relayPath` in
    static/js/check/network.js). A POST with the CSRF token: the answer is a credential and
    must come only to the page itself."""
    participant = require_participant()
    if not may_check_devices(participant) or not current_app.config.get("TURN_URLS"):
        abort(404)
    ttl = min(int(current_app.config["TURN_TTL_SECONDS"]), CHECK_TTL_SECONDS)
    response = jsonify(ice_servers=[relay_server(ttl)], ttl_seconds=ttl)
    response.headers["Cache-Control"] = "no-store"
    return response
