"""The systemd units of deploy/systemd: valid for systemd, and every command they run exists."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
VENV_BIN = Path(sys.executable).parent
INSTALLED_BIN = "/opt/videotermin/venv/bin/"
INSTALLED_APP = "/opt/videotermin/app/"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS / name)
    return parser


def test_units_pass_systemd_analyze_verify(tmp_path):
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.fail("systemd-analyze is missing (apt-get install systemd)")
    # The units name the installed paths; here they point at this checkout's virtualenv.
    for source in UNITS.iterdir():
        text = source.read_text().replace(INSTALLED_BIN, f"{VENV_BIN}/")
        (tmp_path / source.name).write_text(text)
    (tmp_path / "videotermin@8001.service").write_text(
        (tmp_path / "videotermin@.service").read_text())
    names = ["videotermin@8001.service", "videotermin-migrate.service",
             "videotermin-mail.service", "videotermin-mail.timer",
             "videotermin-retention.service", "videotermin-retention.timer"]
    done = subprocess.run([verify, "verify", "--man=no", *names], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_timers_start_their_services_and_instances_migrate_first():
    assert unit("videotermin-mail.timer")["Timer"]["OnCalendar"] == "*-*-* *:*:00"
    assert "03:15" in unit("videotermin-retention.timer")["Timer"]["OnCalendar"]
    instance = unit("videotermin@.service")
    assert "videotermin-migrate.service" in instance["Unit"]["Requires"]
    assert "videotermin-migrate.service" in instance["Unit"]["After"]
    service = instance["Service"]
    assert service["EnvironmentFile"] == "/etc/videotermin/portal.env"
    for hardening in ("NoNewPrivileges", "PrivateTmp"):
        assert service[hardening] == "yes"
    assert service["ProtectSystem"] == "strict" and service["UMask"] == "0077"


@pytest.mark.parametrize("name", ["videotermin-migrate.service", "videotermin-mail.service",
                                  "videotermin-retention.service"])
def test_each_flask_command_of_a_unit_exists(name, tmp_path):
    command = shlex.split(unit(name)["Service"]["ExecStart"])
    assert command[:3] == [f"{INSTALLED_BIN}flask", "--app", "portal"]
    env = {"PATH": "/usr/bin:/bin", "PORTAL_SECRET_KEY": "x" * 64,
           "PORTAL_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/portal.db"}
    done = subprocess.run([str(VENV_BIN / "flask"), *command[1:], "--help"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout


def test_the_gunicorn_unit_runs_the_deploy_config_and_the_wsgi_app():
    command = shlex.split(unit("videotermin@.service")["Service"]["ExecStart"])
    assert command[0] == f"{INSTALLED_BIN}gunicorn"
    config = command[command.index("-c") + 1]
    assert config.startswith(INSTALLED_APP)
    assert (ROOT / config.removeprefix(INSTALLED_APP)).is_file()
    assert command[-1] == "wsgi:app" and (ROOT / "wsgi.py").is_file()
