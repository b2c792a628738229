"""The loop closed in Chromium (SPEC §13): a prescriber refers a patient to the food bank
and closes the task; the food bank's partner signs in, accepts and completes the referral
as having helped; the task shows the answer and the funnel counts the patient helped.
Every page on the way has no WCAG 2.2 A/AA violation (axe-core) and no sideways scroll at
375 and 1280 px, with and without JavaScript."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import make_task, make_user

from .axe import check_both_widths
from .conftest import LiveServer

PASSWORD = "correct horse battery"
PRESCRIBER = "sp@example.nhs.uk"
PARTNER = "bank@example.org"

pytestmark = pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_referral_is_answered_by_its_service_and_counted_helped(
    browser_page: Page,
    new_phone: Callable[[], Page],
    live_server: LiveServer,
    session: Session,
    javascript: bool,
) -> None:
    make_user(session, email=PRESCRIBER, password=PASSWORD)
    make_user(session, email=PARTNER, password=PASSWORD, role="partner", services=("food-bank",))
    task = make_task(session, nhs_number="9990000018", missed_meals="yes")
    task_path = f"/triage/{task.id}"

    prescriber = browser_page
    sign_in(prescriber, PRESCRIBER)
    prescriber.goto(task_path)
    prescriber.get_by_role("button", name="Claim this task").click()
    prescriber.get_by_text("Record an onward referral").click()
    prescriber.get_by_label("Local food bank (by referral)").check()
    prescriber.get_by_role("button", name="Save referral").click()
    prescriber.get_by_text("Close the task").click()
    prescriber.get_by_label("Referred on").check()
    prescriber.get_by_role("button", name="Close task").click()
    expect(prescriber.locator("main")).to_contain_text("Closed: Referred on")

    partner = new_phone()
    sign_in(partner, PARTNER)
    expect(partner.locator("main")).to_have_attribute("data-page", "referrals")
    expect(partner.locator("[data-referral-id]")).to_have_count(1)
    check_both_widths(partner, "partner-referrals", javascript)
    partner.locator("[data-referral-id] a").click()
    expect(partner.locator("main")).to_have_attribute("data-page", "referral")
    expect(partner.locator("main")).not_to_contain_text("999 000 0018")
    check_both_widths(partner, "partner-referral", javascript)
    partner.get_by_role("button", name="Accept the referral").click()
    expect(partner.locator(".nhsuk-inset-text")).to_contain_text("Referral accepted")
    partner.get_by_label("Helped", exact=True).check()
    partner.get_by_role("button", name="Complete the referral").click()
    expect(partner.locator("main")).to_contain_text("Completed: helped")
    check_both_widths(partner, "partner-referral-done", javascript)

    prescriber.goto(task_path)
    expect(prescriber.locator(f"#referral-{task.id} , .app-referral").first).to_contain_text(
        "Completed: helped"
    )
    expect(prescriber.locator("main")).to_contain_text(
        "bank@example.org: Referral to Local food bank (by referral): completed: helped"
    )
    check_both_widths(prescriber, "task-referral-answered", javascript)

    prescriber.goto("/reports/funnel")
    expect(prescriber.locator('[data-tile="helped"] .app-tile__count')).to_have_text("1")
