"""The funnel report's pages through HTTP (SPEC §8): who may see them, the filters as
query parameters, bad filters answered with an error summary, the chart drawn without
JavaScript, the CSV downloads, and an audit event for every view and download."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.core import constants as c
from screening.models import AuditEvent
from screening.patient.responses import save_answer
from tests.factories import make_invited_episode, make_task
from tests.pages import page, text_of

from .test_triage import sign_in, staff_page


@pytest.fixture
def clinician(app: Flask, session: Session):
    return sign_in(app, session, "doc@example.nhs.uk", "clinician")


@pytest.mark.parametrize("role", ["clinician", "prescriber", "admin"])
def test_every_staff_role_sees_the_funnel(app: Flask, session: Session, role: str) -> None:
    make_task(session)
    client = sign_in(app, session, f"{role}@example.nhs.uk", role)
    html = staff_page(client, "/reports/funnel", "funnel")
    assert "Screening funnel" in html.title.get_text()
    assert client.get("/reports/funnel.csv").status_code == 200


@pytest.mark.parametrize("path", ["/reports/funnel", "/reports/funnel.csv?table=groups"])
def test_signed_out_visitors_are_sent_to_sign_in(app: Flask, path: str) -> None:
    response = app.test_client().get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_page_shows_the_stages_as_a_chart_and_a_table(session: Session, clinician) -> None:
    make_task(session, nhs_number="9990000018")
    make_task(session, nhs_number="9990000026", missed_meals="yes")
    html = staff_page(clinician, "/reports/funnel", "funnel")
    chart = html.select_one("svg.app-funnel-chart")
    assert chart.find("title").get_text() and "Invited: 2" in chart.find("desc").get_text()
    assert chart.get("viewbox") or chart.get("viewBox")
    rows = html.select("#stages-table tbody tr")
    assert [" ".join(r.get_text(" ").split()) for r in rows][:4] == [
        "Stage Invited Patients 2 % of previous stage – % of invited 100.0%",
        "Stage Text delivered Patients 0 % of previous stage 0.0% % of invited 0.0%",
        "Stage Opened the link Patients 0 % of previous stage – % of invited 0.0%",
        "Stage Completed Patients 2 % of previous stage – % of invited 100.0%",
    ]
    assert "All appointments, all clinics" in text_of(html.select_one("h1 + p"))
    # Each section states its disclosure rule once, under its tables; the patient groups'
    # adds the interval method.
    notes = {note["data-note-for"]: text_of(note) for note in html.select("[data-note-for]")}
    assert {"stages", "needs", "process", "clinics", "equity"} <= set(notes)
    assert "suppressed" in notes["stages"] and "Other counts are exact" in notes["stages"]
    assert "suppressed" in notes["equity"] and "Wilson" in notes["equity"]
    assert not html.select('[data-footer-for="stages-table"], [data-footer-for^="group-"]')
    assert "Money" in text_of(html) and "<script" not in str(chart)
    # Groups by name: the patients, born in 1960, are in the band "65 to 74".
    rows = html.select("#group-age_band tbody th")
    assert [text_of(row.select("span")[-1]) for row in rows] == ["65 to 74"]


def test_a_suppressed_count_is_drawn_as_c_never_as_a_bar(session: Session, clinician) -> None:
    make_task(session)
    html = staff_page(clinician, "/reports/funnel?suppress=yes", "funnel")
    chart = html.select_one("svg.app-funnel-chart")
    # One patient completed: invited, completed, flagged and wants help are [c] for
    # publication, the stages nobody reached are 0, and no bar is drawn for any of them.
    assert chart.select(".app-funnel-chart__bar") == []
    drawn = [text.get_text() for text in chart.select(".app-funnel-chart__value")]
    assert drawn.count("[c]") == 4 and drawn.count("0") == 5  # …, referred, helped
    assert "fewer than 8 (suppressed)" in chart.find("desc").get_text()


def test_a_bad_filter_is_answered_with_an_error_summary(clinician) -> None:
    html = staff_page(clinician, "/reports/funnel?from=2026-02-30", "funnel", status=400)
    summary = html.select_one(".nhsuk-error-summary")
    assert "Enter a real date" in summary.get_text()
    assert summary.find("a")["href"] == "#from-day"
    assert html.title.get_text().startswith("Error:")
    html = staff_page(clinician, "/reports/funnel?clinic=NOPE", "funnel", status=400)
    assert "not a clinic code" in text_of(html)


def test_each_table_downloads_as_csv_with_the_rule_it_applied(session: Session, clinician) -> None:
    make_task(session)
    response = clinician.get("/reports/funnel.csv?table=stages")
    assert response.mimetype == "text/csv"
    assert 'filename="funnel-stages.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["stage", "count", "pct_of_previous", "pct_of_invited"]
    assert rows[1] == ["invited", "1", "", "100.0"]
    published = clinician.get("/reports/funnel.csv?table=stages&suppress=yes")
    assert "for-publication" in published.headers["Content-Disposition"]
    assert "suppressed" in published.headers["X-Disclosure-Control"]
    assert list(csv.reader(io.StringIO(published.get_data(as_text=True))))[1][1] == "[c]"
    for table in ("domains", "by_clinic", "groups", "weekly", "process", "modes"):
        assert clinician.get(f"/reports/funnel.csv?table={table}").status_code == 200
    refused = page(clinician.get("/reports/funnel.csv?table=patients"), 400, "Error: ")
    assert "'patients' is not a table of the report" in text_of(refused.select_one("main"))
    bad_date = page(clinician.get("/reports/funnel.csv?from=2026-02-30"), 400, "Error: ")
    assert bad_date.select_one(".nhsuk-error-summary a")["href"] == "#from-day"


def test_views_and_downloads_are_audited_with_their_filters(session: Session, clinician) -> None:
    page(clinician.get("/reports/funnel?clinic=CARD-NUH&from=2026-01-01"))
    clinician.get("/reports/funnel.csv?table=groups&suppress=yes")
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "report").order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.detail) for e in events] == [
        (c.AUDIT_VIEW_REPORT, {"clinic": "CARD-NUH", "from": "2026-01-01"}),
        (c.AUDIT_EXPORT_REPORT, {"table": "groups", "suppress": True}),
    ]
    assert all(e.patient_id is None for e in events)


def test_where_patients_stop_names_the_question(session: Session, clinician) -> None:
    episode, _ = make_invited_episode(session)
    episode.opened_at = clock.now()
    barts = state().questionnaires.questionnaires["barts-social-welfare"]
    save_answer(session, barts, episode, "ends_meet", "no", now=clock.now())
    html = staff_page(clinician, "/reports/funnel", "funnel")
    rows = html.select("#dropoff-barts-social-welfare tbody tr")
    [row] = [tr for tr in rows if "Do you ever have to miss a meal" in text_of(tr.th)]
    assert [text_of(td.select("span")[-1]) for td in row.select("td")] == ["1", "100.0%"]
    assert 'most stopped at "Do you ever have to miss a meal' in text_of(html)
    download = clinician.get("/reports/funnel.csv?table=dropoff").text
    assert ["barts-social-welfare", "missed_meals", "1"] in list(csv.reader(io.StringIO(download)))
