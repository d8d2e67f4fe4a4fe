"""Private services a fault test may break: a PostgreSQL cluster, a redis-server and a
gunicorn serving the portal. Never the machine's shared servers."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .helpers import CSRF_RE, free_port
from .journey_helpers import GOOD_LINK, PHONE_UA

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"process ended with {process.returncode}") from None
            assert time.monotonic() < deadline, f"nothing answers on port {port}"
            time.sleep(0.2)


class PrivatePostgres:
    """A throw-away cluster in a temporary folder on its own port (initdb, pg_ctl)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="h5_pg_"))
        self.data = self.dir / "data"
        self.port = free_port()
        # PostgreSQL refuses to run as root: as the postgres user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        self.running = False

    def _run(self, *args) -> None:
        result = subprocess.run([*self.as_user, *map(str, args)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr

    def url(self, database="postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "server.log", "-w",
                  "-t", "60", "-o", options, "start")
        self.running = True

    def stop(self) -> None:
        """Like a restart by an operator: every open connection is cut."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False

    def destroy(self) -> None:
        if self.running:
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db=0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None


class Gunicorn:
    """The portal as production runs it: gunicorn with several workers."""

    def __init__(self, tmp_path: Path, env: dict, workers=2, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"gunicorn-{self.port}.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115 (closed in stop)
        full_env = {**os.environ, "PORTAL_SECRET_KEY": "test-secret",
                    "PORTAL_BASE_URL": self.url, "PORTAL_SESSION_COOKIE_SECURE": "false",
                    "PORTAL_REQUIRE_2FA": "false", "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
                    **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}",
             "--graceful-timeout", "2", "--timeout", "60", *args, "wsgi:app"],
            cwd=ROOT, env=full_env, stdout=self._log_file, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        assert Browser(self.url).get("/healthz").status == 200

    def log_text(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:  # a worker that hangs on shutdown
            self.process.kill()
            self.process.wait()
        self._log_file.close()


@dataclass
class Answer:
    status: int
    headers: dict
    text: str
    url: str


class Browser:
    """A plain HTTP client with cookies that follows redirects: one new connection per
    request, so requests reach every gunicorn worker."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())

    def request(self, path: str, data: dict | None = None, headers: dict | None = None) -> Answer:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base_url + path, data=body,  # noqa: S310 (http://)
                                     headers={"User-Agent": PHONE_UA, **(headers or {})})
        try:
            with self.opener.open(req, timeout=30) as answer:
                return Answer(answer.status, dict(answer.headers), answer.read().decode(),
                              answer.url)
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read().decode(), error.url)

    def get(self, path: str, **headers) -> Answer:
        return self.request(path, headers=headers)

    def submit(self, path: str, data: dict) -> Answer:
        """A form as a browser sends it: with the CSRF token of the page."""
        page = self.get(path)
        assert page.status == 200, (path, page.status)
        match = CSRF_RE.search(page.text)
        assert match, f"no CSRF token on {path}"
        return self.request(path, {"csrf_token": match.group(1) or match.group(2), **data})

    def to_waiting_room(self, link_path: str) -> Answer:
        """Link, consent, device check: the citizen arrives in the waiting room."""
        assert self.get(link_path).url.endswith("/termin")
        assert self.submit("/termin/einwilligung", {"decision": "agree"}).status == 200
        answer = self.submit("/termin/technik", {"camera": "ok", "microphone": "ok",
                                                 **GOOD_LINK})
        assert answer.url.endswith("/termin/wartebereich"), answer.url
        return answer
