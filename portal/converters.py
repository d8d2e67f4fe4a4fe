"""Request input bounded to what the database can hold: URL ids and NUL characters.

Werkzeug's `int` converter accepts any number of digits; an id beyond the id columns' range
then fails inside the database driver (OverflowError on SQLite beyond 2^63-1; "integer out of
range" on PostgreSQL beyond 2^31-1, as the id columns are `integer`): a 500. Bounded, such a
URL simply does not match: 404, like any other id that does not exist.
"""

from __future__ import annotations

from flask import abort, request
from werkzeug.routing import IntegerConverter

DB_INT_MAX = 2**31 - 1  # PostgreSQL `integer` (SQLite INTEGER holds 2^63-1)


class BoundedIntConverter(IntegerConverter):
    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=DB_INT_MAX if max is None else max, signed=signed)


def refuse_nul_characters():
    """PostgreSQL text cannot hold NUL, and no person types one: a query or form value with
    one is refused (400) before a view stores or searches it (a 500 otherwise). The network
    check's endpoints read their bodies themselves, as bytes, and are left alone."""
    if request.blueprint == "netcheck":
        return
    for values in (request.args, request.form):
        if any("\x00" in value for _, value in values.items(multi=True)):
            abort(400)


def register(app) -> None:
    """Replace `int` before any blueprint adds its rules (rules bind converters when added)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_nul_characters)
