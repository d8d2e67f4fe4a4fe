"""A fake Jitsi Meet web front with prosody's token authentication (token_verification):
GET /<room>?jwt=TOKEN verifies the token as prosody's token/util.lib.lua does — the `alg`
from an allow-list (HS256 with the app secret, or RS256 with the public key named by `kid`;
never `none`), `aud` and `iss` accepted, `exp`/`nbf`, `sub` the domain (or "*"), `room` this
room (or "*"), context.user values strings only — and shows the page with the name and the
role token_affiliation would give (owner for affiliation owner/moderator/teacher or
moderator "true"), or the error."""

from __future__ import annotations

import jwt

from .server import FakeService, page


class FakeJitsi(FakeService):
    def __init__(self, ca, app_id: str = "videotermin", secret: str | None =
                 "fake-jitsi-app-secret-4b9e71-0d2c8a5f3e61", audience: str = "jitsi",
                 public_keys: dict[str, bytes] | None = None):
        super().__init__(ca)
        self.app_id = app_id
        self.secret = secret
        self.audience = audience
        self.public_keys = public_keys or {}  # kid -> PEM (RS256, as asap_key_server serves)
        self.joins: list[dict] = []

    @property
    def url(self) -> str:
        return self.base_url

    def portal_config(self) -> dict:
        config = {"JITSI_URL": self.url, "JITSI_APP_ID": self.app_id,
                  "JITSI_AUDIENCE": self.audience, "PROVIDER_CA_FILE": str(self.ca.ca_file)}
        if self.secret:
            config["JITSI_APP_SECRET"] = self.secret
        return config

    def verify(self, token: str, room: str) -> dict:
        """The token's claims, or jwt.InvalidTokenError / ValueError with the reason."""
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == "HS256" and self.secret:
            key = self.secret
        elif alg == "RS256" and header.get("kid") in self.public_keys:
            key = self.public_keys[header["kid"]]
        else:
            raise jwt.InvalidAlgorithmError(f"alg {alg!r} (kid {header.get('kid')!r}) not "
                                            "accepted")
        claims = jwt.decode(token, key, algorithms=[alg], audience=self.audience,
                            issuer=self.app_id, options={
                                "require": ["exp", "nbf", "iss", "aud", "sub", "room"]})
        if claims["sub"] not in ("*", "127.0.0.1", "localhost"):
            raise ValueError(f"sub {claims['sub']!r} is not this domain")
        if claims["room"] != "*" and claims["room"].lower() != room.lower():
            raise ValueError(f"token for room {claims['room']!r}, not {room!r}")
        user = (claims.get("context") or {}).get("user")
        if not isinstance(user, dict) or not user.get("name"):
            raise ValueError("context.user.name missing")
        wrong = [k for k, v in user.items() if not isinstance(v, str)]
        if wrong:
            raise ValueError(f"context.user values must be strings: {', '.join(wrong)}")
        return claims

    def handle(self, method, path, raw_query, params, headers, body):
        room = path.strip("/")
        if not room or "/" in room:
            return 404, "text/html", page("Not found"), {}
        token = params.get("jwt")
        if not token:
            return 403, "text/html", page("Authentication failed", error="no token"), {}
        try:
            claims = self.verify(token, room)
        except (jwt.InvalidTokenError, ValueError) as error:
            return 403, "text/html", page("Authentication failed", error=str(error)), {}
        user = claims["context"]["user"]
        owner = user.get("affiliation") in ("owner", "moderator", "teacher") or \
            user.get("moderator") == "true"
        features = claims["context"].get("features") or {}
        joined = {"room": room, "name": user["name"], "id": user.get("id", ""),
                  "role": "moderator" if owner else "participant",
                  "lobby_bypass": features.get("lobby_bypass") is True}
        self.joins.append(joined)
        return 200, "text/html", page("Jitsi Meet", **{k: str(v) for k, v in joined.items()}), {}
