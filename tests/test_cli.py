"""The operator's command line: advisors, appointments as JSON, demo data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from portal.extensions import db
from portal.models import Advisor, Appointment, OutgoingMail, Participant, Role
from portal.timeutil import to_local

from .dates import CLOCKS_FORWARD
from .helpers import login


def test_advisor_add_with_password_from_stdin(runner, client):
    result = runner.invoke(args=["advisor", "add", "Clara@Jobcenter.example", "--name",
                                 "Clara Beraterin", "--admin", "--password-stdin"],
                           input="a long enough password\n")
    assert result.exit_code == 0, result.output
    advisor = db.session.query(Advisor).one()
    assert advisor.email == "clara@jobcenter.example" and advisor.role is Role.ADMIN
    assert "a long enough password" not in advisor.password_hash
    assert advisor.password_hash.startswith("scrypt:")
    assert login(client, "clara@jobcenter.example", "a long enough password").status_code == 302


def test_advisor_add_asks_for_the_password(runner):
    result = runner.invoke(args=["advisor", "add", "dora@jobcenter.example", "--name", "Dora"],
                           input="prompted password 1\nprompted password 1\n")
    assert result.exit_code == 0, result.output
    assert db.session.query(Advisor).one().check_password("prompted password 1")


@pytest.mark.parametrize("args, stdin, message", [
    (["not-an-email", "--name", "X"], "long enough password\n", "E-Mail-Adresse"),
    (["e@jobcenter.example", "--name", "Line\nBreak"], "long enough password\n", "Zeile"),
    (["e@jobcenter.example", "--name", "E"], "short\n", "12 Zeichen"),
])
def test_advisor_add_rejects_bad_input(runner, args, stdin, message):
    result = runner.invoke(args=["advisor", "add", *args, "--password-stdin"], input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.query(Advisor).count() == 0


def test_advisor_add_refuses_duplicates(runner, make_advisor):
    make_advisor()
    result = runner.invoke(args=["advisor", "add", "ANNA.berater@jobcenter.example", "--name",
                                 "Anna", "--password-stdin"], input="long enough password\n")
    assert result.exit_code != 0 and "gibt bereits" in result.output


def future_local(days=3) -> str:
    return (to_local(datetime.now(UTC)) + timedelta(days=days)).strftime("%Y-%m-%dT09:30")


def add_args(**overrides) -> list[str]:
    opts = {"--advisor": "anna.berater@jobcenter.example", "--at": future_local(),
            "--duration": "30", "--citizen-name": "Erika Mustermann",
            "--citizen-email": "erika@example.org"}
    opts.update(overrides)
    args = ["appointment", "add"]
    for key, value in opts.items():
        if value is not None:
            args += [key, value]
    return args


def test_appointment_add_prints_json_with_working_links(runner, client, make_advisor):
    make_advisor()
    at = future_local()
    result = runner.invoke(args=add_args(**{"--at": at, "--customer-number": "123D456789",
                                            "--lang": "en"}) + [
        "--participant", "interpreter:Ivan Dolmetscher:ivan@example.org",
        "--participant", "legal_representative:Lena Vertreterin:lena@example.org",
        "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    appt = db.session.get(Appointment, data["appointment_id"])
    assert appt.language == "en"
    starts = datetime.fromisoformat(data["starts_at"])
    assert starts.utcoffset() is not None
    assert starts.strftime("%Y-%m-%dT%H:%M") == at
    assert starts == appt.starts_at
    assert [(p["role"], p["name"], p["email"]) for p in data["participants"]] == [
        ("citizen", "Erika Mustermann", "erika@example.org"),
        ("interpreter", "Ivan Dolmetscher", "ivan@example.org"),
        ("legal_representative", "Lena Vertreterin", "lena@example.org"),
    ]
    links = [p["link"] for p in data["participants"]]
    assert len(set(links)) == 3
    for link in links:
        assert link.startswith("http://portal.test/t/")
        fresh = client.application.test_client()
        assert fresh.get(urlsplit(link).path).status_code == 302
    assert db.session.query(OutgoingMail).count() == 3


BAD_CLI = [
    ("unknown advisor", {"--advisor": "nobody@example.org"}, [], "nobody@example.org"),
    ("time in the past", {"--at": "2020-01-01T09:00"}, [], "Zukunft"),
    ("not a time", {"--at": "tomorrow"}, [], "2026-12-01T09:30"),
    ("skipped by the clock change", {"--at": f"{CLOCKS_FORWARD.isoformat()}T02:30"}, [],
     "Uhren werden vorgestellt"),
    ("duration 0", {"--duration": "0"}, [], "zwischen 5 und 480"),
    ("duration 1000", {"--duration": "1000"}, [], "zwischen 5 und 480"),
    ("empty name", {"--citizen-name": " "}, [], "Namen"),
    ("newline in name", {"--citizen-name": "Erika\nBcc: x@example.org"}, [], "Zeile"),
    ("overlong name", {"--citizen-name": "E" * 200}, [], "120"),
    ("invalid e-mail", {"--citizen-email": "erika@@example"}, [], "Format"),
    ("unknown role", {}, ["--participant", "spy:Sam:sam@example.org"], "Unbekannte Rolle"),
    ("participant not ROLE:NAME:EMAIL", {}, ["--participant", "interpreter"], "ROLLE:NAME:E-MAIL"),
    ("participant with bad e-mail", {}, ["--participant", "other:Sam:nope"], "Format"),
    ("unknown language", {"--lang": "fr"}, [], "fr"),
]


@pytest.mark.parametrize("case, overrides, extra, message", BAD_CLI,
                         ids=[c[0] for c in BAD_CLI])
def test_appointment_add_rejects_bad_input(runner, make_advisor, case, overrides, extra,
                                           message):
    make_advisor()
    result = runner.invoke(args=add_args(**overrides) + extra + ["--json"])
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.query(Appointment).count() == 0
    assert db.session.query(Participant).count() == 0
    assert db.session.query(OutgoingMail).count() == 0


def test_demo_is_idempotent_and_prints_working_links(runner, app):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert db.session.query(Advisor).count() == 1
    assert db.session.query(Appointment).count() == 1
    password = next(line.split()[-1] for line in second.output.splitlines()
                    if "password" in line)
    link = next(line.split()[-1] for line in second.output.splitlines()
                if "(citizen)" in line)
    client = app.test_client()
    assert login(client, "demo.advisor@example.org", password).status_code == 302
    assert client.get(urlsplit(link).path).status_code == 302
    old_link = next(line.split()[-1] for line in first.output.splitlines()
                    if "(citizen)" in line)
    assert app.test_client().get(urlsplit(old_link).path).status_code == 404
