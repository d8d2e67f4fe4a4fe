"""GET /verwaltung/statistik (the page) and /verwaltung/statistik.csv (the export), admins
only. Filters are a plain GET form: the page works without JavaScript and can be bookmarked."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from .. import statistics as st
from ..access import require_admin
from ..models import utcnow
from ..timeutil import to_local
from . import bp
from .figures import sections, weeks

DEFAULT_WEEKS = 12
MAX_DAYS = 3 * 366  # one request reads at most about three years of weekly counters


@bp.before_request
@login_required
def admins_only():
    require_admin()


def _week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks_between(first: date, last: date) -> list[str]:
    monday = first - timedelta(days=first.weekday())
    found = []
    while monday <= last:
        found.append(_week_of(monday))
        monday += timedelta(days=7)
    return found


def _filters():
    """(first day, last day, team or None, the form's values, error items)."""
    today = to_local(utcnow()).date()
    default_first = today - timedelta(weeks=DEFAULT_WEEKS - 1, days=today.weekday())
    values = {"von": request.args.get("von", default_first.isoformat())[:10],
              "bis": request.args.get("bis", today.isoformat())[:10],
              "team": request.args.get("team", "")[:10]}
    errors = []
    try:
        first = date.fromisoformat(values["von"])
    except ValueError:
        errors.append(("von", _("Enter the first day as a date, e.g. 2026-01-05.")))
        first = default_first
    try:
        last = date.fromisoformat(values["bis"])
    except ValueError:
        errors.append(("bis", _("Enter the last day as a date, e.g. 2026-03-29.")))
        last = today
    if not errors and first > last:
        errors.append(("bis", _("The last day must not be before the first day.")))
    elif not errors and (last - first).days > MAX_DAYS:
        errors.append(("von", _("Choose a period of at most three years.")))
    if errors:  # the page still shows something: the default period
        first, last = default_first, today
    team = None
    if values["team"]:
        try:
            team = int(values["team"])
        except ValueError:
            errors.append(("team", _("Choose a team from the list.")))
    return first, last, team, values, errors


@bp.get("/statistik")
def statistics_page():
    first, last, team, values, errors = _filters()
    week_list = _weeks_between(first, last)
    totals = st.totals(week_list[0], week_list[-1], team)
    context = dict(
        values=values, errors=errors, first=first, last=last, teams=st.teams(),
        sections=sections(totals),
        weeks=weeks(st.by_week(week_list[0], week_list[-1], team), week_list),
        min_cell=st.MIN_CELL, has_errors=bool(errors))
    return render_template("reports/statistics.html", **context), 422 if errors else 200


@bp.get("/statistik.csv")
def statistics_csv():
    first, last, team, values, errors = _filters()
    if errors:
        return Response("\n".join(message for _, message in errors) + "\n", status=422,
                        mimetype="text/plain")
    week_list = _weeks_between(first, last)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["week", "team", "dimension", "value", "count"])
    rows = st.rows(week_list[0], week_list[-1], team)
    for row in rows:
        # Small cells are suppressed here as on the page: never a count below MIN_CELL.
        shown = row.count if row.count >= st.MIN_CELL else f"<{st.MIN_CELL}"
        writer.writerow([row.week, row.team_id, row.dimension, row.value, shown])
    name = f"statistik-{week_list[0]}-{week_list[-1]}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
