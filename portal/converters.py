"""URL converters bounded to what the database can hold.

Werkzeug's `int` converter accepts any number of digits; an id beyond a 64-bit integer then
fails inside the database driver (OverflowError: a 500). Bounded, such a URL simply does not
match: 404, like any other id that does not exist.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

DB_INT_MAX = 2**63 - 1  # PostgreSQL bigint, SQLite INTEGER


class BoundedIntConverter(IntegerConverter):
    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=DB_INT_MAX if max is None else max, signed=signed)


def register(app) -> None:
    """Replace `int` before any blueprint adds its rules (rules bind converters when added)."""
    app.url_map.converters["int"] = BoundedIntConverter
