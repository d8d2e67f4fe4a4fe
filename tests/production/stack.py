"""The reference deployment, started for a test: nginx (deploy/nginx/) with a throw-away
certificate in front of two gunicorn instances (deploy/gunicorn.conf.py, 2 workers each) on
one PostgreSQL database and one Redis database.

nginx gets three front doors rendered from the same template: `url` balances over both
instances (the real setup; personal links point there), `url_a` and `url_b` reach only
instance A or B, so a test can pin where a request is served. Cookies are per host, not per
port, so one browser session spans all three.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..helpers import free_port
from ..pg import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "deploy" / "nginx"))
import render as nginx_render  # noqa: E402  (deploy/nginx/render.py, as operators use it)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_DB = 1
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
PASSWORD = "correct horse battery staple"
ADVISOR_EMAIL = "anna.berater@jobcenter.example"


@dataclass
class Stack:
    url: str  # both instances
    url_a: str  # only instance A
    url_b: str  # only instance B
    env: dict
    run_dir: Path
    access_log: Path
    outbox: Path
    processes: list = field(default_factory=list)

    def flask(self, *args: str, stdin: str | None = None) -> str:
        """`flask --app portal …` with the stack's settings, as an operator runs it."""
        done = subprocess.run([str(BIN / "flask"), "--app", "portal", *args], env=self.env,
                              cwd=ROOT, input=stdin, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def book(self, *, starts_in_minutes: int = 10) -> dict:
        """An appointment made through the CLI; returns its JSON (with the personal links)."""
        from datetime import datetime, timedelta
        from zoneinfo import ZoneInfo

        starts = datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(minutes=starts_in_minutes)
        out = self.flask("appointment", "add", "--advisor", ADVISOR_EMAIL,
                         "--at", starts.strftime("%Y-%m-%dT%H:%M"), "--duration", "30",
                         "--citizen-name", "Erika Mustermann",
                         "--citizen-email", "erika@example.org", "--json")
        return json.loads(out)

    def log_text(self) -> str:
        return self.access_log.read_text() if self.access_log.exists() else ""


def _make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@contextmanager
def _database():
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"h1_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def _redis():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.flushdb()
    try:
        yield
    finally:
        client.flushdb()
        client.close()


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} ended with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}")


def _wait_ready(url: str, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _nginx_config(run_dir: Path, cert: Path, key: Path, instances: list[str],
                  doors: list[tuple[int, list[str]]], http_port: int) -> Path:
    """Debian's nginx.conf in miniature around the deploy site config, rendered once for
    the real door (both instances) and its server block again for each pinned door."""
    access_log = run_dir / "access.log"
    template = nginx_render.TEMPLATE.read_text()
    common = dict(server_name="127.0.0.1", certificate=str(cert), certificate_key=str(key),
                  static_root=str(ROOT / "static"), access_log=str(access_log),
                  listen_address="127.0.0.1")
    (main_port, main_instances), *pinned = doors
    site = [nginx_render.render(instances=main_instances, https_port=main_port,
                                http_port=http_port, **common)]
    https_block = nginx_render.section(template, "upstream") + \
        nginx_render.section(template, "https")
    for n, (port, only) in enumerate(pinned):
        site.append(nginx_render.render(instances=only, https_port=port,
                                        upstream=f"videotermin_pinned_{n}", text=https_block,
                                        **common))
    (run_dir / "videotermin.conf").write_text("\n".join(site))
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / "temp" / sub).mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(f"""\
daemon off;
worker_processes 2;
pid {run_dir}/nginx.pid;
error_log {run_dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path {run_dir}/temp/client_body;
    proxy_temp_path {run_dir}/temp/proxy;
    fastcgi_temp_path {run_dir}/temp/fastcgi;
    uwsgi_temp_path {run_dir}/temp/uwsgi;
    scgi_temp_path {run_dir}/temp/scgi;
    include {run_dir}/videotermin.conf;
}}
""")
    return conf


@contextmanager
def production_stack(tmp: Path, **settings: str):
    """Start everything; `settings` are extra PORTAL_* values (without the prefix)."""
    with ExitStack() as stack:
        database_url = stack.enter_context(_database())
        stack.enter_context(_redis())
        cert, key = _make_certificate(tmp)
        port_a, port_b = free_port(), free_port()
        door, door_a, door_b, http_port = free_port(), free_port(), free_port(), free_port()
        outbox = tmp / "outbox"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update({
            "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
            "PORTAL_SECRET_KEY": secrets.token_hex(32),
            "PORTAL_BASE_URL": f"https://127.0.0.1:{door}",
            "PORTAL_SQLALCHEMY_DATABASE_URI": database_url,
            "PORTAL_RATELIMIT_STORAGE_URI": REDIS_URL,
            "PORTAL_PROXY_FIX_HOPS": "1",
            "PORTAL_OUTBOX_DIR": str(outbox),
            # PORTAL_REQUIRE_2FA is left at its production default (on): the journey's
            # advisor enrols a second factor at the first sign-in.
            "PORTAL_WAITING_ROOM_POLL_SECONDS": "1",
            "PORTAL_QUEUE_POLL_SECONDS": "1",
            "PORTAL_CALL_POLL_SECONDS": "0.5",
            **{f"PORTAL_{k}": str(v) for k, v in settings.items()},
        })
        run = subprocess.run([str(BIN / "flask"), "--app", "portal", "db", "upgrade"],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        run_dir = tmp / "nginx"
        run_dir.mkdir()
        logs = tmp / "logs"
        logs.mkdir()
        instances = {}
        for name, port in (("a", port_a), ("b", port_b)):
            log = open(logs / f"gunicorn-{name}.log", "w")
            stack.callback(log.close)
            process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                 "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"],
                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            stack.callback(_stop, process)
            instances[name] = (port, process)
        conf = _nginx_config(run_dir, cert, key, list(instances),
                             [(door, [f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"]),
                              (door_a, [f"127.0.0.1:{port_a}"]),
                              (door_b, [f"127.0.0.1:{port_b}"])], http_port)
        check = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(run_dir)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        nginx_log = open(logs / "nginx.log", "w")
        stack.callback(nginx_log.close)
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(run_dir)],
                                 stdout=nginx_log, stderr=subprocess.STDOUT)
        stack.callback(_stop, nginx)
        for name, (port, process) in instances.items():
            _wait_for_port(port, process, f"gunicorn {name}")
            _wait_ready(f"http://127.0.0.1:{port}")
        _wait_for_port(door_b, nginx, "nginx")
        result = Stack(url=f"https://127.0.0.1:{door}", url_a=f"https://127.0.0.1:{door_a}",
                       url_b=f"https://127.0.0.1:{door_b}", env=env, run_dir=run_dir,
                       access_log=run_dir / "access.log", outbox=outbox,
                       processes=[p for _, p in instances.values()] + [nginx])
        result.http_url = f"http://127.0.0.1:{http_port}"
        result.flask("advisor", "add", ADVISOR_EMAIL, "--name", "Anna Berater",
                     "--password-stdin", stdin=PASSWORD + "\n")
        yield result
