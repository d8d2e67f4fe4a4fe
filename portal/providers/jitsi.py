"""Jitsi Meet with token authentication (prosody's token_verification).

One room per appointment, named by 160 random bits. Everyone gets a JWT of their own, passed
as https://JITSI/ROOM?jwt=TOKEN: iss (PORTAL_JITSI_ISSUER, default the app id), aud
(PORTAL_JITSI_AUDIENCE), sub (PORTAL_JITSI_SUBJECT, default the Jitsi host; the AppID for 8x8
JaaS), room, iat, nbf and exp (only from the waiting room's opening to the link's end),
context.user {id: opaque, name: display name, moderator: "true"/"false", affiliation:
"owner"/"member"} (strings only: a null breaks prosody) and context.features.lobby_bypass
(true: the portal admitted them already). HS256 with PORTAL_JITSI_APP_SECRET, or RS256 with
PORTAL_JITSI_PRIVATE_KEY_FILE and a `kid` header (PORTAL_JITSI_KID).

Jitsi has no server API to create or end a room: prepare only names it, a room exists while
someone is in it, and the tokens stop working at exp. docs/providers.md lists the prosody
modules a self-hoster enables (moderator from the token, lobby bypass).
"""

from __future__ import annotations

import functools
import time
from urllib.parse import quote, urlsplit

import jwt
from flask import current_app

from ..models import Advisor, Appointment, Participant, ProviderMeeting
from .base import BaseProvider
from .meetings import display_name, join_window, opaque_id

CLOCK_SKEW_SECONDS = 60  # nbf a little earlier: the Jitsi host's clock may run ahead


@functools.lru_cache(maxsize=4)
def _private_key(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def token_claims(appointment: Appointment, row: ProviderMeeting, *,
                 participant: Participant | None = None, advisor: Advisor | None = None,
                 now: float | None = None) -> dict:
    config = current_app.config
    opens, closes = join_window(appointment)
    now = int(time.time() if now is None else now)
    moderator = advisor is not None
    return {
        "iss": config.get("JITSI_ISSUER") or config["JITSI_APP_ID"],
        "aud": config["JITSI_AUDIENCE"],
        "sub": config.get("JITSI_SUBJECT") or urlsplit(config["JITSI_URL"]).hostname,
        "room": row.meeting_key,
        "iat": now,
        "nbf": min(int(opens.timestamp()), now) - CLOCK_SKEW_SECONDS,
        "exp": int(closes.timestamp()),
        "context": {
            "user": {
                "id": opaque_id(row, participant=participant, advisor=advisor),
                "name": display_name(participant=participant, advisor=advisor),
                "moderator": "true" if moderator else "false",
                "affiliation": "owner" if moderator else "member",
            },
            "features": {"lobby_bypass": True},
        },
    }


def encode(claims: dict) -> str:
    config = current_app.config
    if config.get("JITSI_PRIVATE_KEY_FILE"):
        return jwt.encode(claims, _private_key(config["JITSI_PRIVATE_KEY_FILE"]),
                          algorithm="RS256", headers={"kid": config["JITSI_KID"]})
    return jwt.encode(claims, config["JITSI_APP_SECRET"], algorithm="HS256")


class JitsiProvider(BaseProvider):
    name = "jitsi"

    def _join_url(self, appointment: Appointment, row: ProviderMeeting,
                  participant: Participant | None, advisor: Advisor | None) -> str:
        token = encode(token_claims(appointment, row, participant=participant,
                                    advisor=advisor))
        return f"{current_app.config['JITSI_URL']}/{row.meeting_key}?jwt={quote(token)}"
