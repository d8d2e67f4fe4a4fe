"""The admin's statistics page: anonymous counters as server-rendered SVG charts, each with
its table, filtered by period and team, and a CSV export."""

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/verwaltung")

from . import routes  # noqa: E402,F401
