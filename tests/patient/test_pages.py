"""The patient's questionnaire through the Flask test client (SPEC §3, §8, §9)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening.core import clock
from screening.core import constants as c
from screening.models import Answer, Episode, Flag, OptOut, Response, TriageTask
from tests.conftest import settings_for_test_clinics
from tests.factories import make_invited_episode
from tests.pages import csrf_token, page, text_of

BARTS_NO_NEEDS = {
    "ends_meet": "no",
    "missed_meals": "no",
    "stable_housing": "yes",
    "support_network": "yes",
    "feel_unsafe": "no",
    "carer_impact": "no",
}


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    return settings_for_test_clinics(tmp_path)


class PatientBrowser:
    """A patient's phone: opens the link, answers page by page, sends."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def open(self, token: str, status: int = 302) -> BeautifulSoup | str:
        response = self.client.get(f"/s/{token}")
        if response.status_code == 302:
            return response.headers["Location"]
        return page(response, status=status)

    def get(self, path: str, status: int = 200) -> BeautifulSoup:
        return page(self.client.get(path, follow_redirects=True), status=status)

    def post(
        self, path: str, data: dict[str, object], status: int = 200, *, form_on: str = ""
    ) -> BeautifulSoup:
        """Submit a form found on `form_on` (by default the page at `path` itself)."""
        token = csrf_token(self.get(form_on or path))
        response = self.client.post(path, data={"csrf_token": token, **data}, follow_redirects=True)
        return page(response, status=status)

    def start(self, token: str) -> BeautifulSoup:
        assert self.open(token) == "/s/start"
        return self.post("/s/start", {})

    def answer(self, item_id: str, value: object, status: int = 200) -> BeautifulSoup:
        return self.post(f"/s/q/{item_id}", {item_id: value}, status=status)

    def answer_all(self, answers: dict[str, object]) -> BeautifulSoup:
        html = None
        for item_id, value in answers.items():
            html = self.answer(item_id, value)
        assert html is not None
        return html

    def send(self) -> BeautifulSoup:
        return self.post("/s/check", {})


def kind(html: BeautifulSoup) -> str:
    main = html.find("main")
    assert main is not None
    return str(main["data-page"])


@pytest.fixture
def browser(client: FlaskClient) -> PatientBrowser:
    return PatientBrowser(client)


@pytest.fixture
def invited(session: Session) -> Iterator[tuple[Episode, str]]:
    yield make_invited_episode(session)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- the journey -------------------------------------------------------------------------


def test_a_patient_completes_the_barts_tool_and_a_task_is_raised(
    browser: PatientBrowser, session: Session, invited: tuple[Episode, str]
) -> None:
    episode, token = invited
    first = browser.start(token)
    assert kind(first) == "question"
    # The Barts tool branches (a flagged need adds a question): no total that would grow.
    assert first.select_one(".nhsuk-caption-l").get_text(strip=True) == "Question 1"
    html = browser.answer_all({**BARTS_NO_NEEDS, "ends_meet": "yes"})
    # The help question appears only because money was flagged.
    assert kind(html) == "question" and html.find("input", attrs={"name": "wants_help"})
    check = browser.answer("wants_help", "yes")
    assert kind(check) == "check" and "Check your answers" in text_of(check)
    done = browser.send()
    assert kind(done) == "complete"
    assert "social prescribing team will contact you" in text_of(done)

    task = session.scalars(select(TriageTask)).one()
    assert (task.status, task.priority) == (c.TASK_OPEN, c.PRIORITY_ROUTINE)
    assert session.scalars(select(Flag.domain)).all() == ["financial"]
    session.expire_all()
    stored = session.get(Episode, episode.id)
    assert stored.status == c.EPISODE_COMPLETED
    assert stored.opened_at and stored.started_at and stored.completed_at
    assert stored.flagged_at and stored.wants_help_at


def test_fields_are_named_by_item_and_options_valued_by_answer(
    browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    html = browser.start(invited[1])
    radios = html.find_all("input", attrs={"type": "radio"})
    assert {r["name"] for r in radios} == {"ends_meet"}
    assert [r["value"] for r in radios] == ["yes", "no", "decline"]


def test_feeling_unsafe_is_urgent_even_when_help_is_declined_and_offers_a_quick_exit(
    browser: PatientBrowser, session: Session, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    unsafe_page = browser.get("/s/q/feel_unsafe")
    exit_link = unsafe_page.find("a", string=lambda s: s and "Leave this page" in s)
    assert exit_link is not None and exit_link["href"].startswith("https://")
    browser.answer_all({**BARTS_NO_NEEDS, "feel_unsafe": "yes", "wants_help": "no"})
    done = browser.send()
    task = session.scalars(select(TriageTask)).one()
    assert (task.status, task.priority) == (c.TASK_OPEN, c.PRIORITY_URGENT)
    advice = text_of(done)
    assert "If you are in immediate danger, call 999" in advice


def test_no_needs_means_no_help_question_and_no_task(
    browser: PatientBrowser, session: Session, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    check = browser.answer_all(BARTS_NO_NEEDS)
    assert kind(check) == "check"
    assert "talk to someone" not in text_of(check)
    browser.send()
    assert count(session, TriageTask) == 0 and count(session, Response) == 1


def test_a_missing_answer_shows_the_nhs_error_summary(
    browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    html = browser.post("/s/q/ends_meet", {}, status=400)
    summary = html.find(class_="nhsuk-error-summary")
    assert summary is not None and "Select an answer" in text_of(summary)
    assert summary.find("a")["href"] == "#ends_meet"
    assert html.title.get_text().startswith("Error: ")


def test_an_answer_that_is_not_an_option_is_refused(
    browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    html = browser.answer("ends_meet", "maybe", status=400)
    assert "Select an answer" in text_of(html)


# --- saving, resuming, changing -------------------------------------------------------------


def test_answers_are_saved_as_given_and_resume_on_another_device(
    app: Flask, browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    browser.answer_all({"ends_meet": "no", "missed_meals": "yes"})
    other_phone = PatientBrowser(app.test_client())
    html = other_phone.start(invited[1])
    assert html.find("input", attrs={"name": "stable_housing"}) is not None
    assert html.select_one(".nhsuk-caption-l").get_text(strip=True) == "Question 3"


def test_a_changed_answer_that_hides_a_question_drops_its_answer(
    browser: PatientBrowser, session: Session, invited: tuple[Episode, str]
) -> None:
    episode, token = invited
    browser.start(token)
    browser.answer_all({**BARTS_NO_NEEDS, "ends_meet": "yes", "wants_help": "yes"})
    check = browser.post("/s/q/ends_meet?change=1", {"ends_meet": "no"})
    assert kind(check) == "check"
    stored = set(session.scalars(select(Answer.item_id).where(Answer.episode_id == episode.id)))
    assert "wants_help" not in stored and "ends_meet" in stored


def test_a_change_that_reveals_a_question_asks_it_before_the_summary(
    browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    browser.answer_all(BARTS_NO_NEEDS)
    html = browser.post("/s/q/missed_meals?change=1", {"missed_meals": "yes"})
    assert html.find("input", attrs={"name": "wants_help"}) is not None


# --- submitting once -------------------------------------------------------------------------


def test_resubmitting_and_a_second_tab_change_nothing(
    app: Flask, browser: PatientBrowser, session: Session, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    browser.answer_all({**BARTS_NO_NEEDS, "missed_meals": "yes", "wants_help": "yes"})
    check = browser.get("/s/check")
    token = csrf_token(check)
    for _ in range(3):  # double clicks and the back button
        browser.client.post("/s/check", data={"csrf_token": token})
    second_tab = PatientBrowser(app.test_client())
    assert kind(second_tab.open(invited[1], status=200)) == "complete"
    assert kind(browser.get("/s/check")) == "complete"
    assert (count(session, Response), count(session, TriageTask), count(session, Flag)) == (1, 1, 1)


def test_a_submitted_link_shows_complete_without_the_answers(
    app: Flask, browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    browser.answer_all({**BARTS_NO_NEEDS, "feel_unsafe": "yes", "wants_help": "yes"})
    sent = text_of(browser.send())
    # The patient who sent them sees the advice their answers call for...
    assert "Domestic Abuse Helpline" in sent and "will contact you" in sent
    # ...but the link opened later, on this phone or another, gives none of it away.
    for phone in (browser, PatientBrowser(app.test_client())):
        later = phone.open(invited[1], status=200)
        assert isinstance(later, BeautifulSoup) and kind(later) == "complete"
        words = text_of(later)
        assert "already been sent" in words
        for disclosure in ("unsafe", "Yes", "Helpline", "999", "contact you", "help"):
            assert disclosure not in words, disclosure


def test_the_advice_stays_with_the_sending_browser_for_an_hour_only(
    browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    browser.start(invited[1])
    browser.answer_all({**BARTS_NO_NEEDS, "ends_meet": "yes", "wants_help": "no"})
    browser.send()
    # Back from phoning Citizens Advice: a reload still shows the number.
    with clock.frozen_at(clock.now() + timedelta(minutes=50)):
        assert "Citizens Advice" in text_of(browser.get("/s/done"))
    with clock.frozen_at(clock.now() + timedelta(minutes=61)):
        words = text_of(browser.get("/s/done"))
    assert "already been sent" in words and "Citizens Advice" not in words


# --- links -----------------------------------------------------------------------------------


def test_the_token_is_swapped_for_a_cookie_and_a_clean_url(
    browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    response = browser.client.get(f"/s/{invited[1]}")
    assert response.status_code == 302 and response.headers["Location"] == "/s/start"
    assert invited[1] not in response.headers["Location"]
    assert "screening_session" in response.headers.get("Set-Cookie", "")


def test_an_unknown_link_reveals_nothing(browser: PatientBrowser) -> None:
    html = browser.open("x" * 43, status=404)
    assert isinstance(html, BeautifulSoup) and kind(html) == "error"


def test_an_expired_link_answers_410(
    browser: PatientBrowser, session: Session, invited: tuple[Episode, str]
) -> None:
    episode, token = invited
    episode.token_expires_at = clock.now() - timedelta(minutes=1)
    session.commit()
    html = browser.open(token, status=410)
    assert isinstance(html, BeautifulSoup) and kind(html) == "expired"
    assert "Alex" not in text_of(html)


def test_unknown_links_are_rate_limited_per_address_but_valid_ones_are_not_counted(
    app: Flask, invited: tuple[Episode, str]
) -> None:
    guesser = app.test_client()
    waiting_room = {"REMOTE_ADDR": "10.1.1.1"}
    for _ in range(10):
        assert guesser.get("/s/" + "y" * 43, environ_base=waiting_room).status_code == 404
    assert guesser.get("/s/" + "y" * 43, environ_base=waiting_room).status_code == 429
    patient = app.test_client()
    for _ in range(12):
        response = patient.get(f"/s/{invited[1]}", environ_base={"REMOTE_ADDR": "10.2.2.2"})
        assert response.status_code == 302


def test_patient_pages_are_never_cached_and_send_no_referrer(
    browser: PatientBrowser, invited: tuple[Episode, str]
) -> None:
    browser.open(invited[1])
    response = browser.client.get("/s/start")
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_texts_can_be_stopped_from_the_start_page(
    browser: PatientBrowser, session: Session, invited: tuple[Episode, str]
) -> None:
    browser.open(invited[1])
    html = browser.post("/s/stop-texts", {}, form_on="/s/start")
    assert kind(html) == "start" and "You will not get any more texts" in text_of(html)
    assert session.get(OptOut, "+447400100001").source == c.OPT_OUT_WEB


# --- date of birth ---------------------------------------------------------------------------


@pytest.fixture
def dob_invited(session: Session) -> tuple[Episode, str]:
    return make_invited_episode(session, clinic="DOB-CHECK", date_of_birth=date(1958, 2, 9))


def dob(day: str, month: str, year: str) -> dict[str, str]:
    return {"dob-day": day, "dob-month": month, "dob-year": year}


def test_the_date_of_birth_is_asked_before_any_question(
    browser: PatientBrowser, dob_invited: tuple[Episode, str]
) -> None:
    html = browser.start(dob_invited[1])
    assert kind(html) == "verify"
    assert {"dob-day", "dob-month", "dob-year"} <= {i["name"] for i in html.find_all("input")}
    assert browser.client.get("/s/q/basic_needs").headers["Location"] == "/s/verify"
    question = browser.post("/s/verify", dob("9", "2", "1958"))
    assert kind(question) == "question"


def test_a_new_browser_session_is_asked_again(
    app: Flask, browser: PatientBrowser, dob_invited: tuple[Episode, str]
) -> None:
    browser.start(dob_invited[1])
    browser.post("/s/verify", dob("9", "2", "1958"))
    fresh = PatientBrowser(app.test_client())
    assert kind(fresh.start(dob_invited[1])) == "verify"


def test_three_wrong_dates_lock_the_link_and_put_the_patient_on_the_call_list(
    browser: PatientBrowser, session: Session, dob_invited: tuple[Episode, str]
) -> None:
    episode, token = dob_invited
    browser.start(token)
    first = browser.post("/s/verify", dob("9", "2", "1959"), status=400)
    message = text_of(first)
    assert "does not match our records" in message
    assert "year" not in message.lower().split("does not match")[1]
    browser.post("/s/verify", dob("10", "2", "1958"), status=400)
    form = browser.get("/s/verify")
    locked = browser.post("/s/verify", dob("9", "3", "1958"))
    assert kind(locked) == "locked"
    # Even the right date is refused while locked.
    retry = browser.client.post(
        "/s/verify", data={"csrf_token": csrf_token(form), **dob("9", "2", "1958")}
    )
    assert kind(page(retry)) == "locked"
    session.expire_all()
    stored = session.get(Episode, episode.id)
    assert (stored.status, stored.needs_call_reason) == (c.EPISODE_NEEDS_CALL, "dob_locked")


# --- every item type --------------------------------------------------------------------------


def test_every_item_type_can_be_answered(
    browser: PatientBrowser, session: Session, settings: dict[str, str]
) -> None:
    episode, token = make_invited_episode(session, clinic="ALL-TYPES")
    info = browser.start(token)
    assert kind(info) == "question" and "A few test questions follow" in text_of(info)
    multi = browser.post("/s/q/welcome", {})
    boxes = multi.find_all("input", attrs={"type": "checkbox"})
    assert [b["value"] for b in boxes] == ["bills", "rent", "none"]
    scale = browser.post("/s/q/worries", {"worries": ["bills", "rent"]})
    assert [r["value"] for r in scale.find_all("input", attrs={"type": "radio"})] == [
        str(n) for n in range(11)
    ]
    assert "0 is Very low" in text_of(scale)
    number = browser.answer("mood", "2")
    assert number.find("input", attrs={"name": "people_at_home"}) is not None
    wrong = browser.answer("people_at_home", "twenty", status=400)
    assert "Enter a number between 0 and 20" in text_of(wrong.find(class_="nhsuk-error-summary"))
    text_page = browser.answer("people_at_home", "3")
    assert text_page.find("textarea", attrs={"name": "anything_else"}) is not None
    browser.answer("anything_else", "x" * 51, status=400)
    check = browser.answer("anything_else", "Thanks")
    assert "Bills, Rent" in text_of(check)
    browser.send()
    assert sorted(session.scalars(select(Flag.domain))) == ["money", "mood"]
    answers = dict(
        session.execute(
            select(Answer.item_id, Answer.value).where(Answer.episode_id == episode.id)
        ).all()
    )
    assert answers == {
        "worries": ["bills", "rent"],
        "mood": "2",
        "people_at_home": "3",
        "anything_else": "Thanks",
    }


def test_ons_wellbeing_records_flags_but_creates_no_task(
    browser: PatientBrowser, session: Session
) -> None:
    _, token = make_invited_episode(session, clinic="WELLBEING")
    browser.start(token)
    browser.answer_all(
        {"life_satisfaction": "3", "worthwhile": "7", "happiness": "7", "anxiety": "2"}
    )
    browser.send()
    assert session.scalars(select(Flag.domain)).all() == ["wellbeing"]
    assert count(session, TriageTask) == 0


def test_a_slow_patient_can_still_send_a_page_hours_later(
    browser: PatientBrowser, invited: tuple[Episode, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import itsdangerous.timed

    browser.start(invited[1])
    token = csrf_token(browser.get("/s/q/ends_meet"))
    issued = itsdangerous.timed.time.time()

    def post_after(hours: float):
        monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: issued + hours * 3600)
        return browser.client.post("/s/q/ends_meet", data={"csrf_token": token, "ends_meet": "no"})

    late = post_after(9)
    assert late.status_code == 400  # the friendly "go back and try again" page
    assert "Traceback" not in late.get_data(as_text=True)
    assert post_after(7).status_code == 302
