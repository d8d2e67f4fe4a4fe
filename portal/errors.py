"""Friendly error pages in the visitor's language; never a bare stack trace."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/csrf.html"), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        template = "errors/404.html" if error.code in (403, 404, 410) else "errors/generic.html"
        # 403 looks like 404: nobody learns that someone else's appointment exists.
        code = 404 if error.code == 403 else error.code
        response = error.get_response()
        response.status_code = code
        response.set_data(render_template(template, code=code))
        response.mimetype = "text/html"
        return response
