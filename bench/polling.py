"""Benchmark: polling on the production path (gunicorn with 2 workers, PostgreSQL).

    .venv/bin/python bench/polling.py                 # the full run behind docs/benchmarks.md
    .venv/bin/python bench/polling.py --minutes 1     # a quick try
    .venv/bin/python bench/polling.py --no-sqlite     # PostgreSQL only

It starts everything itself: a PostgreSQL database of its own (h4_bench_<pid> on
127.0.0.1:5432, user postgres, dropped afterwards), migrated with Alembic, filled with
realistic data (1,000 participants waiting in 600 appointments of 40 advisors, plus 2,000
other appointments), and gunicorn with 2 sync workers serving `portal:create_app()` over
plain http on 127.0.0.1 (production settings otherwise: secure cookies, rate limits on,
second factor off so the script can sign in). Then, in one run:

(a) unchanged waiting-room polls (204) per second against a bare endpoint of the same app
    (/healthz when it exists), wrk -t2 -c32, 12 short alternating rounds, the median of
    the per-round ratios (the machine's load changes by the second); wrk cycles through the
    session cookies of all 1,000 waiting participants, so presence writes happen as often as
    the write interval allows. Goal: >= 70 %.
(b) the same for the advisor's queue poll (wrk follows the version when the queue changes).
(c) 1,000 citizens polling every 3 s (as htmx does: fixed interval, random phase, one
    connection per request like a browser behind nginx talking to sync workers) plus
    the 40 advisors polling their queues every 5 s, for --minutes (default 10): errors
    (anything but 200/204, timeouts, refused connections; goal 0) and p50/p95/p99 latency.
(d) admission to call page: an advisor POSTs "Let in" at a random moment; a simulated
    citizen polling like the browser (interval from the fragment's hx-trigger; on the
    admitted fragment it loads the call page at once, as static/js/waiting-room.js does)
    measures until the call page has arrived. For appointments that have started (the
    waiting room then polls every WAITING_ROOM_DUE_POLL_SECONDS) and, for comparison,
    before the start time (3 s). Goal: p95 <= 3 s.
SQLite: (a) again on a SQLite file with the same data.

Needs: wrk (apt-get install -y wrk), psql, PostgreSQL on 127.0.0.1:5432. On a 2-core machine
the load generator shares the CPU with the server: compare the ratios, not absolute rates.
"""

from __future__ import annotations

# ruff: noqa: S311 (random timing and test data, not secrets)
import argparse
import asyncio
import hashlib
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent  # the project's venv: .venv/bin/python bench/polling.py
USER_AGENT = "portal-bench/1"  # the advisor's session is bound to address and user agent
PASSWORD = "bench password 12345"  # noqa: S105 (made-up advisors of a throw-away database)
N_ADVISORS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the stack ------------------------------------------------------------------------------

@contextmanager
def postgres_database():
    name = f"h4_bench_{os.getpid()}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
    subprocess.run([*psql, f"create database {name}"], check=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run([*psql, f"drop database if exists {name} with (force)"], check=False)


def environment(db_uri: str, port: int, instance: Path) -> dict:
    env = dict(os.environ)
    env.update(
        PORTAL_SQLALCHEMY_DATABASE_URI=db_uri,
        PORTAL_SECRET_KEY="bench-" + secrets.token_hex(16),
        PORTAL_BASE_URL=f"http://127.0.0.1:{port}",
        PORTAL_REQUIRE_2FA="false",
        PORTAL_LOGIN_RATE_LIMIT="1000 per minute",
        PORTAL_OUTBOX_DIR=str(instance / "outbox"),
    )
    return env


def migrate(env: dict) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "portal", "db", "upgrade"], env=env, cwd=ROOT,
                   check=True, capture_output=True)


@contextmanager
def gunicorn(env: dict, port: int, workers: int = 2, threads: int = 1):
    # threads > 1: gunicorn's gthread worker (a thread waiting for the database lets another
    # one work); 1: the sync worker.
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", str(workers), "--threads", str(threads),
         "-b", f"127.0.0.1:{port}",
         "--backlog", "2048", "--log-level", "warning", "portal:create_app()"],
        env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit("gunicorn did not start")
                time.sleep(0.2)
        time.sleep(1.5)  # both workers booted
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- data -----------------------------------------------------------------------------------

@dataclass
class Seeded:
    cookie_name: str
    waiting: list[tuple[int, str]]  # (participant id, session cookie value)
    advisor_emails: list[str]
    queue_email: str
    # Appointments for the admission samples: (appointment id, citizen id, cookie), by kind.
    admission: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)


def seed(env: dict, samples: int) -> Seeded:
    """Write the data straight into the database (the journey's rate limits would take hours
    for 1,000 participants from one address) and make their session cookies as bind() does."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("PORTAL_")})
    from portal import create_app
    from portal.extensions import db
    from portal.models import (
        Advisor,
        Appointment,
        AppointmentStatus,
        DeviceCheck,
        DeviceOutcome,
        JourneyState,
        Participant,
        ParticipantRole,
        utcnow,
    )

    app = create_app()
    serializer = app.session_interface.get_signing_serializer(app)

    def cookie(participant) -> str:
        return serializer.dumps({"participant": {"id": participant.id,
                                                 "token": participant.token_hash},
                                 "_permanent": True})

    def person(appointment, role, state, now, name):
        token_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        p = Participant(appointment=appointment, role=role, name=name,
                        email=f"{secrets.token_hex(4)}@example.org", token_hash=token_hash,
                        journey_state=state)
        if state is JourneyState.WAITING:
            p.waiting_since = now - timedelta(seconds=random.randint(0, 600))
            p.last_seen_at = now
            p.device_checks.append(DeviceCheck(
                browser="Chrome", browser_version="131", os="Android 14", device_type="mobile",
                browser_supported=True, camera=DeviceOutcome.OK, microphone=DeviceOutcome.OK,
                speaker=DeviceOutcome.OK, download_kbps=5000, upload_kbps=3000, rtt_ms=20.0,
                jitter_ms=2.0, grade="good"))
        return p

    rng = random.Random(7)
    with app.app_context():
        now = utcnow()
        advisors = []
        for i in range(N_ADVISORS):
            a = Advisor(name=f"Berater {i}", email=f"berater{i}@bench.example")
            a.set_password(PASSWORD)
            advisors.append(a)
        db.session.add_all(advisors)
        waiting, appointments = [], []

        def appointment(advisor, starts_at):
            appt = Appointment(uid=secrets.token_hex(16), advisor=advisor, starts_at=starts_at,
                               duration_minutes=30, status=AppointmentStatus.SCHEDULED,
                               language="de")
            appointments.append(appt)
            return appt

        # 600 appointments whose waiting rooms are open and stay open, not yet due, for the
        # whole run: 400 with an interpreter, so 1,000 people wait.
        for i in range(600):
            appt = appointment(advisors[i % N_ADVISORS],
                               now + timedelta(minutes=18 + rng.random() * 11))
            waiting.append(person(appt, ParticipantRole.CITIZEN, JourneyState.WAITING, now,
                                  f"Bürgerin {i}"))
            if i < 400:
                waiting.append(person(appt, ParticipantRole.INTERPRETER, JourneyState.WAITING,
                                      now, f"Dolmetscher {i}"))
        # Other appointments over four weeks: the tables are not just the hot rows.
        for i in range(2000):
            appt = appointment(advisors[i % N_ADVISORS],
                               now + timedelta(days=rng.uniform(-14, 14)))
            if abs(appt.starts_at - now) < timedelta(hours=2):
                appt.starts_at += timedelta(days=1)
            person(appt, ParticipantRole.CITIZEN, JourneyState.INVITED, now, f"Kunde {i}")
        # The advisor of (b): 15 appointments today, 25 people in states the clock does not
        # change (a waiting person's minutes tick once a minute, which is a change).
        queue_advisor = Advisor(name="Queue", email="queue@bench.example")
        queue_advisor.set_password(PASSWORD)
        states = [JourneyState.CHECKED, JourneyState.INVITED, JourneyState.LINK_OPENED,
                  JourneyState.CONSENTED, JourneyState.LEFT]
        for i in range(15):
            appt = appointment(queue_advisor, now + timedelta(minutes=18 + i * 0.7))
            for j in range(1 + (i % 3 == 0) + (i % 5 == 0)):
                p = person(appt, ParticipantRole.CITIZEN if j == 0 else ParticipantRole.OTHER,
                           states[(i + j) % len(states)], now, f"Person {i}/{j}")
                if p.journey_state in (JourneyState.CHECKED, JourneyState.LEFT):
                    p.device_checks.append(DeviceCheck(browser="Firefox", browser_version="128",
                                                       browser_supported=True))
        # Admission samples, advisor 0: started a minute ago (due), or starting in 20 minutes.
        samples_of = {}
        for kind, offset in (("due", timedelta(minutes=-1)), ("early", timedelta(minutes=20))):
            samples_of[kind] = []
            for _ in range(samples):
                appt = appointment(advisors[0], now + offset)
                samples_of[kind].append(person(appt, ParticipantRole.CITIZEN,
                                               JourneyState.WAITING, now, "Probe"))
        db.session.add_all(appointments)
        db.session.commit()
        seeded = Seeded(
            cookie_name=app.config["SESSION_COOKIE_NAME"],
            waiting=[(p.id, cookie(p)) for p in waiting],
            advisor_emails=[a.email for a in advisors],
            queue_email=queue_advisor.email,
            admission={kind: [(p.appointment_id, p.id, cookie(p)) for p in ps]
                       for kind, ps in samples_of.items()})
        db.session.remove()
        db.engine.dispose()
    return seeded


# ---- a small HTTP/1.1 client (one connection per request, as with sync workers) -------------

@dataclass
class Reply:
    status: int
    headers: dict
    body: str
    set_cookies: list


async def request(port: int, method: str, path: str, headers: dict, body: bytes = b"",
                  timeout: float = 30) -> Reply:
    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                     f"User-Agent: {USER_AGENT}", "Connection: close",
                     *(f"{k}: {v}" for k, v in headers.items())]
            if body:
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            raw = await reader.read(-1)
        finally:
            writer.close()
        head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parsed, cookies = {}, []
        for line in header_lines:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
            if name.strip().lower() == "set-cookie":
                cookies.append(value.strip())
        return Reply(int(status_line.split()[1]), parsed, rest.decode("utf-8", "replace"),
                     cookies)

    return await asyncio.wait_for(go(), timeout)


class Browser:
    """A cookie jar on top of `request`."""

    def __init__(self, port: int, cookies: dict | None = None):
        self.port = port
        self.cookies = dict(cookies or {})

    def cookie_header(self) -> dict:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} \
            if self.cookies else {}

    async def send(self, method, path, headers=None, form=None) -> Reply:
        headers = {**self.cookie_header(), **(headers or {})}
        body = b""
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
        reply = await request(self.port, method, path, headers, body)
        for c in reply.set_cookies:
            name, _, value = c.split(";", 1)[0].partition("=")
            self.cookies[name] = value
        return reply


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VERSION = re.compile(r'\?v=([0-9a-f]{16})')
EVERY = re.compile(r'hx-trigger="every (\d+(?:\.\d+)?)s"')


async def sign_in(port: int, email: str) -> Browser:
    b = Browser(port)
    page = await b.send("GET", "/anmelden")
    token = CSRF.search(page.body).group(1)
    reply = await b.send("POST", "/anmelden",
                         form={"csrf_token": token, "email": email, "password": PASSWORD})
    if reply.status != 302:
        sys.exit(f"sign-in of {email} failed: {reply.status}")
    return b


# ---- (a), (b): wrk ----------------------------------------------------------------------------

WRK_LUA = r"""
local items = {%(items)s}
local reqs = {}
local follow = %(follow)s
for k, item in ipairs(items) do
  reqs[k] = wrk.format("GET", item[1], {["Cookie"] = item[2], ["HX-Request"] = "true",
                                        ["User-Agent"] = "%(ua)s"})
end
local i = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n200 = 0; n204 = 0; nother = 0; i = math.random(#reqs) - 1 end
function request() i = i %% #reqs + 1; return reqs[i] end
function response(status, headers, body)
  if status == 204 then n204 = n204 + 1
  elseif status == 200 then
    n200 = n200 + 1
    if follow then
      local v = string.match(body, "%%?v=(%%x+)")
      if v then
        reqs[1] = wrk.format("GET", items[1][3] .. v, {["Cookie"] = items[1][2],
                             ["HX-Request"] = "true", ["User-Agent"] = "%(ua)s"})
      end
    end
  else nother = nother + 1 end
end
function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n200"); b = b + t:get("n204"); c = c + t:get("nother")
  end
  io.write(string.format("STATUS 200=%%d 204=%%d other=%%d\n", a, b, c))
end
"""


def lua_script(path: Path, items: list[tuple[str, str, str]], follow: bool) -> Path:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rendered = ",\n".join("{" + ", ".join(map(q, item)) + "}" for item in items)
    path.write_text(WRK_LUA % {"items": rendered, "follow": "true" if follow else "false",
                               "ua": USER_AGENT})
    return path


def wrk(port: int, script: Path, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True,
                         check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    status = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", re.search(
        r"STATUS (.*)", out).group(1)))
    result = {"rate": rate, "requests": total, "status": status,
              "socket_errors": errors.group(1) if errors else ""}
    print(f"  wrk {script.stem}: {rate:.0f}/s {status} {result['socket_errors']}",
          file=sys.stderr, flush=True)
    return result


def compare(port: int, bare: Path, poll: Path, seconds: int, rounds: int) -> dict:
    """Many short alternating rounds (bare, poll, poll, bare, …): on a machine whose load
    changes from second to second, neighbouring rounds see about the same load. The ratio
    reported is the median of the per-pair ratios; the rates are medians too."""
    wrk(port, bare, 2)  # warm-up: connections, imports, caches
    wrk(port, poll, 2)
    runs = {"bare": [], "poll": []}
    for n in range(rounds):
        order = ("bare", "poll") if n % 2 == 0 else ("poll", "bare")
        for kind in order:
            runs[kind].append(wrk(port, bare if kind == "bare" else poll, seconds))
    ratios = [p["rate"] / b["rate"] for b, p in zip(runs["bare"], runs["poll"], strict=True)]
    bare_rate = statistics.median(r["rate"] for r in runs["bare"])
    poll_rate = statistics.median(r["rate"] for r in runs["poll"])
    status = {}
    for r in runs["poll"]:
        for k, v in r["status"].items():
            status[k] = status.get(k, 0) + v
    return {"bare": bare_rate, "poll": poll_rate, "ratio": statistics.median(ratios),
            "poll_status": status,
            "rounds": [(b["rate"], p["rate"])
                       for b, p in zip(runs["bare"], runs["poll"], strict=True)]}


def bare_path(port: int) -> str:
    for path in ("/healthz",):
        reply = asyncio.run(request(port, "GET", path, {}))
        if reply.status == 200:
            return path
    return "/favicon.ico"  # a redirect without database or template: the nearest to bare


async def waiting_room_versions(port: int, seeded: Seeded, waiting) -> list[str]:
    """The current fragment version of each waiting participant (as the page would have)."""
    sem = asyncio.Semaphore(16)

    async def one(cookie):
        async with sem:
            reply = await request(port, "GET", "/termin/wartebereich",
                                  {"Cookie": f"{seeded.cookie_name}={cookie}",
                                   "HX-Request": "true"})
            found = VERSION.search(reply.body)
            if not found:
                sys.exit(f"waiting room: HTTP {reply.status} {reply.body[:300]}")
            return found.group(1)

    return await asyncio.gather(*(one(c) for _, c in waiting))


def measure_throughput(port: int, seeded: Seeded, tmp: Path, seconds: int, rounds: int,
                       with_queue: bool) -> dict:
    bare = bare_path(port)
    bare_script = lua_script(tmp / "bare.lua", [(bare, "", "")], follow=False)
    versions = asyncio.run(waiting_room_versions(port, seeded, seeded.waiting))
    poll_script = lua_script(tmp / "poll.lua", [
        (f"/termin/wartebereich?v={v}", f"{seeded.cookie_name}={c}", "")
        for (pid, c), v in zip(seeded.waiting, versions, strict=True)], follow=False)
    result = {"bare_path": bare, "waiting_room": compare(port, bare_script, poll_script,
                                                         seconds, rounds)}
    if with_queue:
        advisor = asyncio.run(sign_in(port, seeded.queue_email))
        fragment = asyncio.run(advisor.send("GET", "/beratung/warteschlange",
                                            {"HX-Request": "true"}))
        version = VERSION.search(fragment.body).group(1)
        cookie = advisor.cookie_header()["Cookie"]
        queue_script = lua_script(tmp / "queue.lua", [
            (f"/beratung/warteschlange?v={version}", cookie, "/beratung/warteschlange?v=")],
            follow=True)
        result["queue"] = compare(port, bare_script, queue_script, seconds, rounds)
    return result


# ---- (c): 1,000 citizens and 40 advisors polling ----------------------------------------------

@dataclass
class Tally:
    latencies: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def poller(port, headers, path, interval, until, tally: Tally, follow: bool):
    """Polls like htmx's `every Ns`: a fixed interval, whatever the answers take."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(random.uniform(0, interval))
    next_at = loop.time()
    while next_at < until:
        started = time.perf_counter()
        try:
            reply = await request(port, "GET", path, headers, timeout=30)
        except (OSError, TimeoutError) as e:
            tally.error(type(e).__name__)
        else:
            tally.latencies.append(time.perf_counter() - started)
            tally.statuses[reply.status] = tally.statuses.get(reply.status, 0) + 1
            if reply.status == 200 and follow:
                found = VERSION.search(reply.body)
                if found:
                    path = path.split("?", 1)[0] + f"?v={found.group(1)}"
            elif reply.status not in (200, 204):
                tally.error(f"HTTP {reply.status}")
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def simulate(port: int, seeded: Seeded, minutes: float) -> dict:
    versions = await waiting_room_versions(port, seeded, seeded.waiting)
    advisors = [await sign_in(port, email) for email in seeded.advisor_emails]
    until = asyncio.get_running_loop().time() + minutes * 60
    citizens, queues = Tally(), Tally()
    tasks = [poller(port, {"Cookie": f"{seeded.cookie_name}={c}", "HX-Request": "true"},
                    f"/termin/wartebereich?v={v}", 3, until, citizens, follow=True)
             for (pid, c), v in zip(seeded.waiting, versions, strict=True)]
    for b in advisors:
        fragment = await b.send("GET", "/beratung/warteschlange", {"HX-Request": "true"})
        version = VERSION.search(fragment.body).group(1)
        tasks.append(poller(port, {**b.cookie_header(), "HX-Request": "true"},
                            f"/beratung/warteschlange?v={version}", 5, until, queues,
                            follow=True))
    await asyncio.gather(*tasks)
    return {"citizens": citizens, "advisors": queues}


def percentiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


# ---- (d): admission to the call page ----------------------------------------------------------

async def admission_sample(port, advisor: Browser, seeded: Seeded, appt_id, pid, cookie):
    citizen = Browser(port, {seeded.cookie_name: cookie})
    fragment = await citizen.send("GET", "/termin/wartebereich", {"HX-Request": "true"})
    interval = float(EVERY.search(fragment.body).group(1))
    version = VERSION.search(fragment.body).group(1)
    page = await advisor.send("GET", "/beratung/warteschlange")
    token = CSRF.search(page.body).group(1)
    admitted_at: list[float] = []
    arrived = asyncio.get_running_loop().create_future()

    async def poll():
        loop = asyncio.get_running_loop()
        next_at = loop.time() + interval  # htmx's first poll: one interval after the swap
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += interval
            reply = await citizen.send("GET", f"/termin/wartebereich?v={version}",
                                       {"HX-Request": "true"})
            if reply.status == 200 and "data-admitted" in reply.body:
                call = await citizen.send("GET", "/termin/anruf")
                arrived.set_result((time.perf_counter(), call.status))
                return

    poll_task = asyncio.create_task(poll())
    await asyncio.sleep(random.uniform(0.5, 0.5 + 2 * interval))
    admitted_at.append(time.perf_counter())
    reply = await advisor.send("POST", f"/beratung/termine/{appt_id}/einlassen/{pid}",
                               {"HX-Request": "true"}, form={"csrf_token": token})
    if reply.status != 200:
        poll_task.cancel()
        raise SystemExit(f"admission failed: HTTP {reply.status}")
    at, status = await asyncio.wait_for(arrived, 30)
    if status != 200:
        raise SystemExit(f"call page: HTTP {status}")
    return at - admitted_at[0], interval


async def admissions(port: int, seeded: Seeded) -> dict:
    advisor = await sign_in(port, seeded.advisor_emails[0])
    out = {}
    for kind, rows in seeded.admission.items():
        times, interval = [], None
        for appt_id, pid, cookie in rows:
            seconds, interval = await admission_sample(port, advisor, seeded, appt_id, pid,
                                                       cookie)
            times.append(seconds)
        out[kind] = {"times": times, "interval": interval}
    return out


# ---- the run ----------------------------------------------------------------------------------

def run_stack(db_uri_cm, args, label: str, tmp: Path, full: bool) -> dict:
    port = free_port()
    with db_uri_cm as db_uri:
        instance = tmp / label
        instance.mkdir()
        env = environment(db_uri, port, instance)
        print(f"[{label}] migrating and seeding …", file=sys.stderr, flush=True)
        migrate(env)
        seeded = seed(env, args.samples)
        with gunicorn(env, port, threads=args.threads):
            print(f"[{label}] (a){'/(b)' if full else ''} wrk …", file=sys.stderr, flush=True)
            result = {"throughput": measure_throughput(port, seeded, instance, args.wrk_seconds,
                                                       args.rounds, with_queue=full)}
            if full:
                print(f"[{label}] (d) admissions …", file=sys.stderr, flush=True)
                result["admission"] = asyncio.run(admissions(port, seeded))
                print(f"[{label}] (c) {len(seeded.waiting)} citizens for {args.minutes} min …",
                      file=sys.stderr, flush=True)
                result["simulation"] = asyncio.run(simulate(port, seeded, args.minutes))
                result["citizens"] = len(seeded.waiting)
        return result


@contextmanager
def sqlite_database(tmp: Path):
    yield f"sqlite:///{tmp / 'bench.db'}"


def ok(flag: bool) -> str:
    return "met" if flag else "**not met**"


def report(pg: dict, sqlite: dict | None, args) -> str:
    rows = ["| measurement | figure | goal | |", "| --- | --- | --- | --- |"]
    t = pg["throughput"]
    for key, name in (("waiting_room", "(a) unchanged waiting-room poll"),
                      ("queue", "(b) unchanged queue poll")):
        r = t[key]
        rows.append(f"| {name}, PostgreSQL | {r['poll']:.0f}/s against {r['bare']:.0f}/s "
                    f"(`{t['bare_path']}`; medians), paired ratio **{r['ratio']:.0%}** "
                    f"(answers: {r['poll_status']}) | ≥ 70 % | {ok(r['ratio'] >= 0.7)} |")
    if sqlite:
        r = sqlite["throughput"]["waiting_room"]
        rows.append(f"| (a) unchanged waiting-room poll, SQLite | {r['poll']:.0f}/s against "
                    f"{r['bare']:.0f}/s = **{r['ratio']:.0%}** (answers: {r['poll_status']}) | "
                    f"≥ 70 % | "
                    f"{ok(r['ratio'] >= 0.7)} |")
    sim = pg["simulation"]
    for key, name in (("citizens", f"(c) {pg['citizens']} citizens, poll every 3 s"),
                      ("advisors", f"(c) {N_ADVISORS} advisors, queue poll every 5 s")):
        tally = sim[key]
        p50, p95, p99 = percentiles(tally.latencies)
        errors = sum(tally.errors.values())
        rows.append(f"| {name}, {args.minutes:g} min | {len(tally.latencies) + errors} polls "
                    f"({tally.statuses}), errors **{errors}** {tally.errors or ''}; latency "
                    f"p50 {p50 * 1000:.0f} ms, p95 **{p95 * 1000:.0f} ms**, p99 "
                    f"{p99 * 1000:.0f} ms | 0 errors | {ok(errors == 0)} |")
    for kind, name in (("due", "(d) “Let in” → call page, appointment started"),
                       ("early", "(d) “Let in” → call page, before the start time")):
        a = pg["admission"][kind]
        times = sorted(a["times"])
        p50, p95, _ = percentiles(times)
        rows.append(f"| {name} (poll {a['interval']:g} s, {len(times)} samples) | p50 "
                    f"{p50:.2f} s, p95 **{p95:.2f} s**, max {times[-1]:.2f} s | p95 ≤ 3 s | "
                    f"{ok(p95 <= 3)} |")
    lines = []
    for label, r in (("(a) PostgreSQL", t["waiting_room"]), ("(b) PostgreSQL", t["queue"]),
                     *((("(a) SQLite", sqlite["throughput"]["waiting_room"]),) if sqlite
                       else ())):
        pairs = ", ".join(f"{b:.0f}/{p:.0f}" for b, p in r["rounds"])
        lines.append(f"- {label}, bare/poll req/s per round: {pairs}")
    return "\n".join(rows) + "\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="(c) duration")
    parser.add_argument("--wrk-seconds", type=int, default=3, help="(a), (b): per round")
    parser.add_argument("--rounds", type=int, default=12, help="(a), (b): alternating rounds")
    parser.add_argument("--samples", type=int, default=20, help="(d): admissions per kind")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker (1: sync workers)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip SQLite for (a)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="h4_bench_") as tmp_name:
        tmp = Path(tmp_name)
        pg = run_stack(postgres_database(), args, "postgresql", tmp, full=True)
        sqlite = None if args.no_sqlite else run_stack(sqlite_database(tmp), args, "sqlite",
                                                       tmp, full=False)
    print(f"\nRun of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} "
          f"cores, gunicorn 2 sync workers, wrk -t2 -c32, {args.rounds}×{args.wrk_seconds} s "
          f"per endpoint\n")
    print(report(pg, sqlite, args))


if __name__ == "__main__":
    main()
