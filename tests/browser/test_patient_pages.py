"""The patient's pages in Chromium on a small phone, with and without JavaScript, on each
database (SPEC §8, §9): the Barts tool from the SMS link to "Answers sent", picked up on a
second phone and sent twice; the date-of-birth check and its lock; every item type; and the
pages a link can end on. Every page kind passes axe-core's WCAG 2.2 A/AA rules and leaves a
screenshot, `tests/artifacts/patient-<kind>-<js|no-js>.png`, for people to look at.

The `browser_page` and `new_phone` fixtures fail a test on any request leaving the app's
origin (the quick exit's link is checked, never followed), script error or broken asset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening.core import clock
from screening.core import constants as c
from screening.models import Episode, Flag, OptOut, Response, TriageTask
from tests.factories import make_invited_episode

from .axe import check_accessibility, screenshot
from .conftest import LiveServer

pytestmark = pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])

# The Barts tool's questions (questionnaires/barts-social-welfare.yaml), as a patient reads them.
ENDS_MEET = "Do you have difficulty making ends meet at the end of the month?"
MISSED_MEALS = "Do you ever have to miss a meal because you don't have food?"
SUPPORT = (
    "If you were in trouble or felt alone, do you have family or friends you can rely on "
    "for support?"
)
FEEL_UNSAFE = "Do you ever feel unsafe?"
WANTS_HELP = "Do you want to talk to someone who may be able to help?"
# Six screening questions; a flag adds "Do you want to talk to someone...?", so the
# counter shows no total.
SAFETY_ADVICE = "If you are in immediate danger, call 999"
# The simple question (the DOB-CHECK clinic's questionnaire).
BASIC_NEEDS = (
    "Do you have difficulty making ends meet / meeting basic needs at the end of the month?"
)
DATE_OF_BIRTH = date(1958, 2, 9)


# --- what a patient sees and does --------------------------------------------------------


def seen(page: Page, kind: str, javascript: bool) -> None:
    """The page as it is now passes axe-core and fits the phone; its picture is kept."""
    check_accessibility(page)
    screenshot(page, f"patient-{kind}-{'js' if javascript else 'no-js'}")


def expect_page(page: Page, kind: str, heading: str) -> None:
    expect(page.locator("main")).to_have_attribute("data-page", kind)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def expect_question(page: Page, question: str, position: int, total: int | None = None) -> None:
    """`total` for a questionnaire that cannot branch; one that can shows none."""
    expect_page(page, "question", question)
    counter = f"Question {position} of {total}" if total else f"Question {position}"
    expect(page.get_by_text(counter, exact=True)).to_be_visible()


def expect_error(page: Page, message: str) -> None:
    """The NHS.UK error summary, and "Error: " first in the title for screen readers."""
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link")).to_have_text(message)


def open_link(page: Page, token: str) -> None:
    """Tap the link in the text message and start."""
    page.goto(f"/s/{token}")
    expect_page(page, "start", "Questions before your appointment")
    page.get_by_role("button", name="Start now").click()


def answer(page: Page, choice: str) -> None:
    page.get_by_label(choice, exact=True).check()
    page.get_by_role("button", name="Continue").click()


def enter_date_of_birth(page: Page, when: date) -> None:
    page.get_by_label("Day").fill(str(when.day))
    page.get_by_label("Month").fill(str(when.month))
    page.get_by_label("Year").fill(str(when.year))
    page.get_by_role("button", name="Continue").click()


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- the Barts tool, end to end ----------------------------------------------------------


def test_the_barts_tool_from_the_text_message_to_answers_sent(
    browser_page: Page,
    new_phone: Callable[[], Page],
    live_server: LiveServer,
    session: Session,
    javascript: bool,
) -> None:
    _, token = make_invited_episode(session)  # CARD-NUH: the Barts tool, at Newham
    phone = browser_page

    phone.goto(f"/s/{token}")
    # The token is swapped for a cookie, so it stays out of history and referrers.
    expect(phone).to_have_url(f"{live_server.url}/s/start")
    expect_page(phone, "start", "Questions before your appointment")
    expect(phone.get_by_role("banner")).to_contain_text("Newham University Hospital")
    seen(phone, "start", javascript)
    phone.get_by_role("button", name="Start now").click()

    expect_question(phone, ENDS_MEET, 1)
    seen(phone, "question-choice", javascript)
    phone.get_by_role("button", name="Continue").click()
    expect_error(phone, "Select an answer")
    seen(phone, "question-error", javascript)

    answer(phone, "Yes")  # money worries: the help question joins the count
    expect_question(phone, MISSED_MEALS, 2)
    phone.get_by_role("link", name="Back").click()
    expect_question(phone, ENDS_MEET, 1)
    expect(phone.get_by_label("Yes", exact=True)).to_be_checked()
    phone.get_by_role("button", name="Continue").click()
    answer(phone, "No")  # meals
    answer(phone, "Yes")  # stable housing
    expect_question(phone, SUPPORT, 4)

    # Later, on another phone (or after the browser forgot its cookie), the same link picks
    # up at the first question without an answer.
    second = new_phone()
    open_link(second, token)
    expect_question(second, SUPPORT, 4)
    answer(second, "Yes")
    expect_question(second, FEEL_UNSAFE, 5)
    quick_exit = second.get_by_role("link", name="Leave this page quickly")
    expect(quick_exit).to_have_attribute("href", re.compile(r"^https://"))  # away from us
    seen(second, "question-feel-unsafe", javascript)
    answer(second, "Yes")
    answer(second, "No")  # caring
    expect_question(second, WANTS_HELP, 7)
    answer(second, "Yes")

    expect_page(second, "check", "Check your answers")
    # Both phones' answers, in the questionnaire's order.
    expect(second.locator(".nhsuk-summary-list__key").first).to_have_text(ENDS_MEET)
    expect(second.locator(".nhsuk-summary-list__value")).to_have_text(
        ["Yes", "No", "Yes", "Yes", "Yes", "No", "Yes"]
    )
    seen(second, "check", javascript)

    send_twice(phone, second, javascript)
    phone.goto(f"/s/{token}")  # the link, opened again after sending
    expect_page(phone, "complete", "Answers sent")
    expect(phone.locator(".nhsuk-summary-list")).to_have_count(0)
    expect(phone.locator("main")).not_to_contain_text(FEEL_UNSAFE)
    # Nor the advice the answers called for: it would tell whoever holds the phone.
    expect(phone.locator("main")).not_to_contain_text(SAFETY_ADVICE)
    expect(phone.locator("main")).to_contain_text("already been sent")
    seen(phone, "complete-revisit", javascript)

    # One response (money and safety flagged) and one task, urgent: the patient feels unsafe.
    assert (count(session, Response), count(session, Flag), count(session, TriageTask)) == (1, 2, 1)
    task = session.scalars(select(TriageTask)).one()
    assert (task.status, task.priority) == (c.TASK_OPEN, c.PRIORITY_URGENT)


def send_twice(stale: Page, sender: Page, javascript: bool) -> None:
    """Send with a double tap, then again from a summary left open on the other phone."""
    stale.goto("/s/check")
    expect_page(stale, "check", "Check your answers")
    sends: list[str] = []
    for page in (stale, sender):
        page.on("request", lambda r: sends.append(r.url) if r.method == "POST" else None)

    sender.get_by_role("button", name="Send answers").dblclick()
    expect_page(sender, "complete", "Answers sent")
    expect(sender.locator("main")).to_contain_text(SAFETY_ADVICE)
    seen(sender, "complete-flagged", javascript)

    stale.get_by_role("button", name="Send answers").click()
    expect_page(stale, "complete", "Answers sent")
    # The back button does not bring the answers back either.
    sender.go_back()
    expect(sender.locator("main")).to_have_attribute("data-page", "complete")
    # Chromium (and, with scripts, the NHS.UK button) may fold the double tap into one
    # request; the stale summary always sends again.
    assert len(sends) >= 2, sends


# --- the date of birth -------------------------------------------------------------------


def test_each_phone_gives_the_date_of_birth_and_three_wrong_dates_lock_the_link(
    browser_page: Page, new_phone: Callable[[], Page], session: Session, javascript: bool
) -> None:
    episode, token = make_invited_episode(session, clinic="DOB-CHECK", date_of_birth=DATE_OF_BIRTH)
    phone = browser_page
    open_link(phone, token)
    expect_page(phone, "verify", "What is your date of birth?")
    seen(phone, "verify", javascript)
    enter_date_of_birth(phone, DATE_OF_BIRTH.replace(year=1959))
    expect_error(phone, "The date of birth does not match our records. Check it and try again")
    seen(phone, "verify-error", javascript)
    enter_date_of_birth(phone, DATE_OF_BIRTH)
    expect_question(phone, BASIC_NEEDS, 1, 2)
    answer(phone, "No")
    expect_question(phone, "Do you want help?", 2, 2)

    # A new browser session is asked again, then resumes where the patient left off.
    second = new_phone()
    open_link(second, token)
    expect_page(second, "verify", "What is your date of birth?")
    enter_date_of_birth(second, DATE_OF_BIRTH)
    expect_question(second, "Do you want help?", 2, 2)

    # Someone else guessing: the third wrong date locks the link, for every phone.
    stranger = new_phone()
    open_link(stranger, token)
    for day in (1, 2, 3):
        enter_date_of_birth(stranger, DATE_OF_BIRTH.replace(day=day))
    expect_page(stranger, "locked", "Try again later")
    seen(stranger, "locked", javascript)
    phone.reload()
    expect_page(phone, "locked", "Try again later")

    session.expire_all()
    assert session.get(Episode, episode.id).status == c.EPISODE_NEEDS_CALL


# --- every item type -----------------------------------------------------------------------


def test_every_item_type_on_a_phone(browser_page: Page, session: Session, javascript: bool) -> None:
    _, token = make_invited_episode(session, clinic="ALL-TYPES")
    phone = browser_page
    open_link(phone, token)

    expect_page(phone, "question", "A few test questions follow.")  # info: not counted
    expect(phone.get_by_text(re.compile(r"^Question \d+ of"))).to_have_count(0)
    seen(phone, "question-info", javascript)
    phone.get_by_role("button", name="Continue").click()

    expect_question(phone, "Which of these worry you?", 1, 4)
    seen(phone, "question-multi", javascript)
    phone.get_by_label("Bills").check()
    phone.get_by_label("Rent").check()
    phone.get_by_role("button", name="Continue").click()

    expect_question(phone, "How do you feel today?", 2, 4)
    expect(phone.get_by_text("0 is Very low, 10 is Very good")).to_be_visible()
    seen(phone, "question-scale", javascript)
    answer(phone, "2")

    expect_question(phone, "How many people live with you?", 3, 4)
    people = phone.get_by_label("How many people live with you?")
    people.fill("twenty")
    phone.get_by_role("button", name="Continue").click()
    expect_error(phone, "Enter a number between 0 and 20")
    seen(phone, "question-number-error", javascript)
    phone.locator(".nhsuk-error-summary").get_by_role("link").click()
    expect(people).to_be_focused()  # the summary leads to the field to correct
    people.fill("3")
    phone.get_by_role("button", name="Continue").click()

    expect_question(phone, "Is there anything else you would like to tell us?", 4, 4)
    seen(phone, "question-text", javascript)
    phone.get_by_label("Is there anything else you would like to tell us?").fill("Thanks")
    phone.get_by_role("button", name="Continue").click()

    expect_page(phone, "check", "Check your answers")
    expect(phone.locator(".nhsuk-summary-list")).to_contain_text("Bills, Rent")


# --- where a link can end ---------------------------------------------------------------------


def test_unknown_and_expired_links(browser_page: Page, session: Session, javascript: bool) -> None:
    unknown = browser_page.goto("/s/" + "x" * 43)
    assert unknown is not None and unknown.status == 404
    expect_page(browser_page, "error", "Link not recognised")
    seen(browser_page, "unknown-link", javascript)

    episode, token = make_invited_episode(session)
    episode.token_expires_at = clock.now() - timedelta(minutes=1)
    session.commit()
    expired = browser_page.goto(f"/s/{token}")
    assert expired is not None and expired.status == 410
    expect_page(browser_page, "expired", "This link has expired")
    seen(browser_page, "expired", javascript)


def test_the_start_page_offers_languages_and_stopping_texts(
    browser_page: Page, session: Session, javascript: bool
) -> None:
    _, token = make_invited_episode(session, clinic="TWO-LANG", mobile="+447400100002")
    phone = browser_page
    phone.goto(f"/s/{token}")
    expect_page(phone, "start", "Questions before your appointment")
    languages = phone.get_by_role("group", name="Choose a language")
    expect(languages.get_by_role("radio")).to_have_count(2)
    expect(languages.get_by_label("English")).to_be_checked()
    seen(phone, "start-languages", javascript)

    phone.get_by_role("button", name="Stop texts").click()
    expect_page(phone, "start", "Questions before your appointment")
    expect(phone.locator("main")).to_contain_text("You will not get any more texts from us")
    seen(phone, "texts-stopped", javascript)

    phone.get_by_label("العربية").check()
    phone.get_by_role("button", name="Start now").click()
    expect(phone.locator("html")).to_have_attribute("dir", "rtl")
    expect(phone.get_by_text("[ar] Question 1 of 1", exact=True)).to_be_visible()
    seen(phone, "question-right-to-left", javascript)

    assert session.get(OptOut, "+447400100002") is not None


def test_a_form_sent_after_the_browser_forgot_its_session_says_it_expired(
    browser_page: Page, session: Session, javascript: bool
) -> None:
    """A phone's browser can drop the session cookie (closed, then the tab restored) while
    the page stays on screen: sending it must explain, not crash or save anything."""
    _, token = make_invited_episode(session)
    phone = browser_page
    open_link(phone, token)
    expect_question(phone, ENDS_MEET, 1)
    phone.context.clear_cookies()
    answer(phone, "No")
    expect_page(phone, "error", "Your form expired")
    seen(phone, "form-expired", javascript)
    open_link(phone, token)  # the link from the text message starts again
    expect_question(phone, ENDS_MEET, 1)
