"""Access logs never hold a personal link's token."""

from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from werkzeug.serving import make_server

from .helpers import free_port
from .journey_helpers import book

ROOT = Path(__file__).resolve().parents[1]


def test_access_log_masks_the_token_of_a_personal_link(app, advisor, caplog):
    _, paths = book(advisor)
    token = paths["citizen"].rsplit("/", 1)[1]
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            opener = urllib.request.build_opener(NoRedirect)
            for path in (paths["citizen"], "/t/" + "A" * 43):
                try:
                    opener.open(f"http://127.0.0.1:{port}{path}").close()
                except urllib.error.HTTPError as answer:  # 302 and 404 alike
                    answer.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    # Without the colours werkzeug adds on a terminal.
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", r.getMessage())
             for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /t/… HTTP/1.1" 302' in line for line in lines), lines
    assert any('"GET /t/… HTTP/1.1" 404' in line for line in lines), lines
    assert not any(token in line or "A" * 43 in line for line in lines)


def test_gunicorn_access_log_masks_the_token(app, advisor, tmp_path):
    """The production server: gunicorn's own access log, written by a real gunicorn."""
    _, paths = book(advisor)
    token = paths["citizen"].rsplit("/", 1)[1]
    port, log = free_port(), tmp_path / "access.log"
    env = {**os.environ, "PORTAL_SECRET_KEY": "test-secret",
           "PORTAL_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
           "PORTAL_BASE_URL": "http://portal.test", "PORTAL_OUTBOX_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
         "--access-logfile", str(log), "--graceful-timeout", "2", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", paths["citizen"])
        assert connection.getresponse().status == 302
        connection.close()
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:  # a worker that hangs on shutdown
            server.kill()
            server.wait()
        server.stderr.close()
    written = log.read_text()
    assert "GET /t/… HTTP/1.1" in written
    assert token not in written
