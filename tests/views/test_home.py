"""The staff side's frame (SPEC §8): the header navigation by role, and the home page's
counts, each equal to the list its link opens."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.models import StaffUser, TriageTask
from screening.triage import tasks
from screening.triage.service_levels import today
from tests.factories import make_invited_episode, make_task
from tests.pages import page, text_of
from tests.views.test_triage import post, sign_in, staff_page

TRIAGE_PAGES = ["/", "/triage", "/triage/to-call", "/triage/clinic-day", "/reports/funnel"]
NAVIGATION = {
    "prescriber": TRIAGE_PAGES,
    "admin": [*TRIAGE_PAGES, "/admin/users", "/admin/audit"],
    "clinician": ["/", "/reports/funnel"],
}


def navigation_of(html) -> list[str]:
    # The header's account area is a <nav> too, with a button and no links.
    return [link["href"] for link in html.select("header nav a")]


@pytest.mark.parametrize("role", sorted(NAVIGATION))
def test_every_staff_page_has_the_navigation_of_its_role_with_the_page_marked(
    app: Flask, session: Session, role: str
) -> None:
    client = sign_in(app, session, f"{role}@example.nhs.uk", role)
    for path in NAVIGATION[role]:
        html = page(client.get(path))
        assert navigation_of(html) == NAVIGATION[role], path
        current = html.select('header nav [aria-current="page"]')
        assert [link["href"] for link in current] == [path]
        assert html.select('header nav [aria-current="true"]') == [], path  # one marked


def test_a_page_below_one_in_the_navigation_marks_that_one_as_its_section(
    app: Flask, session: Session
) -> None:
    task = make_task(session)
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    html = staff_page(prescriber, f"/triage/{task.id}", "task")
    assert html.select('header nav [aria-current="page"]') == []
    assert [a["href"] for a in html.select('header nav [aria-current="true"]')] == ["/triage"]


def test_patient_pages_have_no_staff_navigation(app: Flask, session: Session) -> None:
    _, token = make_invited_episode(session)
    # Even in a staff member's browser (assisted mode), a patient's page links nowhere else.
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    html = page(prescriber.get(f"/s/{token}", follow_redirects=True))
    assert html.main["data-page"] == "start"
    assert html.select("header nav a") == []


def test_each_home_count_equals_the_list_its_link_opens(app: Flask, session: Session) -> None:
    now = clock.now()
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    # Urgent, nobody holds them: two. One more urgent task the prescriber claims.
    make_task(session, nhs_number="9990000026", feel_unsafe="yes")
    make_task(session, nhs_number="9990000034", feel_unsafe="yes")
    held = make_task(session, nhs_number="9990000042", feel_unsafe="yes")
    assert post(prescriber, f"/triage/{held.id}/claim", f"/triage/{held.id}").status_code == 303
    # A routine task three weeks old is past its due date; one made today is not.
    make_task(session, nhs_number="9990000050", submitted_at=now - timedelta(days=21))
    make_task(session, nhs_number="9990000069")
    # Today's clinic: a patient with a flagged need, and one who has not answered.
    noon = datetime.combine(today(), time(12), tzinfo=clock.LONDON)
    make_task(session, nhs_number="9990000077", appointment_at=noon)
    make_invited_episode(session, nhs_number="9990000085", appointment_at=now + timedelta(days=1))
    # A referral three weeks unanswered, on a task closed as referred, is overdue; one made
    # today is not.
    referred = make_task(session, nhs_number="9990000093", submitted_at=now - timedelta(days=22))
    user = session.scalars(select(StaffUser).where(StaffUser.email == "sp@example.nhs.uk")).one()
    _refer(session, referred, user, now - timedelta(days=21))
    tasks.close(
        session,
        referred.id,
        tasks.Context(by=user, now=now - timedelta(days=21)),
        outcome="referred",
        version=referred.version,
        config=state().config,
    )
    _refer(session, held, user, now)
    session.commit()

    home = staff_page(prescriber, "/", "home")
    counts = {
        element["data-count"]: int(element.get_text()) for element in home.select("[data-count]")
    }
    assert set(counts) == {
        "urgent_unclaimed",
        "overdue",
        "mine",
        "to_call",
        "clinic_today",
        "referrals_overdue",
    }
    expected_links = {
        "urgent_unclaimed": "/triage?priority=urgent&assigned=unassigned",
        "overdue": "/triage?overdue=yes",
        "mine": "/triage?assigned=me",
        "to_call": "/triage/to-call",
        "clinic_today": "/triage/clinic-day",
        "referrals_overdue": "/triage?referrals=overdue",
    }
    for name, href in expected_links.items():
        link = home.select_one(f'[data-count="{name}"]').find_parent("a")
        assert link["href"] == href, name
        listed = staff_page(prescriber, href, _kind(href))
        rows = {
            "/triage/to-call": "[data-episode-id]",
            "/triage/clinic-day": "#to-see [data-episode-id]",
        }.get(href.split("?")[0], "[data-task-id]")
        assert counts[name] == len(listed.select(rows)), name
        if rows == "[data-task-id]":  # the list says the same total as the count
            total = counts[name]
            assert f"{total} task{'s' if total != 1 else ''}" in text_of(listed), name
    assert counts == {
        "urgent_unclaimed": 2,
        "overdue": 1,
        "mine": 1,
        "to_call": 1,  # the patient of tomorrow's clinic who has not answered
        "clinic_today": 1,
        "referrals_overdue": 1,
    }


def _refer(session: Session, task: TriageTask, user: StaffUser, when: datetime) -> None:
    tasks.refer(
        session,
        task.id,
        tasks.Context(by=user, now=when),
        service="food-bank",
        services=state().config.services,
        domains=["food"],
    )


def _kind(href: str) -> str:
    return {"/triage/to-call": "to-call", "/triage/clinic-day": "clinic-day"}.get(
        href.split("?")[0], "queue"
    )


def test_the_overdue_filter_keeps_only_active_tasks_past_their_due_date(
    app: Flask, session: Session
) -> None:
    now = clock.now()
    late = make_task(session, nhs_number="9990000026", submitted_at=now - timedelta(days=21))
    make_task(session, nhs_number="9990000034")
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    html = staff_page(prescriber, "/triage?overdue=yes", "queue")
    assert [int(row["data-task-id"]) for row in html.select("[data-task-id]")] == [late.id]
    assert "Overdue only" in text_of(html) and html.find("a", href="/triage")
    refused = text_of(page(prescriber.get("/triage?overdue=soon"), 400))
    assert "'soon' is not a choice of the overdue filter: use overdue=yes" in refused


def test_a_clinician_sees_the_funnel_of_the_last_90_days_and_no_counts(
    app: Flask, session: Session
) -> None:
    make_task(session)
    clinician = sign_in(app, session, "doc@example.nhs.uk", "clinician")
    home = staff_page(clinician, "/", "home")
    assert home.select("[data-count]") == []
    text = text_of(home)
    since = (today() - timedelta(days=90)).strftime("%-d %B %Y")
    assert f"Screening since {since}" in text and "in the last 90 days" in text
    assert "Invited 1" in text and "Completed 1 (100.0% of invited)" in text
    assert "Questionnaires" not in text  # the set-up is for admins


def test_an_admin_sees_the_set_up(admin_client: FlaskClient) -> None:
    text = text_of(staff_page(admin_client, "/", "home"))
    assert "Set-up" in text and "Barts Social Welfare Screening Tool" in text
    assert "CARD-NUH" in text and "Newham University Hospital" in text


@pytest.fixture
def admin_client(app: Flask, session: Session) -> FlaskClient:
    return sign_in(app, session, "admin@example.nhs.uk", "admin")


def test_every_page_links_the_accessibility_statement_and_no_nhs_england_copyright(
    app: Flask, session: Session, client: FlaskClient
) -> None:
    _, token = make_invited_episode(session)
    statement = page(client.get("/accessibility"))
    assert statement.main["data-page"] == "accessibility"
    assert "Web Content Accessibility Guidelines version 2.2 at level AA" in text_of(statement)
    prescriber = sign_in(app, session, "sp@example.nhs.uk")
    for html in (
        page(app.test_client().get(f"/s/{token}", follow_redirects=True)),
        page(prescriber.get("/")),
        page(app.test_client().get("/login")),
        statement,
    ):
        footer = html.select_one("footer")
        assert footer.find("a", href="/accessibility", string="Accessibility statement")
        assert "NHS England" not in footer.get_text()
