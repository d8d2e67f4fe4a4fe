"""A small HTTPS server on a thread that a test can take down, slow down or make fail.

Modes: "up" (answers as the service does), "down" (the port refuses connections: the socket
is closed and opened again on the same port by `up`), "slow" (each answer waits `delay`
seconds, longer than the portal's timeout), "error" (every answer is HTTP 500)."""

from __future__ import annotations

import html
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .tls import ThrowawayCA


class Handler(BaseHTTPRequestHandler):
    server_version = "fake"
    fake: FakeService  # set per service

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def _dispatch(self, method: str):
        fake = self.server.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake.requests.append((method, parts.path, parts.query, body))
        if fake.mode == "slow":
            fake.released.wait(fake.delay)
        if fake.mode == "error":
            return self.answer(500, "text/html", "<h1>Internal Server Error</h1>")
        status, content_type, text, headers = fake.handle(
            method, parts.path, parts.query, dict(parse_qsl(parts.query, keep_blank_values=True)),
            self.headers, body)
        return self.answer(status, content_type, text, headers)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def answer(self, status: int, content_type: str, text: str, headers: dict | None = None):
        data = text.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (a timeout test)


class FakeService:
    """Subclasses implement handle(method, path, raw_query, params, headers, body) ->
    (status, content type, text, extra headers)."""

    def __init__(self, ca: ThrowawayCA):
        self.ca = ca
        self.mode = "up"
        self.delay = 10.0
        self.released = threading.Event()
        self.requests: list[tuple[str, str, str, bytes]] = []
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self):
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        server.fake = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca.cert_file, self.ca.key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self):
        self.released.set()  # slow answers still waiting finish now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def set_mode(self, mode: str, delay: float | None = None):
        """"up", "down", "slow" (with `delay` seconds) or "error"."""
        assert mode in ("up", "down", "slow", "error"), mode
        if mode == "down" and self._server is not None:
            self.stop()
        if mode != "down" and self._server is None:
            self.start()
        self.released.clear()
        if delay is not None:
            self.delay = delay
        if mode != "slow":
            self.released.set()
        self.mode = mode

    def handle(self, method, path, raw_query, params, headers, body):
        raise NotImplementedError


def page(title: str, **facts: str) -> str:
    """A small HTML page whose facts a test (or Chromium) can read by id."""
    items = "".join(f'<dd id="{html.escape(k)}">{html.escape(str(v))}</dd>'
                    for k, v in facts.items())
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><dl>{items}</dl></body></html>")


def as_json(data) -> str:
    return json.dumps(data)


def shown(text: str, fact: str) -> str | None:
    """A fact of a page made by page(), or None."""
    marker = f'<dd id="{html.escape(fact)}">'
    if marker not in text:
        return None
    start = text.index(marker) + len(marker)
    return html.unescape(text[start:text.index("</dd>", start)])
