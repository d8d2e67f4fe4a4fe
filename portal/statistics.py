"""Anonymous statistics: counters per ISO week × team × dimension, counted when things happen.

Nothing here is derived from personal rows afterwards, so the retention job's erasing changes
no figure, and no counter names a person: a counter is (week, team, dimension, value, count).

Where the counts come from:
- portal/audit.py hands every audit event to `on_event` in the same transaction: admissions
  (waiting time), the end (held, call duration, provider) and cancellations (by whom);
- a stored device check (`count_device_check`): grade, browser family, system family;
- the survey (`count_survey`);
- appointments nobody ended or cancelled (no-shows: nobody came, so there is no event) are
  settled by `settle_finished`, which the scheduled jobs run once their links have expired.
An appointment's outcome is claimed with one conditional UPDATE of `outcome_counted`, so it is
counted exactly once whoever gets there first, on any number of instances.

Increments are collected in the session and written just before its commit, sorted, as one
upsert (`UPDATE … SET count = count + n`), so concurrent writers neither lose a count nor
deadlock, and no counter row stays locked while a request talks to a provider. A rollback
drops them with everything else.

Every count goes to the ISO week of the appointment's start (in the portal's time zone).
Reading (`table`, `weekly`) suppresses every cell below MIN_CELL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, attributes

from .extensions import db
from .models import (
    Appointment,
    AppointmentStatus,
    DeviceCheck,
    JourneyState,
    Participant,
    StatCounter,
    utcnow,
)
from .timeutil import to_local

MIN_CELL = 5  # cells with fewer are shown as "fewer than 5", on the page and in the CSV
NO_TEAM = 0  # until teams exist every appointment counts here

# ---- dimensions and their values (in display order) ----------------------------------------

OUTCOME = "outcome"
OUTCOMES = ("held", "not_held", "no_show", "cancelled")
CANCELLED_BY = "cancelled_by"
CANCELLERS = ("advisor", "agency", "citizen", "legal_representative")
WAITING = "waiting_minutes"
# Histogram buckets of the wait from entering the waiting room to admission: (label, below
# this many minutes); the last is open. Median and 90th percentile are read from these.
WAITING_BUCKETS = (("0-1", 1), ("1-2", 2), ("2-3", 3), ("3-5", 5), ("5-10", 10),
                   ("10-15", 15), ("15-20", 20), ("20-30", 30), ("30-45", 45),
                   ("45-60", 60), ("60+", None))
DURATION = "call_minutes"
DURATION_BANDS = (("0-5", 5), ("5-10", 10), ("10-20", 20), ("20-30", 30), ("30-45", 45),
                  ("45-60", 60), ("60+", None))
PROVIDER = "provider"
GRADE = "check_grade"
GRADES = ("good", "video", "audio_only", "not_ready")
BROWSER = "browser"
BROWSERS = ("Chrome", "Edge", "Firefox", "Safari", "Samsung Internet", "Opera", "other")
SYSTEM = "os"
SYSTEMS = ("Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS", "other")
SURVEY_PREFIX = "survey_"  # + the question's key (portal/survey/questions.py)

# ua-parser's OS families → the families counted (anything else is "other").
_SYSTEM_FAMILIES = {"Windows": "Windows", "Mac OS X": "macOS", "iOS": "iOS",
                    "Android": "Android", "Linux": "Linux", "Ubuntu": "Linux",
                    "Fedora": "Linux", "Debian": "Linux", "Chrome OS": "ChromeOS"}
_BROWSER_FAMILIES = {"Samsung Internet": "Samsung Internet", "Opera": "Opera",
                     "Opera Mobile": "Opera"}

_PENDING_KEY = "statistics_pending"


def iso_week(moment: datetime) -> str:
    year, week, _ = to_local(moment).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str) -> date:
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def team_of(appointment: Appointment) -> int:
    # Teams come later (issue 10's admin part); then an appointment's team is counted.
    return getattr(appointment, "team_id", None) or NO_TEAM


def _band(minutes: float, bands) -> str:
    for label, below in bands:
        if below is None or minutes < below:
            return label
    raise AssertionError("the last band is open")


def browser_family(name: str | None) -> str:
    if name in BROWSERS:
        return name
    return _BROWSER_FAMILIES.get(name or "", "other")


def system_family(os_name: str | None) -> str:
    # DeviceCheck.os is "<family> <version>": the family is what is counted.
    text = os_name or ""
    for family, counted in sorted(_SYSTEM_FAMILIES.items(), key=lambda f: -len(f[0])):
        if text == family or text.startswith(family + " "):
            return counted
    return "other"


# ---- counting ----------------------------------------------------------------------------

def count(appointment: Appointment, dimension: str, value: str, n: int = 1, *,
          session: Session | None = None) -> None:
    """Add n to a counter when the session commits (nothing if it rolls back)."""
    session = session or db.session()
    key = (iso_week(appointment.starts_at), team_of(appointment), dimension, str(value)[:32])
    session.info.setdefault(_PENDING_KEY, Counter())[key] += n


def _flush_pending(session: Session) -> None:
    pending: Counter | None = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    rows = [dict(week=k[0], team_id=k[1], dimension=k[2], value=k[3], count=n)
            for k, n in sorted(pending.items()) if n]
    if not rows:
        return
    dialect = session.get_bind(StatCounter.__mapper__).dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the portal runs on these two
        raise RuntimeError(f"statistics need PostgreSQL or SQLite, not {dialect}")
    statement = insert(StatCounter).values(rows)
    # One statement, rows in key order: concurrent commits lock counters in the same order.
    session.execute(statement.on_conflict_do_update(
        index_elements=["week", "team_id", "dimension", "value"],
        set_={"count": StatCounter.count + statement.excluded.count}))


def _drop_pending(session: Session, *args) -> None:
    session.info.pop(_PENDING_KEY, None)


# Every session of the portal (Flask-SQLAlchemy's and any other) writes its counts on commit.
if not event.contains(Session, "before_commit", _flush_pending):
    event.listen(Session, "before_commit", _flush_pending)
    event.listen(Session, "after_rollback", _drop_pending)


def _claim_outcome(appointment: Appointment) -> bool:
    """True for the one caller that may count this appointment's outcome."""
    if appointment.id is None or appointment.outcome_counted:
        return False
    claimed = db.session.execute(
        update(Appointment)
        .where(Appointment.id == appointment.id, Appointment.outcome_counted.is_(False))
        .values(outcome_counted=True)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return False
    attributes.set_committed_value(appointment, "outcome_counted", True)
    return True


def _never_came(participant: Participant | None) -> bool:
    return participant is None or participant.journey_state in (
        JourneyState.INVITED, JourneyState.LINK_OPENED, JourneyState.CONSENTED,
        JourneyState.CHECKED, JourneyState.DECLINED)


def _count_outcome(appointment: Appointment, now: datetime, *, ended: bool) -> None:
    admitted = [p.admitted_at for p in appointment.participants if p.admitted_at is not None]
    if admitted:
        count(appointment, OUTCOME, "held")
        count(appointment, PROVIDER, _provider_used(appointment))
        if ended:  # an appointment nobody ended has no known duration
            minutes = (now - min(admitted)).total_seconds() / 60
            count(appointment, DURATION, _band(max(minutes, 0), DURATION_BANDS))
    elif _never_came(appointment.citizen):
        count(appointment, OUTCOME, "no_show")
    else:  # the citizen came but was not let in
        count(appointment, OUTCOME, "not_held")


def _provider_used(appointment: Appointment) -> str:
    meeting = appointment.provider_meeting
    if meeting is not None:
        return meeting.provider
    return appointment.provider or current_app.config["PROVIDER"]


def _canceller(actor: str, participant: Participant | None) -> str:
    if participant is not None:
        return participant.role.value
    return "advisor" if actor == "advisor" else "agency"


def on_event(action: str, *, actor: str, appointment: Appointment | None,
             participant: Participant | None) -> None:
    """Count what an audit event says, in its transaction (called by portal/audit.py)."""
    if appointment is None:
        return
    now = utcnow()
    if action == "participant.admitted" and participant is not None:
        if participant.waiting_since is not None:
            minutes = (now - participant.waiting_since).total_seconds() / 60
            count(appointment, WAITING, _band(max(minutes, 0), WAITING_BUCKETS))
    elif action == "appointment.ended":
        if _claim_outcome(appointment):
            _count_outcome(appointment, now, ended=True)
    elif action == "appointment.cancelled":
        if _claim_outcome(appointment):
            count(appointment, OUTCOME, "cancelled")
            count(appointment, CANCELLED_BY, _canceller(actor, participant))


def count_device_check(appointment: Appointment, check: DeviceCheck) -> None:
    """A stored device check: its grade and the browser and system families."""
    if check.grade in GRADES:
        count(appointment, GRADE, check.grade)
    count(appointment, BROWSER, browser_family(check.browser))
    count(appointment, SYSTEM, system_family(check.os))


def count_survey(appointment: Appointment, answers: dict[str, str]) -> None:
    for key, value in answers.items():
        count(appointment, SURVEY_PREFIX + key, value)


def settle_after() -> timedelta:
    """When an appointment nobody ended or cancelled is over: its links have stopped working
    (the end plus PORTAL_LINK_GRACE_MINUTES), so nobody can come any more."""
    return timedelta(minutes=current_app.config["LINK_GRACE_MINUTES"])


def settle_finished(now: datetime | None = None) -> int:
    """Count the outcome of scheduled appointments that are over and were neither ended nor
    cancelled: a no-show if the citizen never came, held if someone was let in. Run by the
    scheduled jobs; commits. Returns how many were counted."""
    now = now or utcnow()
    # A first filter in SQL (started before the cutoff), the exact end in Python.
    cutoff = now - settle_after()
    candidates = db.session.scalars(select(Appointment).where(
        Appointment.status == AppointmentStatus.SCHEDULED,
        Appointment.outcome_counted.is_(False),
        Appointment.starts_at < cutoff).order_by(Appointment.id)).all()
    counted = 0
    for appointment in candidates:
        if appointment.ends_at + settle_after() > now:
            continue
        if _claim_outcome(appointment):
            _count_outcome(appointment, now, ended=False)
            counted += 1
        db.session.commit()  # one appointment per transaction: short locks
    return counted


# ---- reading -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    value: str
    count: int

    @property
    def shown(self) -> int | None:
        """The number, or None when it is suppressed (fewer than MIN_CELL)."""
        return self.count if self.count >= MIN_CELL else None


def _filtered(first_week: str, last_week: str, team: int | None):
    query = select(StatCounter).where(StatCounter.week >= first_week,
                                      StatCounter.week <= last_week)
    if team is not None:
        query = query.where(StatCounter.team_id == team)
    return query


def totals(first_week: str, last_week: str, team: int | None = None
           ) -> dict[str, Counter]:
    """dimension -> Counter(value -> count) over the weeks (and team; None: all teams)."""
    result: dict[str, Counter] = {}
    for row in db.session.scalars(_filtered(first_week, last_week, team)):
        result.setdefault(row.dimension, Counter())[row.value] += row.count
    return result


def by_week(first_week: str, last_week: str, team: int | None = None
            ) -> dict[str, dict[str, Counter]]:
    """week -> dimension -> Counter(value -> count)."""
    result: dict[str, dict[str, Counter]] = {}
    for row in db.session.scalars(_filtered(first_week, last_week, team)):
        result.setdefault(row.week, {}).setdefault(row.dimension, Counter())[row.value] += \
            row.count
    return result


def rows(first_week: str, last_week: str, team: int | None = None) -> list[StatCounter]:
    """The counters themselves, by week, team, dimension and value (for the export)."""
    return list(db.session.scalars(_filtered(first_week, last_week, team).order_by(
        StatCounter.week, StatCounter.team_id, StatCounter.dimension, StatCounter.value)))


def teams() -> list[int]:
    return list(db.session.scalars(select(StatCounter.team_id).distinct()
                                   .order_by(StatCounter.team_id)))


def cells(counter: Counter, values: Iterable[str] | None = None) -> list[Cell]:
    """The cells of one dimension: the known values in their order (0 when never counted),
    then any others by name."""
    known = list(values or [])
    others = sorted(v for v in counter if v not in known)
    return [Cell(v, counter.get(v, 0)) for v in [*known, *others]]


def percentile_bucket(counter: Counter, share: float, buckets=WAITING_BUCKETS) -> str | None:
    """The histogram bucket that holds the given share (0.5: median, 0.9: p90), or None with
    fewer than MIN_CELL observations (too few to say anything without pointing at someone)."""
    total = sum(counter.get(label, 0) for label, _ in buckets)
    if total < MIN_CELL:
        return None
    running = 0
    for label, _ in buckets:
        running += counter.get(label, 0)
        if running >= share * total:
            return label
    return buckets[-1][0]  # pragma: no cover - the loop always reaches the total
