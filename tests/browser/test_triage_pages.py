"""A social prescriber's day in Chromium (SPEC §8, §10): sign in, filter the queue, claim
the urgent task, log a call, refer to a food bank, update the referral and close the task;
with and without JavaScript. The queue, to-call, clinic-day and task pages have no WCAG 2.2
A/AA violation (axe-core) and no sideways scroll at 375 and at 1280 px wide; nor has the
page that logs a call from the to-call list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from screening.core import clock
from screening.models import TriageTask
from tests.factories import make_invited_episode, make_task, make_user

from .axe import check_both_widths as both_widths
from .conftest import LiveServer

EMAIL = "sp@example.nhs.uk"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])


def check_both_widths(page: Page, kind: str, javascript: bool) -> None:
    both_widths(page, f"triage-{kind}", javascript)


def test_a_prescriber_works_the_urgent_task_from_queue_to_closed(
    browser_page: Page, live_server: LiveServer, session: Session, javascript: bool
) -> None:
    make_user(session, email=EMAIL, password=PASSWORD)
    appointment = (clock.now() + timedelta(days=1)).astimezone(clock.LONDON)
    appointment = appointment.replace(hour=10, minute=30, second=0, microsecond=0)
    make_task(session, nhs_number="9990000018", appointment_at=appointment)
    urgent = make_task(
        session,
        nhs_number="9990000026",
        appointment_at=appointment,
        feel_unsafe="yes",
        missed_meals="yes",
    )
    make_invited_episode(session, nhs_number="9990000034", appointment_at=appointment)
    page = browser_page

    page.goto("/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto("/triage")
    expect(page.locator("main")).to_have_attribute("data-page", "queue")
    expect(page.locator("[data-task-id]")).to_have_count(2)
    check_both_widths(page, "queue", javascript)

    page.get_by_role("link", name="Urgent (1)").click()
    expect(page).to_have_url(f"{live_server.url}/triage?priority=urgent")
    row = page.locator(f'[data-task-id="{urgent.id}"]')
    expect(page.locator("[data-task-id]")).to_have_count(1)
    expect(row).to_contain_text("999 000 0026")
    row.get_by_role("link", name="Alex Example").click()

    expect(page.locator("main")).to_have_attribute("data-page", "task")
    expect(page.locator("main")).to_contain_text("Safety concern")
    page.get_by_role("button", name="Claim this task").click()
    expect(page.locator("#task-summary")).to_contain_text(re.compile(r"Held by\s*You"))

    page.get_by_label("Reached the patient").check()
    page.locator("#contacts-note").fill("Talked it through; safe for now")
    page.get_by_role("button", name="Save contact attempt").click()
    expect(page.locator("main")).to_contain_text("Phone: Reached the patient")

    page.get_by_text("Record an onward referral").click()
    page.get_by_label("Local food bank (by referral)").check()
    page.get_by_label("Need it is for (optional)").select_option("food")
    page.get_by_role("button", name="Save referral").click()
    expect(page.locator("main")).to_contain_text("Referred to Local food bank (by referral)")

    page.get_by_text("Record what the service said").click()
    page.get_by_label("Accepted").check()
    page.get_by_role("button", name="Save the service's answer").click()
    expect(page.locator("main")).to_contain_text("Local food bank (by referral): accepted")
    check_both_widths(page, "task", javascript)

    page.get_by_text("Close the task").click()
    page.get_by_label("Referred on").check()
    page.get_by_role("button", name="Close task").click()
    expect(page.locator("main")).to_contain_text("Closed: Referred on")
    expect(page.get_by_role("button", name="Reopen this task")).to_be_visible()

    session.expire_all()
    closed = session.get(TriageTask, urgent.id)
    assert closed is not None and (closed.status, closed.outcome) == ("closed", "referred")

    page.goto("/triage")
    # The header's navigation; on a narrow screen with JavaScript, some pages sit under "More".
    navigation = page.get_by_role("navigation", name="Staff pages")
    more = navigation.get_by_role("button", name="More")
    if more.is_visible():
        more.click()
    navigation.get_by_role("link", name="Patients to phone").click()
    expect(page.locator("main")).to_have_attribute("data-page", "to-call")
    expect(page.locator("[data-episode-id]")).to_have_count(1)
    check_both_widths(page, "to-call", javascript)
    page.get_by_role("link", name="Log a call to Alex Example").click()
    expect(page.locator("main")).to_have_attribute("data-page", "call")
    check_both_widths(page, "call", javascript)
    page.get_by_label("Left a voicemail").check()
    page.get_by_role("button", name="Save call").click()
    expect(page.locator("main")).to_have_attribute("data-page", "to-call")
    expect(page.locator("[data-episode-id]")).to_contain_text("Left a voicemail")

    page.goto(f"/triage/clinic-day?date={appointment.date().isoformat()}")
    expect(page.locator("main")).to_have_attribute("data-page", "clinic-day")
    expect(page.locator("main")).to_contain_text("Not yet screened (1)")
    check_both_widths(page, "clinic-day", javascript)

    # Assisted mode: the search as a table, one action a row, then one question a page.
    page.goto("/assisted?q=Example")
    expect(page.locator("main")).to_have_attribute("data-page", "assisted-search")
    check_both_widths(page, "assisted-search", javascript)
    page.get_by_role("link", name="Answer the questions with Alex Example").first.click()
    expect(page.locator("main")).to_have_attribute("data-page", "assisted-start")
    check_both_widths(page, "assisted-start", javascript)


def test_a_refused_action_shows_an_accessible_error_summary(
    browser_page: Page, session: Session, javascript: bool
) -> None:
    make_user(session, email=EMAIL, password=PASSWORD)
    task = make_task(session)
    page = browser_page
    page.goto("/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/triage/{task.id}")

    page.get_by_role("button", name="Save contact attempt").click()  # no outcome chosen

    expect(page).to_have_title(
        f"Error: Task {task.id}: Alex Example – Social needs screening – NHS"
    )
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("Select what happened")
    summary.get_by_role("link").click()
    expect(page.locator("#contacts-outcome")).to_be_focused()
    check_both_widths(page, "task-error", javascript)
