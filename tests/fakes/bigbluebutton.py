"""A fake BigBlueButton server (API 2.4+, docs/docs/development/api.md upstream).

It checks every call's checksum the way bbb-web does: the query string without its
`checksum` parameter, call name + query + shared secret, hashed with the algorithm the
checksum's length names (40/64/96/128 hex: SHA-1/256/384/512) if that one is allowed. It
answers the documented XML: SUCCESS, or FAILED with messageKey checksumError,
invalidMeetingIdentifier, notFound, mismatchCreateTimeParam, …; a repeated create answers
SUCCESS with messageKey duplicateWarning and the same createTime. join with redirect=true
answers 302 to a client page that shows who joined in which role."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx

from .server import FakeService, page

API = "/bigbluebutton/api/"
BY_LENGTH = {40: ("sha1", hashlib.sha1), 64: ("sha256", hashlib.sha256),
             96: ("sha384", hashlib.sha384), 128: ("sha512", hashlib.sha512)}


@dataclass
class Meeting:
    meeting_id: str
    name: str
    create_time: int
    params: dict
    ended: bool = False
    joins: list[dict] = field(default_factory=list)  # fullName, role, userID


def xml(returncode: str, **fields) -> str:
    root = ET.Element("response")
    ET.SubElement(root, "returncode").text = returncode
    for key, value in fields.items():
        ET.SubElement(root, key).text = str(value)
    return ET.tostring(root, encoding="unicode")


def failed(key: str, message: str) -> tuple:
    return 200, "text/xml", xml("FAILED", messageKey=key, message=message), {}


def strip_checksum(raw_query: str) -> tuple[str, str | None]:
    """bbb-web's way: the raw query string with its checksum parameter cut out."""
    match = re.search(r"(^|&)checksum=([^&]*)", raw_query)
    if not match:
        return raw_query, None
    start, end = match.span()
    rest = raw_query[:start] + raw_query[end:]
    return rest.lstrip("&") if match.group(1) == "" else rest, match.group(2)


class FakeBigBlueButton(FakeService):
    def __init__(self, ca, secret: str = "fake-bbb-shared-secret-8f3a",
                 algorithms=("sha1", "sha256", "sha384", "sha512")):
        super().__init__(ca)
        self.secret = secret
        self.algorithms = set(algorithms)
        self.meetings: dict[str, Meeting] = {}
        self.sessions: dict[str, tuple[str, dict]] = {}
        self.calls: list[tuple[str, dict, str]] = []  # (call, params, algorithm) accepted
        self._fail_next: dict[str, tuple[str, str]] = {}

    @property
    def api_url(self) -> str:
        return self.base_url + API

    def portal_config(self) -> dict:
        return {"BBB_URL": self.api_url, "BBB_SECRET": self.secret,
                "PROVIDER_CA_FILE": str(self.ca.ca_file)}

    def fail_next(self, call: str, key: str, message: str = "Injected failure."):
        """The next `call` answers FAILED with this messageKey."""
        self._fail_next[call] = (key, message)

    def fire_end_callback(self, meeting_id: str) -> httpx.Response:
        """What BigBlueButton does when a meeting ends: GET meta_endCallbackUrl with
        meetingID and recordingmarks added."""
        url = self.meetings[meeting_id].params["meta_endCallbackUrl"]
        separator = "&" if "?" in url else "?"
        return httpx.get(f"{url}{separator}meetingID={meeting_id}&recordingmarks=false",
                         verify=False, timeout=5)  # noqa: S501 (the portal under test)

    def handle(self, method, path, raw_query, params, headers, body):
        if path.startswith("/html5client/join"):
            return self._client_page(params)
        if not path.startswith(API):
            return 404, "text/plain", "not found", {}
        call = path[len(API):]
        if call == "":
            return 200, "text/xml", xml("SUCCESS", version="2.0", apiVersion="3.0"), {}
        if method == "POST" and body:  # parameters may come as a form body
            raw_query = body.decode()
            params = dict(parse_qsl(raw_query, keep_blank_values=True))
        query, given = strip_checksum(raw_query)
        params.pop("checksum", None)
        algorithm = BY_LENGTH.get(len(given or ""))
        if given is None or algorithm is None or algorithm[0] not in self.algorithms or \
                not hmac.compare_digest(
                    algorithm[1]((call + query + self.secret).encode()).hexdigest(), given):
            return failed("checksumError", "You did not pass the checksum security check")
        if call in self._fail_next:
            return failed(*self._fail_next.pop(call))
        self.calls.append((call, params, algorithm[0]))
        handler = {"create": self._create, "join": self._join, "end": self._end,
                   "isMeetingRunning": self._is_running}.get(call)
        if handler is None:
            return failed("unsupportedRequest", "This request is not supported.")
        return handler(params)

    def _meeting_id(self, params) -> str | None:
        meeting_id = params.get("meetingID", "")
        if not 2 <= len(meeting_id) <= 256 or "," in meeting_id:
            return None
        return meeting_id

    def _create(self, params):
        meeting_id = self._meeting_id(params)
        if meeting_id is None:
            return failed("invalidMeetingIdentifier",
                          "Meeting id must be between 2 and 256 characters, without commas")
        if not params.get("name"):
            return failed("missingParamName", "You must specify a name for the meeting.")
        for flag in ("record",):
            if flag in params and params[flag] not in ("true", "false"):
                return failed("invalidParam", f"{flag} must be true or false")
        meeting = self.meetings.get(meeting_id)
        duplicate = meeting is not None and not meeting.ended
        if not duplicate:
            meeting = Meeting(meeting_id, params["name"], int(time.time() * 1000), params)
            self.meetings[meeting_id] = meeting
        extra = {"messageKey": "duplicateWarning",
                 "message": "This conference was already in existence and may currently be "
                            "in progress."} if duplicate else {"messageKey": "", "message": ""}
        return 200, "text/xml", xml(
            "SUCCESS", meetingID=meeting_id, internalMeetingID=f"{meeting_id}-int",
            parentMeetingID="bbb-none", createTime=meeting.create_time,
            hasUserJoined=str(bool(meeting.joins)).lower(), duration=0,
            hasBeenForciblyEnded="false", **extra), {}

    def _join(self, params):
        meeting = self.meetings.get(params.get("meetingID", ""))
        if meeting is None or meeting.ended:
            return failed("invalidMeetingIdentifier",
                          "The meeting ID that you supplied did not match any existing meetings")
        if not params.get("fullName"):
            return failed("missingParamFullName", "You must specify a name for the attendee "
                          "who will be joining the meeting.")
        role = params.get("role", "").upper()
        if role not in ("MODERATOR", "VIEWER"):
            return failed("invalidRole", "Role must be MODERATOR or VIEWER (passwords are "
                          "not used by the portal).")
        if "createTime" in params and params["createTime"] != str(meeting.create_time):
            return failed("mismatchCreateTimeParam", "The createTime parameter submitted "
                          "mismatches with the current meeting.")
        token = secrets.token_hex(8)
        joined = {"fullName": params["fullName"], "role": role,
                  "userID": params.get("userID", "")}
        self.sessions[token] = (meeting.meeting_id, joined)
        meeting.joins.append(joined)
        location = f"{self.base_url}/html5client/join?sessionToken={token}"
        if params.get("redirect", "true") == "true":
            return 302, "text/html", "", {"Location": location}
        return 200, "text/xml", xml("SUCCESS", messageKey="successfullyJoined",
                                    meeting_id=meeting.meeting_id, session_token=token,
                                    url=location), {}

    def _client_page(self, params):
        session = self.sessions.get(params.get("sessionToken", ""))
        if session is None:
            return 404, "text/html", page("Invalid session"), {}
        meeting_id, joined = session
        return 200, "text/html", page("BigBlueButton", meeting=meeting_id,
                                      name=joined["fullName"], role=joined["role"],
                                      user=joined["userID"]), {}

    def _end(self, params):
        meeting = self.meetings.get(params.get("meetingID", ""))
        if meeting is None or meeting.ended:
            return failed("notFound", "We could not find a meeting with that meeting ID - "
                          "perhaps the meeting is not yet running?")
        meeting.ended = True
        return 200, "text/xml", xml(
            "SUCCESS", messageKey="sentEndMeetingRequest",
            message="A request to end the meeting was sent."), {}

    def _is_running(self, params):
        meeting = self.meetings.get(params.get("meetingID", ""))
        running = meeting is not None and not meeting.ended and bool(meeting.joins)
        return 200, "text/xml", xml("SUCCESS", running=str(running).lower()), {}
