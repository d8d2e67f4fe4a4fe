"""The hand-off and the built-in call: call pages and the HTTP signalling they use."""

from flask import Blueprint

bp = Blueprint("call", __name__)

from . import routes  # noqa: E402,F401
