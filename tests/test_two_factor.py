"""The TOTP second factor: enrolment, sign-in in two steps, recovery codes, no replay,
limits, the admin's reset (web and CLI) and PORTAL_REQUIRE_2FA."""

from __future__ import annotations

import hashlib
import re
import time

import pyotp
import pytest

from portal import create_app
from portal.extensions import db
from portal.models import Advisor, AuditEvent, RecoveryCode

from .conftest import IsolatedClient
from .helpers import csrf_token, login

SECRET_RE = re.compile(r'class="secret-key"><code>([A-Z2-7 ]+)</code>')
CODE_RE = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


@pytest.fixture
def config(config, request):
    config.update(getattr(request, "param", {}))
    return config


def _fresh(advisor) -> Advisor:
    db.session.expire_all()
    return db.session.get(Advisor, advisor.id)


def _actions():
    return [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]


def _step_code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset_steps * 30)


def _enrol(client) -> tuple[str, list[str]]:
    page = client.get("/konto/zweiter-faktor")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    secret = SECRET_RE.search(html).group(1).replace(" ", "")
    token = csrf_token(client, "/konto/zweiter-faktor")
    done = client.post("/konto/zweiter-faktor", data={"csrf_token": token,
                                                      "code": _step_code(secret)})
    assert done.status_code == 200
    return secret, CODE_RE.findall(done.get_data(as_text=True))


def _password_step(client, email):
    response = login(client, email)
    assert response.status_code == 302
    return response.headers["Location"]


def _code_step(client, code):
    token = csrf_token(client, "/anmelden/code")
    return client.post("/anmelden/code", data={"csrf_token": token, "code": code})


def _enrolled(app, advisor) -> tuple[str, list[str]]:
    client = app.test_client()
    login(client, advisor.email)
    # Enrolment uses up the current time step; the sign-ins in these tests use the next one.
    return _enrol(client)


def test_enrolment_shows_qr_code_and_key_and_gives_ten_recovery_codes(app, staff, advisor):
    page = staff.get("/konto/zweiter-faktor")
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert 'src="data:image/svg+xml' in html
    assert 'alt="QR-Code für Ihre Authenticator-App"' in html
    secret = SECRET_RE.search(html).group(1).replace(" ", "")
    assert len(secret) == 32  # 160 bits
    assert "style=" not in html.split("<main", 1)[1]  # strict CSP: no inline style

    token = csrf_token(staff, "/konto/zweiter-faktor")
    wrong = staff.post("/konto/zweiter-faktor", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 200
    assert "Der Code ist nicht richtig" in wrong.get_data(as_text=True)
    assert not _fresh(advisor).has_two_factor

    done = staff.post("/konto/zweiter-faktor", data={"csrf_token": token,
                                                     "code": _step_code(secret)})
    assert done.headers["Cache-Control"] == "no-store"
    codes = CODE_RE.findall(done.get_data(as_text=True))
    assert len(codes) == len(set(codes)) == 10
    fresh = _fresh(advisor)
    assert fresh.has_two_factor and fresh.totp_secret == secret
    stored = {c.code_hash for c in db.session.query(RecoveryCode)}
    assert len(stored) == 10
    plain = codes[0].replace("-", "")
    assert hashlib.sha256(plain.encode()).hexdigest() in stored  # hashed, never plain
    assert not any(plain in h for h in stored)
    assert "advisor.2fa_enrolled" in _actions()
    # Once set up, the page no longer shows the secret.
    assert "secret-key" not in staff.get("/konto/zweiter-faktor").get_data(as_text=True)


def test_sign_in_asks_for_the_code_after_the_password(app, advisor):
    secret, _ = _enrolled(app, advisor)
    client = app.test_client()
    assert _password_step(client, advisor.email) == "/anmelden/code"
    assert client.get("/beratung/termine").status_code == 302  # not signed in yet
    wrong = _code_step(client, "123456" if _step_code(secret, 1) != "123456" else "654321")
    assert wrong.status_code == 200
    assert "Der Code ist nicht richtig" in wrong.get_data(as_text=True)
    assert client.get("/beratung/termine").status_code == 302
    response = _code_step(client, _step_code(secret, 1))
    assert response.status_code == 302
    assert client.get("/beratung/termine").status_code == 200
    actions = _actions()
    assert "advisor.second_factor_failed" in actions and actions[-1] == "advisor.login"


def test_a_totp_code_cannot_be_replayed(app, advisor):
    secret, _ = _enrolled(app, advisor)
    code = _step_code(secret, 1)
    first = app.test_client()
    _password_step(first, advisor.email)
    assert _code_step(first, code).status_code == 302
    second = app.test_client()
    _password_step(second, advisor.email)
    assert _code_step(second, code).status_code == 200  # the same code, same window
    assert second.get("/beratung/termine").status_code == 302
    # Nor an older code of the window once a newer one was used.
    assert _code_step(second, _step_code(secret, 0)).status_code == 200


def test_a_recovery_code_works_once(app, advisor):
    _, codes = _enrolled(app, advisor)
    client = app.test_client()
    _password_step(client, advisor.email)
    assert _code_step(client, " " + codes[3].upper().replace("-", " ") + " ").status_code == 302
    assert client.get("/beratung/termine").status_code == 200
    again = app.test_client()
    _password_step(again, advisor.email)
    assert _code_step(again, codes[3]).status_code == 200
    assert again.get("/beratung/termine").status_code == 302
    assert db.session.query(RecoveryCode).filter(RecoveryCode.used_at.isnot(None)).count() == 1


def test_the_code_step_needs_the_password_step_first(app, client, advisor):
    _enrolled(app, advisor)
    assert client.get("/anmelden/code").headers["Location"] == "/anmelden"


@pytest.mark.parametrize("config", [{"LOGIN_ACCOUNT_RATE_LIMIT": "2 per 15 minutes"}],
                         indirect=True)
def test_codes_are_limited_per_account(app, advisor):
    secret, _ = _enrolled(app, advisor)
    for _ in range(2):
        client = app.test_client()
        _password_step(client, advisor.email)
        assert _code_step(client, "000000").status_code == 200
    client = app.test_client()
    _password_step(client, advisor.email)
    response = _code_step(client, _step_code(secret, 1))
    assert response.status_code == 429
    assert "Versuchen Sie es in 15 Minuten erneut" in response.get_data(as_text=True)
    assert client.get("/beratung/termine").status_code == 302


@pytest.mark.parametrize("config", [{"REQUIRE_2FA": True}], indirect=True)
def test_when_required_an_advisor_without_it_must_enrol_first(app, advisor):
    client = app.test_client()
    assert _password_step(client, advisor.email) == "/konto/zweiter-faktor"
    for url in ("/beratung/termine", "/beratung/warteschlange", "/konto/passwort"):
        assert client.get(url).status_code == 302, url
    page = client.get("/konto/zweiter-faktor").get_data(as_text=True)
    assert "Ihr Passwort ist richtig" in page
    secret, codes = _enrol(client)
    assert len(codes) == 10
    assert client.get("/beratung/termine").status_code == 200
    # Next time: password and code.
    other = app.test_client()
    assert _password_step(other, advisor.email) == "/anmelden/code"
    assert _code_step(other, _step_code(secret, 1)).status_code == 302


def test_require_2fa_defaults_on_in_production(tmp_path, config):
    production = {**config, "TESTING": False}
    assert create_app(production).config["REQUIRE_2FA"] is True
    assert create_app(config).config["REQUIRE_2FA"] is False
    assert create_app({**production, "REQUIRE_2FA": False}).config["REQUIRE_2FA"] is False


def test_admin_resets_a_second_factor_on_the_web(app, make_advisor, advisor):
    secret, _ = _enrolled(app, advisor)
    victim_session = app.test_client()
    _password_step(victim_session, advisor.email)
    _code_step(victim_session, _step_code(secret, 1))
    admin = make_advisor(email="admin@jobcenter.example", name="Ada Admin", admin=True)
    admin_client = app.test_client()
    login(admin_client, admin.email)
    page = admin_client.get("/verwaltung/beratende")
    assert page.status_code == 200
    assert "Anna Berater" in page.get_data(as_text=True)
    token = csrf_token(admin_client, "/verwaltung/beratende")
    assert admin_client.post(f"/verwaltung/beratende/{advisor.id}/zweiter-faktor").status_code \
        == 400  # no CSRF token
    response = admin_client.post(f"/verwaltung/beratende/{advisor.id}/zweiter-faktor",
                                 data={"csrf_token": token})
    assert response.status_code == 302
    fresh = _fresh(advisor)
    assert not fresh.has_two_factor and fresh.totp_secret is None
    assert db.session.query(RecoveryCode).count() == 0
    assert victim_session.get("/beratung/termine").status_code == 302  # sessions ended
    assert "advisor.2fa_reset" in _actions()
    # Without REQUIRE_2FA (testing) the password alone signs in again.
    assert login(app.test_client(), advisor.email).headers["Location"] == "/beratung/termine"


def test_only_admins_see_or_use_the_advisor_page(app, staff, advisor):
    assert staff.get("/verwaltung/beratende").status_code == 404
    token = csrf_token(staff, "/beratung/termine")
    assert staff.post(f"/verwaltung/beratende/{advisor.id}/zweiter-faktor",
                      data={"csrf_token": token}).status_code == 404
    assert app.test_client().get("/verwaltung/beratende").status_code == 302


def test_cli_resets_a_second_factor(app, advisor, runner):
    _enrolled(app, advisor)
    db.session.expire_all()  # enrolled through the web, not in this session
    result = runner.invoke(args=["advisor", "reset-2fa", advisor.email.upper()])
    assert result.exit_code == 0, result.output
    assert not _fresh(advisor).has_two_factor
    assert runner.invoke(args=["advisor", "reset-2fa", "nobody@example.org"]).exit_code != 0


def test_totp_state_is_shared_between_instances(app, config, advisor):
    """Two instances on one database: a code used on one is refused on the other."""
    secret, _ = _enrolled(app, advisor)
    other = create_app(config)
    other.test_client_class = IsolatedClient
    code = _step_code(secret, 1)
    a, b = app.test_client(), other.test_client()
    _password_step(a, advisor.email)
    _password_step(b, advisor.email)
    assert _code_step(a, code).status_code == 302
    assert _code_step(b, code).status_code == 200


# --- As in production: two instances on one PostgreSQL database and one Redis --------------

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/2"


@pytest.fixture
def two_instances(tmp_path):
    import secrets

    import flask_migrate
    import redis
    import sqlalchemy as sa

    from .conftest import base_config

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"h2_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    shared_redis = redis.Redis.from_url(REDIS_URL)
    shared_redis.flushdb()
    config = {**base_config(tmp_path, url), "RATELIMIT_STORAGE_URI": REDIS_URL,
              "LOGIN_ACCOUNT_RATE_LIMIT": "3 per 15 minutes", "REQUIRE_2FA": True}
    apps = [create_app(config) for _ in range(2)]
    for instance in apps:
        instance.test_client_class = IsolatedClient
    with apps[0].app_context():
        flask_migrate.upgrade()
        advisor = Advisor(name="Anna Berater", email="anna.berater@jobcenter.example")
        advisor.set_password("correct horse battery staple")
        db.session.add(advisor)
        db.session.commit()
        db.session.remove()
    try:
        yield apps
    finally:
        for instance in apps:
            with instance.app_context():
                db.engine.dispose()
        shared_redis.flushdb()
        shared_redis.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgres
def test_two_instances_share_sign_in_state(two_instances):
    a, b = two_instances
    email = "anna.berater@jobcenter.example"
    # Enrolment required on A after the password.
    on_a = a.test_client()
    assert _password_step(on_a, email) == "/konto/zweiter-faktor"
    secret, codes = _enrol(on_a)
    assert len(codes) == 10
    assert on_a.get("/beratung/termine").status_code == 200

    # A code used on A is refused on B; a recovery code works on B, once.
    code = _step_code(secret, 1)
    on_a2, on_b = a.test_client(), b.test_client()
    _password_step(on_a2, email)
    _password_step(on_b, email)
    assert _code_step(on_a2, code).status_code == 302
    assert _code_step(on_b, code).status_code == 200
    assert _code_step(on_b, codes[0]).status_code == 302
    assert on_b.get("/beratung/termine").status_code == 200

    # Signing out on B ends the sessions made on A; A's cookie on B is out as well.
    on_b.post("/abmelden", data={"csrf_token": csrf_token(on_b, "/beratung/termine")})
    assert on_a.get("/beratung/termine").status_code == 302
    assert on_a2.get("/beratung/termine").status_code == 302

    # Failed codes are counted per account across both instances (Redis): the replayed
    # code on B was the first of three.
    for client in (a.test_client(), b.test_client()):
        _password_step(client, email)
        assert _code_step(client, "000000").status_code == 200
    last = b.test_client()
    _password_step(last, email)
    assert _code_step(last, codes[1]).status_code == 429
