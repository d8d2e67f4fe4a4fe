"""The survey after the call: offered on the closing page, voluntary, anonymous (counted
only, with no link to a person, an appointment or a time finer than the week), once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal import admission, create_app
from portal.extensions import db
from portal.models import AuditEvent, Participant, StatCounter, SurveyState
from portal.statistics import iso_week
from portal.survey_questions import DEFAULT_DIR, SurveyFileError

from .helpers import csrf_token
from .journey_helpers import book, to_waiting_room

ANSWERS = {"overall": "4", "av_quality": "5", "use_again": "yes"}


def after_call(client, advisor, **book_args):
    """The citizen was in the call and the advisor has ended it: the closing page is theirs."""
    appointment, paths = book(advisor, **book_args)
    to_waiting_room(client, paths["citizen"])
    db.session.expire_all()  # the journey happened in the requests' own sessions
    assert admission.admit(appointment, [appointment.citizen], advisor) == 1
    admission.end_appointment(appointment, advisor)
    return appointment


def answer(client, answers=ANSWERS):
    token = csrf_token(client, "/termin/umfrage")
    return client.post("/termin/umfrage", data={"csrf_token": token, **answers})


def counters() -> dict[tuple[str, str], int]:
    db.session.expire_all()
    return {(c.dimension, c.value): c.count for c in db.session.scalars(
        sa.select(StatCounter).where(StatCounter.dimension.like("survey_%")))}


def test_the_closing_page_offers_the_survey_and_records_only_that(app, client, advisor):
    appointment = after_call(client, advisor)
    page = client.get("/termin/ende")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Eine kurze Umfrage" in html and 'href="/termin/umfrage"' in html
    db.session.expire_all()
    assert db.session.get(Participant, appointment.citizen.id).survey is SurveyState.OFFERED


def test_answers_are_counted_with_no_link_to_the_person(app, client, advisor):
    appointment = after_call(client, advisor)
    client.get("/termin/ende")
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    form = client.get("/termin/umfrage").get_data(as_text=True)
    assert "Wie zufrieden sind Sie insgesamt" in form and "Würden Sie wieder" in form

    response = answer(client)
    assert response.status_code == 302 and response.location.endswith("/termin/umfrage/danke")
    assert "Vielen Dank für Ihre Antworten" in client.get(response.location).get_data(
        as_text=True)
    assert counters() == {("survey_overall", "4"): 1, ("survey_av_quality", "5"): 1,
                          ("survey_use_again", "yes"): 1}

    # The schema: only week, team, question, answer and a count; no key to anything.
    inspector = sa.inspect(db.engine)
    columns = {c["name"] for c in inspector.get_columns("stat_counter")}
    assert columns == {"week", "team_id", "dimension", "value", "count"}
    assert inspector.get_foreign_keys("stat_counter") == []
    # The rows: the appointment's ISO week and "no team", nothing finer.
    rows = db.session.execute(sa.text(
        "SELECT week, team_id, dimension, value, count FROM stat_counter "
        "WHERE dimension LIKE 'survey_%'")).all()
    assert {(r.week, r.team_id) for r in rows} == {(iso_week(appointment.starts_at), 0)}
    assert all(re.fullmatch(r"\d{4}-W\d{2}", r.week) for r in rows)
    # The participant's row says "answered", nothing else; nothing was audited.
    citizen = db.session.get(Participant, appointment.citizen.id)
    assert citizen.survey is SurveyState.ANSWERED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == audit_before


def test_a_second_submission_is_refused(app, client, advisor):
    after_call(client, advisor)
    token = csrf_token(client, "/termin/umfrage")
    assert answer(client).status_code == 302
    # The same form sent again (a second tab, the back button): refused, nothing counted.
    again = client.post("/termin/umfrage", data={"csrf_token": token, **ANSWERS,
                                                 "overall": "1"})
    assert again.status_code == 409
    assert "bereits beantwortet" in again.get_data(as_text=True)
    assert counters()[("survey_overall", "4")] == 1
    assert ("survey_overall", "1") not in counters()
    # The form itself says so too, and the closing page no longer offers it.
    assert "bereits beantwortet" in client.get("/termin/umfrage").get_data(as_text=True)
    assert 'href="/termin/umfrage"' not in client.get("/termin/ende").get_data(as_text=True)


def test_missing_answers_show_an_error_summary_and_keep_the_given_ones(app, client, advisor):
    after_call(client, advisor)
    response = answer(client, {"overall": "2", "use_again": "maybe"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r"<title>Fehler: ", html)
    start = html.index('class="error-summary"')
    summary = html[start:html.index("</ul>", start)]
    assert 'href="#av_quality-1"' in summary and 'href="#use_again-yes"' in summary
    assert 'href="#overall-1"' not in summary
    assert re.search(r'id="overall-2" name="overall" value="2" checked', html)
    assert "maybe" not in html  # never echoed
    assert counters() == {}


def test_leaving_stores_nothing_and_the_survey_stays_open(app, client, advisor):
    appointment = after_call(client, advisor)
    client.get("/termin/ende")
    left = client.get("/termin/umfrage/verlassen")
    assert left.status_code == 200
    assert "Es wurde nichts gespeichert" in left.get_data(as_text=True)
    assert counters() == {}
    db.session.expire_all()
    assert db.session.get(Participant, appointment.citizen.id).survey is SurveyState.OFFERED
    assert answer(client).status_code == 302  # changed their mind


def test_the_survey_is_only_for_after_the_call(app, client, advisor):
    appointment, paths = book(advisor)
    assert client.get("/termin/umfrage").status_code == 404  # no link opened
    to_waiting_room(client, paths["citizen"])
    response = client.get("/termin/umfrage")
    assert response.status_code == 302 and response.location.endswith("/termin/wartebereich")
    posted = client.post("/termin/umfrage", data={
        "csrf_token": csrf_token(client, "/termin/wartebereich"), **ANSWERS})
    assert posted.status_code == 302
    assert counters() == {}


def test_the_survey_in_english(app, client, advisor):
    after_call(client, advisor)
    with client.session_transaction() as session:
        session["lang"] = "en"
    html = client.get("/termin/umfrage").get_data(as_text=True)
    assert "Overall, how satisfied are you" in html and "very satisfied" in html
    assert answer(client).status_code == 302
    assert counters()[("survey_use_again", "yes")] == 1  # counted per key, whatever language


def test_retention_clears_the_survey_flag(app, client, advisor, runner):
    from datetime import timedelta

    from portal.models import utcnow

    appointment = after_call(client, advisor)
    answer(client)
    appointment.starts_at = utcnow() - timedelta(days=30)
    appointment.ended_at = utcnow() - timedelta(days=30)
    db.session.commit()
    assert runner.invoke(args=["retention", "purge"]).exit_code == 0
    db.session.expire_all()
    assert db.session.get(Participant, appointment.citizen.id).survey is None
    assert counters()[("survey_overall", "4")] == 1  # the answers stay, anonymous


def _copy_texts(tmp_path) -> Path:
    folder = tmp_path / "survey"
    folder.mkdir()
    for path in DEFAULT_DIR.glob("*.toml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_the_operator_can_replace_the_wording(config, tmp_path):
    folder = _copy_texts(tmp_path)
    de = folder / "de.toml"
    de.write_text(de.read_text(encoding="utf-8").replace(
        "Wie gut waren Bild und Ton?", "Konnten Sie uns gut sehen und hören?"), encoding="utf-8")
    app = create_app({**config, "SURVEY_DIR": str(folder)})
    assert app.extensions["survey"]["de"].questions[1].text == \
        "Konnten Sie uns gut sehen und hören?"


@pytest.mark.parametrize("change, message", [
    (lambda f: (f / "de.toml").unlink(), "de.toml is missing"),
    (lambda f: (f / "en.toml").write_text((f / "en.toml").read_text(encoding="utf-8").replace(
        'key = "use_again"', 'key = "again"'), encoding="utf-8"), "same questions"),
    (lambda f: (f / "de.toml").write_text((f / "de.toml").read_text(encoding="utf-8").replace(
        '"sehr schlecht", ', ""), encoding="utf-8"), "needs 5 labels"),
    (lambda f: (f / "de.toml").write_text("title = [", encoding="utf-8"), "de.toml"),
])
def test_broken_survey_files_stop_start_up(config, tmp_path, change, message):
    folder = _copy_texts(tmp_path)
    change(folder)
    with pytest.raises(SurveyFileError, match=re.escape(message)):
        create_app({**config, "SURVEY_DIR": str(folder)})
