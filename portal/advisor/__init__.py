"""The advisor's pages: appointments (list, create, reschedule, cancel)."""

from flask import Blueprint

bp = Blueprint("advisor", __name__, url_prefix="/beratung")

from . import queue, routes  # noqa: E402,F401
