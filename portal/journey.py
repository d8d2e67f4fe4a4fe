"""The participant's journey: its states, the transitions between them, who makes each one,
when it is allowed and what is recorded; which page a participant belongs on now; the waiting
room's clock.

Nothing else changes `Participant.journey_state`: routes and services call the named
transitions below (`open_link`, `agree`, `decline`, ... `end`, `reschedule`, `cancel`). A
transition that is not allowed from the participant's state, or whose condition does not hold,
raises IllegalTransition and changes nothing; the app answers it with the page the person
belongs on (portal/errors.py), never with a 500. Each allowed transition adds its audit event
to the caller's transaction; the caller commits.

`TRANSITIONS` is the whole table; docs/architecture.md shows it as a diagram and a table made
by `markdown()` (`python -m portal.journey` prints them), and a test keeps the two the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app

from .audit import audit
from .models import (
    Advisor,
    Appointment,
    AppointmentStatus,
    ConsentDecision,
    JourneyState,
    Participant,
    utcnow,
)

S = JourneyState
ORDER = list(S)  # the states in the order of the journey (models.JourneyState)
INITIAL = S.INVITED  # every participant starts here when the appointment is created

# ---- groupings of states ------------------------------------------------------------------

BEFORE_CONSENT = frozenset({S.INVITED, S.LINK_OPENED, S.DECLINED})  # no consent in force
AFTER_CONSENT = frozenset(S) - BEFORE_CONSENT  # agreed, and not withdrawn since
# Consented and checked, not (yet) let in: the waiting room is their page.
READY = frozenset({S.CHECKED, S.WAITING, S.LEFT})
# Admitted once: the call is their page (they rejoin it without a new admission).
IN_OR_AFTER_CALL = frozenset({S.ADMITTED, S.IN_CALL, S.LEFT_CALL, S.DONE})
# Never came into the waiting room: "did not come" on the queue once the appointment is over.
NOT_YET_ARRIVED = frozenset({S.INVITED, S.LINK_OPENED, S.CONSENTED, S.CHECKED})


# ---- the waiting room's clock -------------------------------------------------------------

def waiting_room_opens_at(appointment: Appointment) -> datetime:
    return appointment.starts_at - timedelta(
        minutes=current_app.config["WAITING_ROOM_OPENS_MINUTES"])


def waiting_room_is_open(appointment: Appointment) -> bool:
    return utcnow() >= waiting_room_opens_at(appointment)


# ---- the transitions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """What must hold for the appointment besides the participant's state."""

    text: str
    holds: Callable[[Appointment], bool]


SCHEDULED = Condition("the appointment is scheduled",
                      lambda appointment: appointment.status is AppointmentStatus.SCHEDULED)
ROOM_OPEN = Condition("its waiting room is open", waiting_room_is_open)


@dataclass(frozen=True)
class Transition:
    name: str
    # Who makes it. For a participant's own transition also the audit event's actor; an
    # appointment's event names its actor when it happens ("advisor", "cli", "participant").
    by: str
    moves: Mapping[JourneyState, JourneyState]  # from -> to; from other states: not allowed
    audit: str | None  # the audit event's action (None: nothing recorded)
    when: tuple[Condition, ...] = ()
    # An appointment's event: moves every participant (from any state), one audit event.
    for_everyone: bool = False
    what: str = field(default="", compare=False)  # a line for the docs

    def problem(self, participant: Participant) -> str | None:
        """Why it is not allowed now, or None."""
        if participant.journey_state not in self.moves:
            return f"not from {participant.journey_state.value}"
        return _unmet(self, participant.appointment)

    def allows(self, participant: Participant) -> bool:
        return self.problem(participant) is None


def _unmet(transition: Transition, appointment: Appointment) -> str | None:
    return next((f"only when {c.text}" for c in transition.when if not c.holds(appointment)),
                None)


class IllegalTransition(Exception):
    """A transition that is not allowed from the participant's state or at this time.
    Nothing has changed; the app answers with the page the person belongs on."""

    def __init__(self, transition: Transition, reason: str, *,
                 participant: Participant | None = None,
                 appointment: Appointment | None = None):
        super().__init__(f"{transition.name}: {reason}")
        self.transition = transition
        self.participant = participant
        self.appointment = appointment if appointment is not None else (
            participant.appointment if participant is not None else None)


def _to(target: JourneyState, sources) -> dict[JourneyState, JourneyState]:
    return {s: target for s in ORDER if s in sources}


def _stay(states) -> dict[JourneyState, JourneyState]:
    return {s: s for s in ORDER if s in states}


OPEN_LINK = Transition(
    "open_link", "participant", _to(S.LINK_OPENED, {S.INVITED}), None,
    what="The personal link is opened for the first time (link_opened_at is the record).")
AGREE = Transition(
    "consent", "participant", {**_to(S.CONSENTED, BEFORE_CONSENT), **_stay(AFTER_CONSENT)},
    "consent.agreed",
    what="Agrees to the declaration of consent; agreeing again later records it and stays.")
DECLINE = Transition(
    "decline", "participant", _to(S.DECLINED, BEFORE_CONSENT), "consent.declined",
    what="Does not agree.")
WITHDRAW = Transition(
    "withdraw", "participant", _to(S.DECLINED, AFTER_CONSENT), "consent.withdrawn",
    what="Withdraws a consent given before, at any time; the device checks it allowed go.")
RECORD_CHECK = Transition(
    "record_check", "participant", {S.CONSENTED: S.CHECKED, **_stay(AFTER_CONSENT - {
        S.CONSENTED})}, "device_check.done",
    what="A device check is stored (only after consent); checking again later stays.")
ENTER_WAITING_ROOM = Transition(
    "enter_waiting_room", "participant", _to(S.WAITING, {S.CHECKED}), "waiting_room.entered",
    when=(SCHEDULED, ROOM_OPEN),
    what="The waiting room's page, or its poll once the room opens, lets the participant in.")
RETURN_TO_WAITING_ROOM = Transition(
    "return_to_waiting_room", "participant", _to(S.WAITING, {S.LEFT}), "waiting_room.entered",
    when=(SCHEDULED, ROOM_OPEN),
    what="Back after leaving: a page load only (a poll still under way when the participant "
         "left must not bring them back).")
LEAVE_WAITING_ROOM = Transition(
    "leave_waiting_room", "participant", _to(S.LEFT, {S.WAITING}), "waiting_room.left",
    what="Leaves the waiting room; may come back while the link works.")
ADMIT = Transition(
    "admit", "advisor", _to(S.ADMITTED, {S.WAITING}), "participant.admitted",
    when=(SCHEDULED,),
    what="The advisor (of the appointment, or an admin) lets a waiting participant in.")
JOIN_CALL = Transition(
    "join_call", "participant", _to(S.IN_CALL, {S.ADMITTED, S.IN_CALL, S.LEFT_CALL}),
    "call.joined", when=(SCHEDULED,),
    what="Joins the call: the built-in call's join, or the hand-off page with a fresh join "
         "URL of another provider (a reload, a second tab or the personal link again joins "
         "again, without a new admission).")
LEAVE_CALL = Transition(
    "leave_call", "participant", _to(S.LEFT_CALL, {S.IN_CALL}), "call.left",
    what="Leaves the call with its leave button, or lands on the page a provider sends "
         "people to when they leave its meeting (a reload or a closed tab is no leaving); "
         "the link brings them back in.")
END = Transition(
    "end", "advisor or provider",
    {**_stay(S), **_to(S.DONE, {S.ADMITTED, S.IN_CALL, S.LEFT_CALL})},
    "appointment.ended", when=(SCHEDULED,), for_everyone=True,
    what="The advisor ends the appointment (or BigBlueButton reports that the meeting people "
         "were handed over to has ended): the call is over for everyone admitted; the "
         "others' links show that it is over.")
RESCHEDULE = Transition(
    "reschedule", "advisor or cli",
    {**_stay(S), **_to(S.CHECKED, {S.WAITING, S.LEFT, S.ADMITTED, S.IN_CALL, S.LEFT_CALL})},
    "appointment.rescheduled", when=(SCHEDULED,), for_everyone=True,
    what="The appointment moves: nobody waits or is admitted any more (consent and device "
         "check stay); everyone gets a new link.")
CANCEL = Transition(
    "cancel", "advisor, cli or participant", _stay(S), "appointment.cancelled",
    when=(SCHEDULED,), for_everyone=True,
    what="The appointment is cancelled (by its advisor, the CLI, the citizen or the legal "
         "representative): every state stays as it is and every link stops working.")

TRANSITIONS = (OPEN_LINK, AGREE, DECLINE, WITHDRAW, RECORD_CHECK, ENTER_WAITING_ROOM,
               RETURN_TO_WAITING_ROOM, LEAVE_WAITING_ROOM, ADMIT, JOIN_CALL, LEAVE_CALL, END,
               RESCHEDULE, CANCEL)

ADMITTABLE = frozenset(ADMIT.moves)


def _move(participant: Participant, transition: Transition, *, advisor: Advisor | None = None,
          detail: str | None = None) -> None:
    problem = transition.problem(participant)
    if problem is not None:
        raise IllegalTransition(transition, problem, participant=participant)
    participant.journey_state = transition.moves[participant.journey_state]
    if transition.audit:
        audit(transition.audit, actor=transition.by, advisor=advisor,
              appointment=participant.appointment, participant=participant, detail=detail)


def _move_everyone(appointment: Appointment, transition: Transition, *, actor: str,
                   advisor: Advisor | None, participant: Participant | None = None,
                   detail: str | None = None) -> None:
    problem = _unmet(transition, appointment)
    if problem is not None:
        raise IllegalTransition(transition, problem, appointment=appointment)
    for p in appointment.participants:
        p.journey_state = transition.moves[p.journey_state]
    audit(transition.audit, actor=actor, advisor=advisor, appointment=appointment,
          participant=participant, detail=detail)


# ---- the named transitions: what routes and services call -------------------------------

def open_link(participant: Participant) -> None:
    _move(participant, OPEN_LINK)
    participant.link_opened_at = utcnow()


def agree(participant: Participant) -> None:
    _move(participant, AGREE)


def decline(participant: Participant) -> None:
    _move(participant, DECLINE)
    participant.device_checks.clear()


def withdraw(participant: Participant) -> None:
    """What the consent allowed goes: agreeing again means checking the device again."""
    _move(participant, WITHDRAW)
    participant.device_checks.clear()


def decline_or_withdraw(participant: Participant) -> ConsentDecision:
    """"I do not agree": a withdrawal if the participant had agreed. Returns what to record."""
    if WITHDRAW.allows(participant):
        withdraw(participant)
        return ConsentDecision.WITHDRAWN
    decline(participant)
    return ConsentDecision.DECLINED


def record_check(participant: Participant, problems: list[str]) -> None:
    _move(participant, RECORD_CHECK, detail=",".join(problems) or "ok")


def enter_waiting_room(participant: Participant) -> None:
    _move(participant, ENTER_WAITING_ROOM)
    participant.waiting_since = utcnow()


def return_to_waiting_room(participant: Participant) -> None:
    _move(participant, RETURN_TO_WAITING_ROOM)
    participant.waiting_since = utcnow()


def leave_waiting_room(participant: Participant) -> None:
    _move(participant, LEAVE_WAITING_ROOM)


def admit(participant: Participant, advisor: Advisor) -> None:
    _move(participant, ADMIT, advisor=advisor)
    participant.admitted_at = utcnow()


def join_call(participant: Participant) -> None:
    _move(participant, JOIN_CALL)


def leave_call(participant: Participant) -> None:
    _move(participant, LEAVE_CALL)


def end(appointment: Appointment, advisor: Advisor | None, *, actor: str = "advisor") -> None:
    """`actor` "provider": the provider's end callback (no advisor)."""
    _move_everyone(appointment, END, actor=actor, advisor=advisor)


def reschedule(appointment: Appointment, *, actor: str, advisor: Advisor | None,
               detail: str) -> None:
    _move_everyone(appointment, RESCHEDULE, actor=actor, advisor=advisor, detail=detail)
    for p in appointment.participants:  # the day starts afresh
        p.waiting_since = p.last_seen_at = None
        p.admitted_at = p.identity_checked_at = None


def cancel(appointment: Appointment, *, actor: str, advisor: Advisor | None,
           by_participant: Participant | None = None) -> None:
    _move_everyone(appointment, CANCEL, actor=actor, advisor=advisor, participant=by_participant)


def in_state(state: JourneyState):
    """SQL: the participant's row is in `state`. For conditional UPDATEs that must not act
    on someone who has moved on meanwhile (presence is written only while waiting)."""
    return Participant.journey_state == state


# ---- where a participant belongs ----------------------------------------------------------

def next_endpoint(participant: Participant) -> str:
    """The page this participant should see now."""
    appointment = participant.appointment
    state = participant.journey_state
    if appointment.status is AppointmentStatus.ENDED:
        return "citizen.closing" if state in IN_OR_AFTER_CALL else "citizen.over"
    if state is S.DECLINED:
        return "citizen.declined"
    if state in IN_OR_AFTER_CALL:
        return "call.participant_call"  # rejoin without a new admission
    # These states are reached only after consent and device check: the waiting room's
    # polls need not load either to know.
    if state in READY:
        return "citizen.waiting_room"
    if not participant.has_consented:
        return "citizen.start"
    if participant.device_check is None:
        return "citizen.device_check"
    return "citizen.waiting_room"


# ---- the table as a diagram and a table, for docs/architecture.md -------------------------

def mermaid() -> str:
    """The transitions as a Mermaid state diagram (a transition that moves nobody has no
    arrow; the table lists it)."""
    lines = ["stateDiagram-v2", f"    [*] --> {INITIAL.value}: invitation"]
    arrows: dict[tuple[JourneyState, JourneyState], list[str]] = {}
    for transition in TRANSITIONS:
        for source, target in transition.moves.items():
            if source is not target:
                arrows.setdefault((source, target), []).append(transition.name)
    for (source, target), names in sorted(
            arrows.items(), key=lambda a: (ORDER.index(a[0][0]), ORDER.index(a[0][1]))):
        lines.append(f"    {source.value} --> {target.value}: {', '.join(names)}")
    return "\n".join(lines)


def _moves_text(transition: Transition) -> str:
    parts = []
    for target in ORDER:
        sources = [s.value for s in ORDER
                   if transition.moves.get(s) is target and s is not target]
        if sources:
            parts.append(f"{', '.join(sources)} → {target.value}")
    stays = [s.value for s in ORDER if transition.moves.get(s) is s]
    if transition.for_everyone:
        parts.append("all others stay" if parts else "every state stays")
    elif stays:
        parts.append(f"stays: {', '.join(stays)}")
    return "; ".join(parts)


def table() -> str:
    rows = ["| transition | by | from → to | only when | audit event | what |",
            "| --- | --- | --- | --- | --- | --- |"]
    for t in TRANSITIONS:
        when = ", ".join(c.text for c in t.when) or "–"
        audit_text = f"`{t.audit}`" + (" (once, for the appointment)" if t.for_everyone else "") \
            if t.audit else "–"
        rows.append(f"| `{t.name}` | {t.by} | {_moves_text(t)} | {when} | {audit_text} | "
                    f"{t.what} |")
    return "\n".join(rows)


def markdown() -> str:
    """What docs/architecture.md holds between its journey markers."""
    return f"```mermaid\n{mermaid()}\n```\n\n{table()}"


if __name__ == "__main__":
    print(markdown())
