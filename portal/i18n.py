"""Language choice: German by default, English on request; remembered in the session."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session, url_for
from flask_babel import get_locale, refresh

from . import timeutil


def languages() -> tuple[str, ...]:
    return tuple(current_app.config["LANGUAGES"])


def select_locale() -> str:
    if not has_request_context():  # CLI and background work: the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    return chosen if chosen in languages() else current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    @app.before_request
    def remember_language_choice():
        # A plain link (?lang=en) switches the language, so it works without JavaScript.
        lang = request.args.get("lang")
        if lang in languages():
            session["lang"] = lang
        # Babel caches the locale on the app context, which may outlive one request.
        refresh()

    @app.context_processor
    def language_helpers():
        def switch_url(lang: str) -> str:
            if request.endpoint == "citizen.personal_link":
                # Never echo a token into the page; switch on a neutral URL instead.
                return url_for("citizen.link_invalid", lang=lang)
            if not request.endpoint or request.url_rule is None:
                return f"?lang={lang}"
            # Only the route's own arguments: query strings may hold anything a visitor typed
            # (url_for treats keys like _external or _method specially).
            return url_for(request.endpoint, **(request.view_args or {}), lang=lang)

        return {"current_lang": str(get_locale() or "de"), "language_switch_url": switch_url}

    # Dates for people, in the current language and the portal's time zone.
    def lang() -> str:
        return str(get_locale() or "de")

    app.add_template_filter(lambda dt: timeutil.long_datetime(dt, lang()), "long_datetime")
    app.add_template_filter(lambda dt: timeutil.short_datetime(dt, lang()), "short_datetime")
    app.add_template_filter(lambda dt: timeutil.clock_time(dt, lang()), "clock_time")
