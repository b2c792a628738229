"""The form in the patient's language, and right to left where the language needs it.

The second language here is TEST DATA: pseudo-translations marked "[ar]" (Arabic's code,
for its right-to-left script). Only English ships.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.conftest import settings_for_test_clinics
from tests.factories import make_invited_episode
from tests.pages import text_of
from tests.patient.test_pages import PatientBrowser, kind


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    return settings_for_test_clinics(tmp_path)


def test_the_form_opens_in_the_language_from_the_appointment_list(
    browser: PatientBrowser, session: Session
) -> None:
    _, token = make_invited_episode(session, clinic="TWO-LANG", language="ar")
    question = browser.start(token)
    html = question.find("html")
    assert (html["lang"], html.get("dir")) == ("ar", "rtl")
    words = text_of(question)
    assert "[ar] Do you have difficulty making ends meet?" in words
    assert "[ar] Yes" in words and "[ar] Continue" in words and "[ar] Back" in words
    error = browser.post("/s/q/ends_meet", {}, status=400)
    assert "[ar] Select an answer" in text_of(error)


def test_the_start_page_offers_each_language_by_its_own_name(
    browser: PatientBrowser, session: Session
) -> None:
    _, token = make_invited_episode(session, clinic="TWO-LANG")
    browser.open(token)
    start = browser.get("/s/start")
    assert kind(start) == "start" and start.find("html")["lang"] == "en"
    choices = {r["value"]: r for r in start.find_all("input", attrs={"name": "language"})}
    assert set(choices) == {"en", "ar"}
    assert "العربية" in text_of(start) and "English" in text_of(start)
    question = browser.post("/s/start", {"language": "ar"})
    assert question.find("html")["lang"] == "ar"
    assert "[ar] Question 1 of 1" in text_of(question)


def test_a_language_the_questionnaire_lacks_falls_back_to_its_first(
    browser: PatientBrowser, session: Session
) -> None:
    _, token = make_invited_episode(session, clinic="TWO-LANG", language="bn")
    question = browser.start(token)
    html = question.find("html")
    assert html["lang"] == "en" and html.get("dir") is None
    assert "Do you have difficulty making ends meet?" in text_of(question)


def test_an_english_only_questionnaire_offers_no_choice_of_language(
    browser: PatientBrowser, session: Session
) -> None:
    _, token = make_invited_episode(session, language="ar")
    browser.open(token)
    start = browser.get("/s/start")
    assert start.find("input", attrs={"name": "language"}) is None
    assert start.find("html")["lang"] == "en"


@pytest.fixture
def browser(client) -> PatientBrowser:  # type: ignore[no-untyped-def]
    return PatientBrowser(client)
