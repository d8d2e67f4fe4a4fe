"""A fake of Webex Instant Connect (developer.webex.com, instant-connect-meeting-links):

- the meeting broker's POST /api/v2/joseencrypt: Bearer token required (401 otherwise), a
  JSON body with aud (Instant Connect's audience), jwt.sub (the meeting), jwt.exp (and
  optional jwt.nbf) as unix times, numHost/numGuest 0–25, verticalType gen|hc,
  provideShortUrls; answers {"host": [{"cipher"}…], "guest": [{"cipher"}…]} (400 with a
  message for a bad body);
- the instant site's /<vertical>/v1/login (host) and /<vertical>/v1/talk (guest) pages with
  int=jose&v=1&data=CIPHER, showing which cipher was used: host or guest, for which meeting
  (an expired, unknown or wrong-page cipher shows an error)."""

from __future__ import annotations

import json
import secrets
import time

from .server import FakeService, as_json, page

AUDIENCE = "a4d886b0-979f-4e2c-a958-3e8c14605e51"
BROKER_PATH = "/api/v2/joseencrypt"


class FakeWebex(FakeService):
    def __init__(self, ca, token: str = "fake-webex-bot-token-2c1d"):
        super().__init__(ca)
        self.token = token
        self.ciphers: dict[str, dict] = {}  # cipher -> sub, role, exp, vertical
        self.bodies: list[dict] = []  # accepted joseencrypt bodies
        self.opened: list[dict] = []  # pages opened with a valid cipher

    @property
    def broker_url(self) -> str:
        return self.base_url + BROKER_PATH

    @property
    def instant_url(self) -> str:
        return self.base_url

    def portal_config(self) -> dict:
        return {"WEBEX_TOKEN": self.token, "WEBEX_BROKER_URL": self.broker_url,
                "WEBEX_INSTANT_URL": self.instant_url, "PROVIDER_CA_FILE": str(self.ca.ca_file)}

    def handle(self, method, path, raw_query, params, headers, body):
        if path == BROKER_PATH:
            if method != "POST":
                return 405, "application/json", as_json({"message": "POST only"}), {}
            return self._joseencrypt(headers, body)
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[1] == "v1" and parts[2] in ("login", "talk"):
            return self._page(parts[0], parts[2], params)
        return 404, "text/html", page("Not found"), {}

    def _joseencrypt(self, headers, body):
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, "application/json", as_json({
                "message": "The request requires a valid access token set in the "
                           "Authorization request header."}), {}
        try:
            data = json.loads(body)
            problem = self._check(data)
        except (ValueError, TypeError, AttributeError):
            problem = "body is not a JSON object"
        if problem:
            return 400, "application/json", as_json({"message": problem}), {}
        self.bodies.append(data)
        vertical = data.get("verticalType", "gen")

        def issue(role: str) -> dict:
            cipher = secrets.token_urlsafe(24)
            self.ciphers[cipher] = {"sub": data["jwt"]["sub"], "role": role,
                                    "exp": data["jwt"]["exp"], "vertical": vertical}
            return {"cipher": cipher}

        return 200, "application/json", as_json({
            "host": [issue("host") for _ in range(data.get("numHost", 1))],
            "guest": [issue("guest") for _ in range(data.get("numGuest", 1))]}), {}

    @staticmethod
    def _check(data) -> str | None:
        if data.get("aud") != AUDIENCE:
            return "aud must be the Instant Connect audience"
        claims = data.get("jwt")
        if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str) \
                or not claims["sub"]:
            return "jwt.sub is required"
        now = time.time()
        exp = claims.get("exp", now + 900)
        if not isinstance(exp, int) or exp <= now:
            return "jwt.exp must be a future unix time"
        if "nbf" in claims and (not isinstance(claims["nbf"], int) or claims["nbf"] >= exp):
            return "jwt.nbf must be a unix time before exp"
        for key in ("numHost", "numGuest"):
            value = data.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 25:
                return f"{key} must be 0 to 25"
        if data.get("verticalType", "gen") not in ("gen", "hc"):
            return "verticalType must be gen or hc"
        if not isinstance(data.get("provideShortUrls", False), bool):
            return "provideShortUrls must be a boolean"
        return None

    def _page(self, vertical: str, kind: str, params):
        if params.get("int") != "jose" or params.get("v") != "1":
            return 400, "text/html", page("Invalid link", error="int=jose&v=1 expected"), {}
        info = self.ciphers.get(params.get("data", ""))
        if info is None:
            return 403, "text/html", page("Invalid link", error="unknown cipher"), {}
        if info["exp"] <= time.time():
            return 403, "text/html", page("Link expired", error="expired"), {}
        if info["vertical"] != vertical or (kind == "login") != (info["role"] == "host"):
            return 403, "text/html", page("Invalid link", error="wrong page for this link"), {}
        opened = {"meeting": info["sub"], "role": info["role"], "vertical": vertical}
        self.opened.append(opened)
        return 200, "text/html", page("Webex", **opened), {}
