"""Webex Instant Connect.

prepare asks the meeting broker (`POST PORTAL_WEBEX_BROKER_URL`, Bearer PORTAL_WEBEX_TOKEN)
for links: aud = Instant Connect's audience, jwt.sub = the meeting's random key (the same
meeting for every request), jwt.nbf/exp, numHost = 1, numGuest = the appointment's
participants, verticalType = PORTAL_WEBEX_VERTICAL_TYPE. The answer's ciphers are stored with
their expiry (LINK_MINUTES from the request) and asked for again when they have expired or a
participant has none: links are requested shortly before use. The host opens
INSTANT/VERTICAL/v1/login?int=jose&v=1&data=CIPHER, a guest INSTANT/VERTICAL/v1/talk?….
The portal sends Webex no personal data. Instant Connect has no call to end a meeting: end
drops the stored links.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from flask import current_app
from flask_babel import gettext as _

from ..models import Advisor, Appointment, Participant, ProviderMeeting, utcnow
from . import http
from .base import BaseProvider
from .errors import ProviderError

AUDIENCE = "a4d886b0-979f-4e2c-a958-3e8c14605e51"  # Instant Connect's, fixed by Webex
LINK_MINUTES = 15  # how long a requested link can be opened
RENEW_MARGIN = timedelta(minutes=2)  # a link closer than this to its expiry is renewed
MAX_GUESTS = 25


def _request_links(appointment: Appointment, row: ProviderMeeting) -> None:
    config = current_app.config
    now = int(time.time())
    guests = [p.id for p in appointment.participants][:MAX_GUESTS]
    response = http.request("webex", "POST", config["WEBEX_BROKER_URL"], json={
        "aud": AUDIENCE,
        "jwt": {"sub": row.meeting_key, "nbf": now - 60, "exp": now + LINK_MINUTES * 60},
        "numHost": 1,
        "numGuest": max(len(guests), 1),
        "provideShortUrls": False,
        "verticalType": config["WEBEX_VERTICAL_TYPE"],
    }, headers={"Authorization": f"Bearer {config['WEBEX_TOKEN']}"})
    try:
        answer = response.json()
        host = answer["host"][0]["cipher"]
        ciphers = [entry["cipher"] for entry in answer["guest"]]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderError("bad_answer", "webex", "joseencrypt: no ciphers") from None
    if not all(isinstance(c, str) and c for c in [host, *ciphers]) or \
            len(ciphers) < len(guests):
        raise ProviderError("bad_answer", "webex", "joseencrypt: too few ciphers")
    row.host_secret = host
    row.guest_secrets = json.dumps({str(pid): c for pid, c in zip(guests, ciphers,
                                                                    strict=False)})
    row.secrets_expire_at = datetime.fromtimestamp(now, UTC) + timedelta(minutes=LINK_MINUTES)


def _fresh(row: ProviderMeeting, participant: Participant | None) -> bool:
    if not row.host_secret or row.secrets_expire_at is None or \
            row.secrets_expire_at - RENEW_MARGIN <= utcnow():
        return False
    return participant is None or str(participant.id) in json.loads(row.guest_secrets or "{}")


class WebexProvider(BaseProvider):
    name = "webex"

    @property
    def receives(self) -> str:
        return _("no personal data from the portal; Webex may ask you for a name")

    def _prepare(self, appointment: Appointment, row: ProviderMeeting) -> None:
        if not _fresh(row, None):
            _request_links(appointment, row)

    def _join_url(self, appointment: Appointment, row: ProviderMeeting,
                  participant: Participant | None, advisor: Advisor | None) -> str:
        if not _fresh(row, participant):
            _request_links(appointment, row)
        if advisor is not None:
            page, cipher = "login", row.host_secret
        else:
            page, cipher = "talk", json.loads(row.guest_secrets or "{}").get(str(participant.id))
            if cipher is None:  # more than MAX_GUESTS participants
                raise ProviderError("rejected", self.name, "no guest link for participant")
        config = current_app.config
        query = urlencode({"int": "jose", "v": "1", "data": cipher})
        return f"{config['WEBEX_INSTANT_URL']}/{config['WEBEX_VERTICAL_TYPE']}/v1/{page}?{query}"
