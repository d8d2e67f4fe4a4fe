"""Small helpers for driving the portal like a browser would (forms with CSRF tokens)."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from .dates import WINTER_TUESDAY

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
LINK_RE = re.compile(r"https?://[^\s<>\"]+/t/[A-Za-z0-9_-]{43}")


def csrf_token(client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


CSRF_VALUE = re.compile(
    r'(X-CSRFToken": "|name="csrf_token" value="|name="csrf-token" content=")[^"]+'
)


def page_text(response) -> str:
    """The page as a user sees it: the signed CSRF token carries a timestamp
    and so differs between two otherwise identical responses."""
    return CSRF_VALUE.sub(r"\1…", response.get_data(as_text=True))


def login(client, email: str, password: str = "correct horse battery staple"):
    token = csrf_token(client, "/anmelden")
    return client.post("/anmelden", data={"csrf_token": token, "email": email,
                                          "password": password})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_mail(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def text_part(msg: EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def html_part(msg: EmailMessage) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


def ics_part(msg: EmailMessage) -> bytes:
    for part in msg.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_payload(decode=True)
    raise AssertionError("no text/calendar part")


def link_in(msg: EmailMessage) -> str:
    match = LINK_RE.search(text_part(msg))
    assert match, "no personal link in the mail"
    return match.group(0)


def appointment_form(**overrides) -> dict:
    """Valid data for the 'new appointment' form; override single fields per test."""
    data = {
        "day": WINTER_TUESDAY.isoformat(),
        "clock": "09:30",
        "duration": "30",
        "citizen_name": "Erika Mustermann",
        "citizen_email": "erika@example.org",
        "customer_number": "123D456789",
        "language": "de",
        "topic": "",
        "extras-0-role": "interpreter",
        "extras-0-name": "",
        "extras-0-email": "",
    }
    data.update(overrides)
    return data
