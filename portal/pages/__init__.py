"""Public pages that need no link or login."""

from flask import Blueprint, redirect, render_template, request, url_for

from ..providers import available_providers

bp = Blueprint("pages", __name__)


@bp.app_template_global()
def video_providers():
    """The configured providers (label, what each receives, whether the call runs on the
    portal itself), for the privacy page and the consent files: templates/pages/_providers.html
    lists them, and an operator's own consent file can include it."""
    return available_providers()


@bp.get("/")
def home():
    return render_template("pages/home.html")


@bp.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico regardless of the <link rel="icon">.
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/technik-check")
def self_test():
    """The device and network check without an appointment; nothing is stored."""
    from ..browsers import inspect

    return render_template("pages/technik_check.html",
                           browser=inspect(request.headers.get("User-Agent")))


@bp.get("/technische-voraussetzungen")
def requirements():
    return render_template("pages/requirements.html")


@bp.get("/datenschutz")
def privacy():
    return render_template("pages/privacy.html")
