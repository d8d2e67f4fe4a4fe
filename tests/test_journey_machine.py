"""The journey's state machine (portal/journey.py): every transition from every state.

The expected table is written out here, not read from the code: a change to what is allowed
must change this table too.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import journey
from portal.extensions import db
from portal.journey import IllegalTransition
from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    DeviceCheck,
    JourneyState,
    Participant,
    ParticipantRole,
    utcnow,
)

# Columns: the states in JourneyState's order (abbreviated as in CODES). A cell names the state
# the transition leads to from the column's state; "-" means not allowed (IllegalTransition,
# nothing changes).
CODES = {"inv": JourneyState.INVITED, "open": JourneyState.LINK_OPENED,
         "cons": JourneyState.CONSENTED, "decl": JourneyState.DECLINED,
         "chk": JourneyState.CHECKED, "wait": JourneyState.WAITING, "left": JourneyState.LEFT,
         "adm": JourneyState.ADMITTED, "call": JourneyState.IN_CALL,
         "lcall": JourneyState.LEFT_CALL, "done": JourneyState.DONE}
TABLE = """
transition              inv   open  cons  decl  chk   wait  left  adm   call  lcall done
open_link               open  -     -     -     -     -     -     -     -     -     -
consent                 cons  cons  cons  cons  chk   wait  left  adm   call  lcall done
decline                 decl  decl  -     decl  -     -     -     -     -     -     -
withdraw                -     -     decl  -     decl  decl  decl  decl  decl  decl  decl
record_check            -     -     chk   -     chk   wait  left  adm   call  lcall done
enter_waiting_room      -     -     -     -     wait  -     -     -     -     -     -
return_to_waiting_room  -     -     -     -     -     -     wait  -     -     -     -
leave_waiting_room      -     -     -     -     -     left  -     -     -     -     -
admit                   -     -     -     -     -     adm   -     -     -     -     -
join_call               -     -     -     -     -     -     -     call  call  call  -
leave_call              -     -     -     -     -     -     -     -     lcall -     -
end                     inv   open  cons  decl  chk   wait  left  done  done  done  done
reschedule              inv   open  cons  decl  chk   chk   chk   chk   chk   chk   done
cancel                  inv   open  cons  decl  chk   wait  left  adm   call  lcall done
"""

AUDIT = {
    "open_link": None,
    "consent": "consent.agreed",
    "decline": "consent.declined",
    "withdraw": "consent.withdrawn",
    "record_check": "device_check.done",
    "enter_waiting_room": "waiting_room.entered",
    "return_to_waiting_room": "waiting_room.entered",
    "leave_waiting_room": "waiting_room.left",
    "admit": "participant.admitted",
    "join_call": "call.joined",
    "leave_call": "call.left",
    "end": "appointment.ended",
    "reschedule": "appointment.rescheduled",
    "cancel": "appointment.cancelled",
}

CALLS = {
    "open_link": lambda p, advisor: journey.open_link(p),
    "consent": lambda p, advisor: journey.agree(p),
    "decline": lambda p, advisor: journey.decline(p),
    "withdraw": lambda p, advisor: journey.withdraw(p),
    "record_check": lambda p, advisor: journey.record_check(p, []),
    "enter_waiting_room": lambda p, advisor: journey.enter_waiting_room(p),
    "return_to_waiting_room": lambda p, advisor: journey.return_to_waiting_room(p),
    "leave_waiting_room": lambda p, advisor: journey.leave_waiting_room(p),
    "admit": lambda p, advisor: journey.admit(p, advisor),
    "join_call": lambda p, advisor: journey.join_call(p),
    "leave_call": lambda p, advisor: journey.leave_call(p),
    "end": lambda p, advisor: journey.end(p.appointment, advisor),
    "reschedule": lambda p, advisor: journey.reschedule(
        p.appointment, actor="advisor", advisor=advisor, detail="moved"),
    "cancel": lambda p, advisor: journey.cancel(p.appointment, actor="advisor",
                                                advisor=advisor),
}


def _table() -> dict[str, dict[JourneyState, JourneyState | None]]:
    header, *rows = [line.split() for line in TABLE.strip().splitlines()]
    states = [CODES[code] for code in header[1:]]
    assert states == list(JourneyState), "the table's columns are all states, in order"
    return {name: {s: None if cell == "-" else CODES[cell]
                   for s, cell in zip(states, cells, strict=True)}
            for name, *cells in rows}


EXPECTED = _table()


def test_the_table_names_every_transition_of_the_code():
    assert [t.name for t in journey.TRANSITIONS] == list(EXPECTED) == list(CALLS)


def _participant(advisor, state: JourneyState, *, starts_in=timedelta(minutes=10),
                 status=AppointmentStatus.SCHEDULED) -> Participant:
    """A participant in `state`, alone in an appointment whose waiting room is open."""
    appointment = Appointment(uid=secrets.token_hex(16), advisor=advisor,
                              starts_at=utcnow() + starts_in, duration_minutes=30,
                              language="de", status=status)
    participant = Participant(appointment=appointment, role=ParticipantRole.CITIZEN,
                              name="Erika Mustermann", email="erika@example.org",
                              token_hash=secrets.token_hex(32), journey_state=state)
    db.session.add_all([appointment, participant])
    db.session.flush()
    return participant


def _audit_actions(participant: Participant) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.appointment_id == participant.appointment_id)))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_state_and_transition(app, advisor, name):
    wrong = []
    for state, target in EXPECTED[name].items():
        participant = _participant(advisor, state)
        try:
            CALLS[name](participant, advisor)
        except IllegalTransition as error:
            if target is not None:
                wrong.append(f"{state.value}: refused ({error}), expected {target.value}")
            elif participant.journey_state is not state or _audit_actions(participant):
                wrong.append(f"{state.value}: refused, but changed something")
            continue
        if target is None:
            wrong.append(f"{state.value}: allowed, expected IllegalTransition")
            continue
        if participant.journey_state is not target:
            wrong.append(f"{state.value}: went to {participant.journey_state.value}, "
                         f"expected {target.value}")
        expected_audit = [AUDIT[name]] if AUDIT[name] else []
        if _audit_actions(participant) != expected_audit:
            wrong.append(f"{state.value}: recorded {_audit_actions(participant)}, "
                         f"expected {expected_audit}")
    db.session.rollback()
    assert not wrong, f"{name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", ["admit", "join_call", "enter_waiting_room",
                                  "return_to_waiting_room", "end", "reschedule", "cancel"])
@pytest.mark.parametrize("status", [AppointmentStatus.CANCELLED, AppointmentStatus.ENDED])
def test_transitions_of_a_running_appointment_are_refused_once_it_is_over(
        app, advisor, name, status):
    source = next(s for s, target in EXPECTED[name].items() if target is not None)
    participant = _participant(advisor, source, status=status)
    with pytest.raises(IllegalTransition, match="only when the appointment is scheduled"):
        CALLS[name](participant, advisor)
    assert participant.journey_state is source
    assert _audit_actions(participant) == []


@pytest.mark.parametrize("name", ["enter_waiting_room", "return_to_waiting_room"])
def test_nobody_enters_the_waiting_room_before_it_opens(app, advisor, name):
    source = next(s for s, target in EXPECTED[name].items() if target is not None)
    participant = _participant(advisor, source, starts_in=timedelta(hours=2))
    with pytest.raises(IllegalTransition, match="waiting room is open"):
        CALLS[name](participant, advisor)
    assert participant.journey_state is source


def test_transitions_set_their_times_and_withdrawal_removes_the_device_checks(app, advisor):
    p = _participant(advisor, JourneyState.INVITED)
    journey.open_link(p)
    assert p.link_opened_at is not None

    p = _participant(advisor, JourneyState.CHECKED)
    journey.enter_waiting_room(p)
    assert p.waiting_since is not None
    journey.admit(p, advisor)
    assert p.admitted_at is not None
    (event,) = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "participant.admitted"))
    assert (event.actor, event.advisor_id, event.participant_id) == ("advisor", advisor.id, p.id)

    p.identity_checked_at = p.last_seen_at = utcnow()
    journey.reschedule(p.appointment, actor="cli", advisor=None, detail="moved")
    assert (p.waiting_since, p.admitted_at, p.identity_checked_at, p.last_seen_at) == \
        (None, None, None, None)

    p = _participant(advisor, JourneyState.WAITING)
    p.device_checks.append(DeviceCheck())
    journey.withdraw(p)
    assert p.device_checks == []


def test_declining_after_agreeing_is_a_withdrawal(app, advisor):
    from portal.models import ConsentDecision

    assert journey.decline_or_withdraw(_participant(advisor, JourneyState.LINK_OPENED)) is \
        ConsentDecision.DECLINED
    assert journey.decline_or_withdraw(_participant(advisor, JourneyState.WAITING)) is \
        ConsentDecision.WITHDRAWN


def test_only_the_journey_module_assigns_journey_states():
    """`grep -rn "journey_state =" portal/` in code: no assignment (plain, augmented or
    annotated) to a journey_state attribute, and no `journey_state=` keyword in an UPDATE's
    values(), outside portal/journey.py."""
    import ast

    root = Path(__file__).resolve().parent.parent / "portal"
    found = []
    for path in root.rglob("*.py"):
        if path.name == "journey.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
            if any(isinstance(t, ast.Attribute) and t.attr == "journey_state" for t in targets):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "values" and \
                    any(k.arg == "journey_state" for k in node.keywords):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert found == []


def test_the_diagram_in_the_architecture_document_is_the_code():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text(
        encoding="utf-8")
    start, end = "<!-- journey: made by `python -m portal.journey` -->", "<!-- journey end -->"
    assert start in doc and end in doc, "docs/architecture.md lost its journey markers"
    shown = doc.split(start, 1)[1].split(end, 1)[0].strip()
    assert shown == journey.markdown(), (
        "docs/architecture.md shows another journey than portal/journey.py: paste the output "
        "of `.venv/bin/python -m portal.journey` between its journey markers")
