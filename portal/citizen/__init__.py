"""The participant's side: the personal link and the pages it leads to."""

from flask import Blueprint

bp = Blueprint("citizen", __name__)

from . import consent, device_check, routes, waiting_room  # noqa: E402,F401
