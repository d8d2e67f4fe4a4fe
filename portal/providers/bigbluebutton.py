"""BigBlueButton (API 2.4 and later: roles instead of passwords).

Every call is signed: checksum = HASH(call name + query string + shared secret), hex, with
PORTAL_BBB_CHECKSUM (sha256 default; sha1 for servers before 2.5; sha384, sha512).

prepare: `create` with a random meetingID, record=false, guestPolicy=ALWAYS_ACCEPT (the portal
admitted everyone already), logoutURL = PORTAL_BASE_URL + meetings.LOGOUT_PATH (a neutral page),
meta_endCallbackUrl = meetings.end_callback_url(row), meetingExpireIfNoUserJoinedInMinutes.
A repeat answers duplicateWarning with the same createTime, so prepare is idempotent; a
meeting that expired unjoined is simply created again (and gets a new createTime).
join_url: a signed `join` URL (role MODERATOR for the advisor, VIEWER for participants, an
opaque userID, createTime, redirect=true, fullName = the display name); it prepares first,
so the URL always fits the running meeting. end: `end`. is_running: `isMeetingRunning`.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET  # noqa: S405 (see _answer)
from urllib.parse import urlencode

from flask import current_app

from ..models import Advisor, Appointment, Participant, ProviderMeeting
from . import http
from .base import BaseProvider
from .errors import ProviderError
from .meetings import display_name, end_callback_url, logout_url, opaque_id

#: The meeting expires if nobody joins within this many minutes of its creation (prepare
#: runs at admission and before every join, so a later join creates it again).
EXPIRE_UNJOINED_MINUTES = 15

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
              "sha512": hashlib.sha512}


def checksum(call: str, query: str, secret: str, algorithm: str = "sha256") -> str:
    return ALGORITHMS[algorithm]((call + query + secret).encode("utf-8")).hexdigest()


def signed_url(call: str, params: list[tuple[str, str]]) -> str:
    config = current_app.config
    query = urlencode(params)
    sign = checksum(call, query, config["BBB_SECRET"], config["BBB_CHECKSUM"])
    return f"{config['BBB_URL']}{call}?{query}{'&' if query else ''}checksum={sign}"


def _answer(call: str, params: list[tuple[str, str]],
            accept: tuple[str, ...] = ()) -> ET.Element:
    """The <response> of a successful call (or FAILED with a messageKey in `accept`)."""
    response = http.request("bigbluebutton", "GET", signed_url(call, params))
    try:
        # The server is the agency's own, and Python's expat refuses entity expansion
        # attacks (billion laughs) and loads no external entities.
        root = ET.fromstring(response.content)  # noqa: S314
    except ET.ParseError:
        raise ProviderError("bad_answer", "bigbluebutton", f"{call}: not XML") from None
    code = root.findtext("returncode")
    key = root.findtext("messageKey") or ""
    if code == "SUCCESS" or (code == "FAILED" and key in accept):
        return root
    if code == "FAILED":
        reason = "misconfigured" if key == "checksumError" else "rejected"
        raise ProviderError(reason, "bigbluebutton", f"{call}: FAILED {key}")
    raise ProviderError("bad_answer", "bigbluebutton", f"{call}: returncode {code!r}")


class BigBlueButtonProvider(BaseProvider):
    name = "bigbluebutton"

    def _prepare(self, appointment: Appointment, row: ProviderMeeting) -> None:
        root = _answer("create", [
            ("name", current_app.config["AGENCY_NAME"]),
            ("meetingID", row.meeting_key),
            ("record", "false"),
            ("logoutURL", logout_url()),
            ("guestPolicy", "ALWAYS_ACCEPT"),
            ("meetingExpireIfNoUserJoinedInMinutes", str(EXPIRE_UNJOINED_MINUTES)),
            ("meta_endCallbackUrl", end_callback_url(row)),
        ])
        create_time = root.findtext("createTime") or ""
        if not create_time.isdigit():
            raise ProviderError("bad_answer", self.name, "create: no createTime")
        row.create_time = int(create_time)

    def join_url(self, appointment: Appointment, participant: Participant | None = None,
                 advisor: Advisor | None = None) -> str:
        # Created again if it expired unjoined; the answer's createTime goes into the URL.
        self.prepare(appointment)
        return super().join_url(appointment, participant, advisor)

    def _join_url(self, appointment: Appointment, row: ProviderMeeting,
                  participant: Participant | None, advisor: Advisor | None) -> str:
        return signed_url("join", [
            ("fullName", display_name(participant=participant, advisor=advisor)),
            ("meetingID", row.meeting_key),
            ("role", "MODERATOR" if advisor is not None else "VIEWER"),
            ("userID", opaque_id(row, participant=participant, advisor=advisor)),
            ("createTime", str(row.create_time)),
            ("redirect", "true"),
        ])

    def _end(self, appointment: Appointment, row: ProviderMeeting) -> None:
        # notFound: it ended already (or expired unjoined).
        _answer("end", [("meetingID", row.meeting_key)], accept=("notFound",))

    def _is_running(self, appointment: Appointment, row: ProviderMeeting) -> bool | None:
        root = _answer("isMeetingRunning", [("meetingID", row.meeting_key)])
        return root.findtext("running") == "true"
