"""Access logs never hold a personal link's token; JSON lines with a request id; files and
SQL errors keep personal data to themselves."""

from __future__ import annotations

import contextlib
import http.client
import json
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

import flask
import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from portal import config as portal_config
from portal import create_app
from portal.extensions import db
from portal.mailing.outbox import FileTransport

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


def encoded_variants(token: str) -> list[str]:
    """Paths werkzeug decodes to /t/<token> and routes, written as a client may send them;
    the last one tries to start a forged log line with a decoded newline."""
    return [f"/%74/{token}", f"/t%2F{token}", f"/%2574/{token}", f"/%74/{token}%0aINJECTED"]


def raw_get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers or {})  # sent as is, not normalised
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_development_server_masks_percent_encoded_tokens(app, advisor, caplog):
    _, paths = book(advisor)
    token = paths["citizen"].rsplit("/", 1)[1]
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            statuses = [raw_get(port, path).status for path in encoded_variants(token)]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    # werkzeug decodes the first ones to the personal link: the token really is in there.
    assert statuses[:2] == [302, 302], statuses
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert len(lines) == 4, lines
    for line in lines:
        assert token not in line and "\n" not in line, line
        assert "/t/…" in line, line


def start_gunicorn(app, tmp_path, port, *args, env_extra=None):
    env = {**os.environ, "PORTAL_SECRET_KEY": "test-secret",
           "PORTAL_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
           "PORTAL_BASE_URL": "http://portal.test", "PORTAL_OUTBOX_DIR": str(tmp_path),
           **(env_extra or {})}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "2", *args, "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None:
                raise AssertionError(server.stderr.read().decode()[-2000:]) from None
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)


def stop_gunicorn(server) -> tuple[str, str]:
    server.terminate()
    try:
        out, err = server.communicate(timeout=20)
    except subprocess.TimeoutExpired:  # a worker that hangs on shutdown
        server.kill()
        out, err = server.communicate()
    return out.decode(), err.decode()


def test_gunicorn_masks_percent_encoded_tokens(app, advisor, tmp_path):
    _, paths = book(advisor)
    token = paths["citizen"].rsplit("/", 1)[1]
    port, log = free_port(), tmp_path / "access.log"
    server = start_gunicorn(app, tmp_path, port, "--access-logfile", str(log))
    try:
        statuses = [raw_get(port, path).status for path in encoded_variants(token)]
    finally:
        stop_gunicorn(server)
    assert statuses[:2] == [302, 302], statuses
    lines = log.read_text().splitlines()
    assert len(lines) == 4, lines  # one line per request: no decoded newline
    for line in lines:
        assert token not in line, line
        assert "GET /t/… HTTP/1.1" in line, line


def test_gunicorn_json_logs_carry_the_request_id_and_no_token(app, advisor, tmp_path):
    """gunicorn with the reference config: its access and error logs and the portal's own
    log (all on stderr as in the systemd unit) are JSON lines."""
    _, paths = book(advisor)
    token = paths["citizen"].rsplit("/", 1)[1]
    port, access = free_port(), tmp_path / "access.log"
    # Rate limits in an unreachable Redis: the portal logs about it (readyz, the fallback).
    server = start_gunicorn(app, tmp_path, port, "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                            "--access-logfile", str(access),
                            env_extra={"PORTAL_LOG_FORMAT": "json",
                                       "PORTAL_RATELIMIT_STORAGE_URI":
                                           f"redis://127.0.0.1:{free_port()}/0"})
    sent = {}
    try:
        for number, path in enumerate([paths["citizen"], *encoded_variants(token), "/healthz"]):
            request_id = f"{number:02d}" + "ab" * 15
            response = raw_get(port, path, {"X-Request-ID": request_id})
            assert response.headers["X-Request-ID"] == request_id  # echoed back
            sent[request_id] = path
        forged = raw_get(port, "/healthz", {"X-Request-ID": "x" * 200})
        assert forged.headers["X-Request-ID"] != "x" * 200  # too long: replaced
        assert len(forged.headers["X-Request-ID"]) == 32
        assert raw_get(port, "/readyz", {"X-Request-ID": "ready-1"}).status == 503
    finally:
        _, stderr = stop_gunicorn(server)
    entries = [json.loads(line) for line in access.read_text().splitlines()]
    assert len(entries) == len(sent) + 2
    by_id = {entry["request_id"]: entry for entry in entries}
    assert set(sent) <= set(by_id)
    assert by_id[forged.headers["X-Request-ID"]]["status"] == 200
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry)
        assert entry["logger"] == "gunicorn.access"
        assert token not in json.dumps(entry)
    assert by_id["00" + "ab" * 15]["path"] == "/t/…"
    assert by_id["00" + "ab" * 15]["status"] == 302
    # Everything on stderr: gunicorn's error log and the portal's log, one object per line.
    logged = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert any("Booting worker" in entry["message"] for entry in logged)
    ready = next(entry for entry in logged if entry.get("request_id") == "ready-1")
    assert (ready["logger"], ready["level"]) == ("portal", "WARNING")
    assert ready["message"].startswith("readyz: redis unreachable")
    assert any(entry["logger"] == "flask-limiter" for entry in logged)
    assert token not in stderr


def test_app_log_as_json_with_the_request_id(config, capsys):
    config["LOG_FORMAT"] = "json"
    app = create_app(config)

    @app.get("/log-something")
    def log_something():
        app.logger.warning("visited %s", "/t/" + "B" * 43)
        return "ok"

    with app.app_context():
        response = app.test_client().get("/log-something", headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"
    written = capsys.readouterr().err  # the JSON handler writes to stderr
    entries = [json.loads(line) for line in written.splitlines()]
    assert entries[-1]["request_id"] == "req-42"
    assert entries[-1]["message"] == "visited /t/…"
    assert entries[-1]["level"] == "WARNING"
    assert "B" * 43 not in written


@pytest.mark.parametrize("sent", ["", "a b", "x" * 129, "id\u00e9", "tab\there", "<script>"])
def test_an_invalid_request_id_is_replaced(client, sent):
    response = client.get("/healthz", headers={"X-Request-ID": sent} if sent else {})
    answered = response.headers["X-Request-ID"]
    assert answered != sent
    assert len(answered) == 32 and all(c in "0123456789abcdef" for c in answered)


def test_sql_errors_carry_no_parameter_values(config, caplog):
    # A user-given option does not drop hide_parameters.
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_recycle": 300}
    app = create_app(config)
    secret = "4f" * 32  # like a token's hash
    with app.app_context(), caplog.at_level(logging.ERROR):
        try:
            db.session.execute(text("SELECT id FROM no_such_table WHERE x = :hash"),
                               {"hash": secret})
        except Exception:
            app.logger.exception("query failed")
        db.session.rollback()
        db.engine.dispose()
    logged = "\n".join(caplog.text.splitlines())
    assert "no_such_table" in logged  # the statement is there, to find the bug
    assert "query failed" in logged
    assert secret not in logged


@contextlib.contextmanager
def usual_umask():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_instance_folder_and_its_files_are_owner_only(tmp_path):
    instance = tmp_path / "instance"
    with usual_umask():
        app = flask.Flask("portal_mode_test", instance_path=str(instance))
        app.config.from_object(portal_config.Defaults)
        app.config.update(TESTING=True)
        portal_config.finish(app)
        assert mode(instance) == 0o700
        database = instance / "portal.db"
        assert mode(database) == 0o600
        # SQLite writes into the file it was given (and its journal takes the file's mode).
        full = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
        with full.app_context():
            db.session.execute(text("CREATE TABLE t (x INTEGER)"))
            db.session.commit()
            db.engine.dispose()
        assert database.stat().st_size > 0 and mode(database) == 0o600

        outbox = instance / "outbox"
        FileTransport(str(outbox)).send("a@example.org", "b@example.org", b"Subject: x\r\n\r\nhi")
        assert mode(outbox) == 0o700
        (mail,) = outbox.glob("*.eml")
        assert mode(mail) == 0o600


def test_an_older_instance_folder_open_to_others_is_tightened(tmp_path, caplog):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)  # as an install from before the rule left it
    app = flask.Flask("portal_mode_test", instance_path=str(instance))
    app.config.from_object(portal_config.Defaults)
    app.config.update(TESTING=True)
    with caplog.at_level("WARNING"):
        portal_config.finish(app)
    assert mode(instance) == 0o700
    assert "now owner-only" in caplog.text
