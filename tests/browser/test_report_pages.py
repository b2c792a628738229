"""The funnel report in Chromium (SPEC §7, §8): a clinician opens it, narrows it to one
clinic through the filter form, and reads the chart, the tables and the gaps, and what
difference it made (§13: the services' answers and wellbeing); with and without
JavaScript. No WCAG 2.2 A/AA violation (axe-core) and no sideways scroll at 375 and at
1280 px wide; screenshots in tests/artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.factories import make_invited_episode, make_task, make_user
from tests.reports.test_outcomes import build_referrals, build_wellbeing

from .axe import DESKTOP, PHONE, check_accessibility, check_both_widths
from .conftest import LiveServer

EMAIL = "doc@example.nhs.uk"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])


def test_a_clinician_reads_the_funnel_for_one_clinic(
    browser_page: Page, live_server: LiveServer, session: Session, javascript: bool
) -> None:
    make_user(session, email=EMAIL, password=PASSWORD, role="clinician")
    for serial in range(10):
        make_task(session, nhs_number=_nhs(serial))
    make_invited_episode(session, nhs_number=_nhs(20), clinic="CARD-RLH")
    page = browser_page
    _sign_in(page)

    page.goto("/")
    page.get_by_role("link", name="Screening funnel").click()
    expect(page.locator("main")).to_have_attribute("data-page", "funnel")
    expect(page.get_by_role("img", name="The screening funnel")).to_be_visible()
    expect(page.locator("#stages-table")).to_contain_text("11")
    expect(page.locator('[data-tile="invited"]')).to_contain_text("11")
    for size in (PHONE["viewport"], DESKTOP):
        page.set_viewport_size(size)
        assert _chart_text_problems(page) == [], size
    check_both_widths(page, "report-funnel", javascript)

    page.get_by_text("Choose the clinic, questionnaire or dates").click()
    page.get_by_label("Clinic", exact=True).select_option("CARD-NUH")
    page.get_by_role("button", name="Show the report").click()
    assert "clinic=CARD-NUH" in page.url
    expect(page.locator("#stages-table tbody tr").first).to_contain_text("10")
    expect(page.locator("h1 + p")).to_contain_text("clinic CARD-NUH")

    page.get_by_text("Choose the clinic, questionnaire or dates").click()

    start = page.get_by_role("group", name="Start date")
    start.get_by_label("Day").fill("30")
    start.get_by_label("Month").fill("2")
    start.get_by_label("Year").fill("2026")
    page.get_by_role("button", name="Show the report").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter a real date")
    expect(start.get_by_label("Day")).to_have_value("30")  # what was typed stays
    check_accessibility(page)


def test_a_clinician_reads_what_difference_it_made(
    browser_page: Page, live_server: LiveServer, session: Session, javascript: bool
) -> None:
    make_user(session, email=EMAIL, password=PASSWORD, role="clinician")
    build_referrals(session)
    build_wellbeing(session)
    page = browser_page
    _sign_in(page)
    page.goto("/reports/funnel")
    expect(page.locator('[data-tile="helped"]')).to_contain_text("Helped by a service")
    page.get_by_role("link", name="What difference it made", exact=True).click()
    expect(page.locator("#outcomes + p")).to_contain_text("Of 9 onward referrals")
    page.locator("summary", has_text="Each service's answers to its referrals").click()
    services = page.locator("#outcomes-by-service")
    expect(services).to_be_visible()
    expect(services).to_contain_text("No capacity: 1")
    wellbeing = page.locator("#wellbeing-ons4-wellbeing")
    expect(wellbeing).to_contain_text("+1.4")
    expect(wellbeing).to_contain_text("Too few pairs to publish")
    # The by-service table is the report's widest (eight columns): on a phone it stacks.
    check_both_widths(page, "report-outcomes", javascript)


def _sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _chart_text_problems(page: Page) -> list[str]:
    """Each text of the chart that runs outside the chart's box, or is drawn smaller than
    the page's small print (and never under 12 px)."""
    return page.evaluate(
        """() => {
          const svg = document.querySelector("svg.app-funnel-chart");
          const box = svg.getBoundingClientRect();
          const scale = box.width / svg.viewBox.baseVal.width;
          const smallPrint = document.querySelector(".nhsuk-body-s");
          const least = Math.max(12, parseFloat(getComputedStyle(smallPrint).fontSize));
          const problems = [];
          for (const text of svg.querySelectorAll("text")) {
            const drawn = text.getBoundingClientRect();
            if (drawn.left < box.left - 0.5 || drawn.right > box.right + 0.5 ||
                drawn.top < box.top - 0.5 || drawn.bottom > box.bottom + 0.5) {
              problems.push(`outside the chart: ${text.textContent}`);
            }
            const size = parseFloat(text.getAttribute("font-size")) * scale;
            if (size < least) {
              problems.push(`${size.toFixed(1)} px, under ${least} px: ${text.textContent}`);
            }
          }
          return problems;
        }"""
    )


def _nhs(serial: int) -> str:
    from tests.appointment_lists import test_nhs_number

    return test_nhs_number(10 * serial + 1)
