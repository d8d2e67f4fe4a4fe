"""Videotermin portal: video appointments for public agencies."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from jinja2 import StrictUndefined

from . import config, converters

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    converters.register(app)  # bounded <int:…> ids before any route exists
    app.config.from_object(config.Defaults)
    app.config.from_prefixed_env("PORTAL")
    if test_config:
        app.config.update(test_config)
    config.finish(app)
    if app.testing:
        # A misspelt or missing template variable fails the test instead of rendering as "".
        app.jinja_options = {**app.jinja_options, "undefined": StrictUndefined}
    from .session_cookie import ThrottledRefreshSessionInterface

    app.session_interface = ThrottledRefreshSessionInterface()  # re-signed when changed
    if app.config["PROXY_FIX_HOPS"]:
        # Real client addresses for rate limits and the device check, from trusted proxies only.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)

    from .extensions import babel, csrf, db, htmx, limiter, login_manager, mail, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    mail.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    # The limiter object is process-wide and keeps the default limits of the first app that set
    # them; each app (one per test, in the suite) takes its own from its own config.
    limiter.limit_manager.set_default_limits([])
    limiter.limit_manager.set_application_limits([])
    limiter.init_app(app)

    from . import access, i18n, labels, logs, security

    babel.init_app(app, locale_selector=i18n.select_locale,
                   default_translation_directories=str(Path(__file__).parent / "translations"))
    i18n.init_app(app)
    labels.init_app(app)
    access.init_app(app)
    security.init_app(app)
    logs.init_app(app)

    from .auth import login_manager_setup

    login_manager.init_app(app)
    login_manager_setup(login_manager)

    from .advisor import bp as advisor_bp
    from .auth import bp as auth_bp
    from .call import bp as call_bp
    from .citizen import bp as citizen_bp
    from .errors import register_error_handlers
    from .health import bp as health_bp
    from .netcheck import bp as netcheck_bp
    from .pages import bp as pages_bp
    from .reports import bp as reports_bp
    from .survey import bp as survey_bp

    app.register_blueprint(pages_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(advisor_bp)
    app.register_blueprint(citizen_bp)
    app.register_blueprint(call_bp)
    app.register_blueprint(netcheck_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(survey_bp)
    app.register_blueprint(reports_bp)
    register_error_handlers(app)

    from .cli import register_cli

    register_cli(app)
    return app
