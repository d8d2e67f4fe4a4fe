"""What the statistics page shows: sections of cells with translated labels, small cells
suppressed (statistics.MIN_CELL), and the geometry of their bars (percent of the widest)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from flask_babel import gettext as _

from .. import statistics as st
from ..labels import grade_label
from ..providers import label_of
from ..survey_questions import current_survey


@dataclass(frozen=True)
class Row:
    label: str
    count: int | None  # None: suppressed
    percent: float  # bar length, 0–100 (0 when suppressed)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    rows: list[Row]
    note: str | None = None


def _rows(counter: Counter, values, label) -> list[Row]:
    cells = st.cells(counter, values)
    shown = [c.shown for c in cells if c.shown is not None]
    widest = max(shown, default=0)
    return [Row(label(c.value), c.shown,
                round(100 * c.shown / widest, 1) if c.shown and widest else 0.0)
            for c in cells]


def _minutes(label: str) -> str:
    if label.endswith("+"):
        return _("%(minutes)s minutes or more", minutes=label[:-1])
    low, high = label.split("-")
    return _("%(low)s to %(high)s minutes", low=low, high=high)


def outcome_label(value: str) -> str:
    return {"held": _("held"), "not_held": _("came, but not let in"),
            "no_show": _("did not come"), "cancelled": _("cancelled")}.get(value, value)


def canceller_label(value: str) -> str:
    return {"advisor": _("by the advisor"), "agency": _("by the agency (command line)"),
            "citizen": _("by the citizen"),
            "legal_representative": _("by the legal representative")}.get(value, value)


def _other(value: str) -> str:
    return _("other") if value == "other" else value


def sections(totals: dict[str, Counter]) -> list[Section]:
    """Every dimension over the chosen period, in a fixed order."""
    get = lambda dimension: totals.get(dimension, Counter())  # noqa: E731
    waiting = get(st.WAITING)
    median = st.percentile_bucket(waiting, 0.5)
    p90 = st.percentile_bucket(waiting, 0.9)
    waiting_note = (_("Median: %(median)s; 90 per cent waited at most: %(p90)s.",
                      median=_minutes(median), p90=_minutes(p90))
                    if median and p90 else _("Too few admissions for a median."))
    result = [
        Section("outcome", _("Appointments"), _rows(get(st.OUTCOME), st.OUTCOMES,
                                                     outcome_label)),
        Section("cancelled-by", _("Cancelled, by whom"),
                _rows(get(st.CANCELLED_BY), st.CANCELLERS, canceller_label)),
        Section("waiting", _("Waiting time until admission"),
                _rows(waiting, [b for b, _ in st.WAITING_BUCKETS], _minutes), waiting_note),
        Section("duration", _("Length of the calls"),
                _rows(get(st.DURATION), [b for b, _ in st.DURATION_BANDS], _minutes)),
        Section("provider", _("Video service used"), _rows(get(st.PROVIDER), None, label_of)),
        Section("grade", _("Device checks by result"),
                _rows(get(st.GRADE), st.GRADES, grade_label)),
        Section("browser", _("Device checks by browser"),
                _rows(get(st.BROWSER), st.BROWSERS, _other)),
        Section("os", _("Device checks by operating system"),
                _rows(get(st.SYSTEM), st.SYSTEMS, _other)),
    ]
    for question in current_survey().questions:
        labels = dict(question.options)
        result.append(Section(
            f"survey-{question.key}", _("Survey: %(question)s", question=question.text),
            _rows(get(st.SURVEY_PREFIX + question.key), question.values,
                  lambda v, labels=labels: labels.get(v, v))))
    return result


@dataclass(frozen=True)
class Week:
    week: str
    held: int | None
    cancelled: int | None
    no_show: int | None
    median: str | None
    p90: str | None
    percent: float  # the held bar, of the busiest week


def _shown(n: int) -> int | None:
    return n if n >= st.MIN_CELL else None


def weeks(by_week: dict[str, dict[str, Counter]], all_weeks: list[str]) -> list[Week]:
    rows = []
    for week in all_weeks:
        data = by_week.get(week, {})
        outcome = data.get(st.OUTCOME, Counter())
        waiting = data.get(st.WAITING, Counter())
        median, p90 = st.percentile_bucket(waiting, 0.5), st.percentile_bucket(waiting, 0.9)
        rows.append(Week(week, _shown(outcome["held"]), _shown(outcome["cancelled"]),
                         _shown(outcome["no_show"]), median and _minutes(median),
                         p90 and _minutes(p90), 0.0))
    busiest = max((w.held or 0 for w in rows), default=0)
    return [Week(**{**w.__dict__, "percent": round(100 * (w.held or 0) / busiest, 1)
                    if busiest else 0.0}) for w in rows]
