"""The statistics page in Chromium: axe-clean, its tables carry the numbers the charts show,
small cells read "fewer than 5", and it fits a 320 px screen."""

from __future__ import annotations

from portal.extensions import db
from portal.models import Advisor, Role, StatCounter, utcnow
from portal.statistics import iso_week

from ..conftest import PASSWORD
from .steps import advisor_login, assert_accessible


def _admin_and_figures(server):
    with server.app.app_context():
        admin = Advisor(name="Ada Admin", email="admin@jobcenter.example", role=Role.ADMIN)
        admin.set_password(PASSWORD)
        db.session.add(admin)
        week = iso_week(utcnow())
        for dimension, value, count in [("outcome", "held", 12), ("outcome", "cancelled", 2),
                                        ("waiting_minutes", "1-2", 6),
                                        ("waiting_minutes", "5-10", 6),
                                        ("check_grade", "good", 9), ("browser", "Safari", 5),
                                        ("survey_overall", "5", 7)]:
            db.session.add(StatCounter(week=week, team_id=0, dimension=dimension, value=value,
                                       count=count))
        db.session.commit()
        return week


def test_the_charts_page_is_accessible_and_its_tables_carry_the_numbers(
        live_server, chromium, contexts):
    week = _admin_and_figures(live_server)
    page = contexts(chromium.new_context()).new_page()
    advisor_login(page, live_server.url, email="admin@jobcenter.example")
    page.get_by_role("link", name="Statistik").click()
    page.wait_for_url("**/verwaltung/statistik")
    assert_accessible(page, "statistics")

    def cell(section: str, label: str) -> str:
        table = page.locator(f"section[aria-labelledby='{section}-title'] table").first
        return table.locator("tr", has=page.locator(f"th:text-is('{label}')")).locator(
            "td").first.inner_text()

    assert cell("outcome", "stattgefunden") == "12"
    assert cell("outcome", "abgesagt") == "weniger als 5"
    assert cell("grade", "bereit für gutes Video") == "9"
    assert cell("survey-overall", "sehr zufrieden") == "7"
    # The chart says the same (its text is in the SVG, the bar is as long as the largest).
    chart = page.locator("section[aria-labelledby='outcome-title'] svg")
    assert chart.get_attribute("role") == "img"
    assert "12" in chart.text_content() and "weniger als 5" in chart.text_content()
    assert chart.locator("rect.bar").count() == 1
    weeks = page.locator("section[aria-labelledby='weeks-title'] table")
    row = weeks.locator("tr", has=page.locator(f"th:text-is('{week}')"))
    assert row.locator("td").nth(0).inner_text() == "12"
    assert row.locator("td").nth(3).inner_text() == "1 bis 2 Minuten"
    assert "Median: 1 bis 2 Minuten; 90 Prozent warteten höchstens: 5 bis 10 Minuten." in \
        page.locator("section[aria-labelledby='waiting-title']").inner_text()

    # Filtering is a plain form: the team's option, then the button, by keyboard.
    page.select_option("#team", "0")
    page.get_by_role("button", name="Anzeigen").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/verwaltung/statistik?*team=0*")
    assert cell("outcome", "stattgefunden") == "12"

    # 320 px: nothing but the tables' own scroll areas is wider than the screen.
    page.set_viewport_size({"width": 320, "height": 700})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page, "statistics at 320 px")
