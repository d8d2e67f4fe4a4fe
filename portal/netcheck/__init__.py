"""Network measurement endpoints: ping, download and upload for the browser's device check,
and the same data in the shape of a "Speedtest Mini" server for speedtest-cli."""

from flask import Blueprint

bp = Blueprint("netcheck", __name__)

from . import routes  # noqa: E402,F401
