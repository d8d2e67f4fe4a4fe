"""Which browser is this, and is it good enough for a video call? (server side, user-agents)"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from user_agents import parse

# ua-parser family → the product name people know.
FAMILIES = {
    "Chrome": "Chrome", "Chrome Mobile": "Chrome", "Chrome Mobile iOS": "Chrome",
    "HeadlessChrome": "Chrome", "Chromium": "Chrome",
    "Edge": "Edge", "Edge Mobile": "Edge",
    "Firefox": "Firefox", "Firefox Mobile": "Firefox", "Firefox iOS": "Firefox",
    "Safari": "Safari", "Mobile Safari": "Safari",
}


@dataclass(frozen=True)
class BrowserInfo:
    name: str  # "Chrome", or ua-parser's family for anything else
    version: str
    major: int | None
    os: str
    os_version: str
    device_type: str  # "mobile", "tablet" or "desktop"
    supported: bool
    known: bool  # one of the browsers we support at all

    @property
    def platform(self) -> str:
        """For advice: "ios", "android" or "desktop"."""
        if self.os == "iOS" or (self.os == "Mac OS X" and self.device_type == "tablet"):
            return "ios"
        if self.os == "Android":
            return "android"
        return "desktop"


def inspect(user_agent: str | None) -> BrowserInfo:
    ua = parse((user_agent or "")[:500])
    family = ua.browser.family or "Other"
    name = FAMILIES.get(family, family)
    version = ua.browser.version_string or ""
    major = ua.browser.version[0] if ua.browser.version else None
    minimum = current_app.config["SUPPORTED_BROWSERS"].get(name)
    device_type = "tablet" if ua.is_tablet else "mobile" if ua.is_mobile else "desktop"
    return BrowserInfo(
        name=name, version=version, major=major, os=ua.os.family or "Other",
        os_version=ua.os.version_string or "", device_type=device_type,
        supported=minimum is not None and major is not None and major >= minimum,
        known=minimum is not None)
