"""Staff sign-in, the staff home and the error page in Chromium on a phone, with and
without JavaScript: no WCAG 2.2 A/AA violations (axe-core), and no request leaves the
app's origin except for NHS fonts (the `browser_page` fixture checks that at teardown)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error, Page, expect
from sqlalchemy.orm import Session

from tests.factories import make_user

from .axe import FONT_HOST, check_accessibility, check_both_widths, screenshot
from .conftest import LiveServer, PageLog

EMAIL = "admin@example.nhs.uk"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])


def shot(page: Page, kind: str, javascript: bool) -> None:
    screenshot(page, f"staff-{kind}-{'js' if javascript else 'no-js'}")


def fill_sign_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_page(browser_page: Page, page_log: PageLog, javascript: bool) -> None:
    response = browser_page.goto("/login")

    assert response is not None and response.status == 200
    expect(browser_page).to_have_title("Sign in – Social needs screening – NHS")
    expect(browser_page.locator("main")).to_have_attribute("data-page", "login")
    expect(browser_page.get_by_role("heading", level=1)).to_have_text("Sign in")
    # The NHS.UK scripts ran (under the page's CSP), or did not run at all.
    supported = browser_page.locator("body.js-enabled.nhsuk-frontend-supported")
    expect(supported).to_have_count(1 if javascript else 0)
    check_accessibility(browser_page)
    shot(browser_page, "login", javascript)
    # Frutiger was asked of the NHS font host, and answered here (SPEC §8's one exception).
    assert page_log.font_requests
    assert all(url.startswith(f"{FONT_HOST}/") for url in page_log.font_requests)


def test_a_wrong_password_shows_the_error_summary(
    browser_page: Page, session: Session, javascript: bool
) -> None:
    make_user(session, email=EMAIL, role="admin", password=PASSWORD)
    browser_page.goto("/login")

    fill_sign_in(browser_page, EMAIL, "not the password")

    expect(browser_page).to_have_title("Error: Sign in – Social needs screening – NHS")
    summary = browser_page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link")).to_have_text("Enter a correct email address and password")
    if javascript:  # the NHS.UK script moves focus to the summary, for screen readers
        expect(summary).to_be_focused()
    # The summary's link leads to the field it is about.
    summary.get_by_role("link").click()
    expect(browser_page.get_by_label("Email address")).to_be_focused()
    check_accessibility(browser_page)
    shot(browser_page, "login-error", javascript)


def test_signing_in_reaches_the_staff_home(
    browser_page: Page, live_server: LiveServer, session: Session, javascript: bool
) -> None:
    make_user(session, email=EMAIL, role="admin", password=PASSWORD)
    browser_page.goto("/login")

    fill_sign_in(browser_page, EMAIL, PASSWORD)

    expect(browser_page).to_have_url(f"{live_server.url}/")
    expect(browser_page).to_have_title("Staff home – Social needs screening – NHS")
    main = browser_page.locator("main")
    expect(main).to_have_attribute("data-page", "home")
    expect(main).to_contain_text("Barts Social Welfare Screening Tool")
    expect(main).to_contain_text("CARD-NUH")
    expect(browser_page.get_by_role("button", name="Sign out")).to_be_visible()
    check_both_widths(browser_page, "home", javascript)


def test_the_accessibility_statement_is_linked_from_the_footer(
    browser_page: Page, javascript: bool
) -> None:
    browser_page.goto("/login")
    browser_page.get_by_role("contentinfo").get_by_role(
        "link", name="Accessibility statement"
    ).click()
    expect(browser_page.locator("main")).to_have_attribute("data-page", "accessibility")
    expect(browser_page.get_by_role("heading", level=1)).to_have_text(
        "Accessibility statement for social needs screening"
    )
    check_accessibility(browser_page)
    shot(browser_page, "accessibility", javascript)


def test_an_unknown_page_is_a_404_error_page(browser_page: Page, javascript: bool) -> None:
    response = browser_page.goto("/no-such-page")

    assert response is not None and response.status == 404
    expect(browser_page.locator("main")).to_have_attribute("data-page", "error")
    expect(browser_page.get_by_role("heading", level=1)).to_have_text("Page not found")
    check_accessibility(browser_page)
    shot(browser_page, "404", javascript)


# --- the checks themselves ---------------------------------------------------------------


def test_the_checks_catch_violations_offsite_requests_and_policy_breaches(
    browser_page: Page, page_log: PageLog
) -> None:
    """Without this, a harness that checked nothing would pass every test above."""
    browser_page.goto("/login")
    with browser_page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        browser_page.evaluate(
            """document.querySelector('main').insertAdjacentHTML(
                'beforeend', '<img src="https://example.org/tracker.png">')"""
        )
    assert "violates" in page_log.script_errors[0]
    with pytest.raises(AssertionError, match=r"image-alt \(critical\): .*\n +on img\n"):
        check_accessibility(browser_page)

    with pytest.raises(Error, match="ERR_BLOCKED_BY_CLIENT"):
        browser_page.goto("https://example.org/")
    assert page_log.offsite_requests == ["GET https://example.org/"]

    # Seen: the fixture's teardown must not fail the test on them.
    page_log.offsite_requests.clear()
    page_log.script_errors.clear()


def test_an_admin_adds_a_user_and_reads_the_audit_trail_by_date(
    browser_page: Page, live_server: LiveServer, session: Session, javascript: bool
) -> None:
    make_user(session, email=EMAIL, role="admin", password=PASSWORD)
    page = browser_page
    page.goto("/login")
    fill_sign_in(page, EMAIL, PASSWORD)

    page.goto("/admin/users")
    expect(page.locator("main")).to_have_attribute("data-page", "users")
    add = page.locator("form#new")
    # Every mistake of the form at once, in the service manual's words.
    add.get_by_label("Email address").fill("not an address")
    add.get_by_label("Password").fill("short")
    add.get_by_role("button", name="Add user").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary.get_by_role("link")).to_have_count(3)  # email, role, password
    check_both_widths(page, "users-error", javascript)
    add = page.locator("form#new")
    add.get_by_label("Name").fill("Sam Patel")
    add.get_by_label("Email address").fill("sam.patel@example.nhs.uk")
    add.get_by_label("Role").select_option("prescriber")
    add.get_by_label("Password").fill("a long enough password")
    add.get_by_role("button", name="Add user").click()
    expect(page.locator("main")).to_contain_text("Sam Patel (sam.patel@example.nhs.uk)")
    check_both_widths(page, "users", javascript)

    page.goto("/admin/audit")
    expect(page.locator("main")).to_have_attribute("data-page", "audit")
    start = page.get_by_role("group", name="Start date")
    start.get_by_label("Day").fill("31")
    start.get_by_label("Month").fill("2")
    start.get_by_label("Year").fill("2026")
    page.get_by_role("button", name="Show events").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter a real date")
    check_both_widths(page, "audit-error", javascript)
    start = page.get_by_role("group", name="Start date")
    start.get_by_label("Day").fill("1")
    page.get_by_role("button", name="Show events").click()
    expect(page.locator("main table")).to_contain_text("User created")
    check_both_widths(page, "audit", javascript)


def test_the_accessibility_statement_reads_at_both_widths(
    browser_page: Page, javascript: bool
) -> None:
    browser_page.goto("/accessibility")
    expect(browser_page.locator("main")).to_have_attribute("data-page", "accessibility")
    check_both_widths(browser_page, "staff-accessibility", javascript)
