"""Assisted mode: staff complete a questionnaire with a patient (SPEC §1.6, §7)."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.core import constants as c
from screening.models import Answer, AuditEvent, Episode, Response
from screening.patient import assisted
from tests.factories import make_invited_episode, make_user
from tests.pages import csrf_token, page, text_of
from tests.patient.test_pages import BARTS_NO_NEEDS, PatientBrowser, kind
from tests.patient.test_pages import settings as settings

PASSWORD = "correct horse battery"


def signed_in(app: Flask, session: Session, role: str = "prescriber") -> FlaskClient:
    user = make_user(session, email=f"{role}@example.nhs.uk", role=role, password=PASSWORD)
    client = app.test_client()
    token = csrf_token(page(client.get("/login")))
    response = client.post(
        "/login", data={"csrf_token": token, "email": user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def test_a_prescriber_finds_a_patient_by_nhs_number_or_name_and_each_view_is_audited(
    app: Flask, session: Session
) -> None:
    make_invited_episode(session)
    client = signed_in(app, session)
    by_number = text_of(page(client.get("/assisted?q=999 000 0018")))
    assert "Alex Example" in by_number and "999 000 0018" in by_number
    by_name = text_of(page(client.get("/assisted?q=alex example")))
    assert "Alex Example" in by_name
    assert "No patient matches" in text_of(page(client.get("/assisted?q=Nobody")))
    # A mistyped NHS number is said to be one, not "no patient matches".
    mistyped = page(client.get("/assisted?q=999 000 0019"), 400)
    summary = mistyped.select_one(".nhsuk-error-summary")
    assert "Enter a valid 10-digit NHS number, or a name" in text_of(summary)
    assert mistyped.select_one(summary.find("a")["href"]) is not None
    assert "No patient matches" not in text_of(mistyped)
    views = session.scalars(
        select(AuditEvent).where(AuditEvent.action == c.AUDIT_VIEW_PATIENT)
    ).all()
    assert len(views) == 2 and all(v.actor_user_id is not None for v in views)


def test_search_results_come_a_page_at_a_time(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assisted, "PAGE_SIZE", 2)
    for n, nhs_number in enumerate(("9990000018", "9990000026", "9990000034")):
        episode, _ = make_invited_episode(session, nhs_number=nhs_number)
        episode.patient.given_name = f"Sam{n}"
    session.commit()
    client = signed_in(app, session)
    first = page(client.get("/assisted?q=example"))
    assert "3 patients match" in text_of(first) and len(first.select("tbody tr")) == 2
    second = page(client.get(first.select_one(".nhsuk-pagination a")["href"]))
    assert [text_of(row.strong) for row in second.select("tbody tr")] == ["Sam2 Example"]
    assert "is not a page number" in text_of(page(client.get("/assisted?q=example&page=x"), 400))


@pytest.mark.parametrize(("role", "status"), [("clinician", 403)])
def test_clinicians_cannot_see_patients(
    app: Flask, session: Session, role: str, status: int
) -> None:
    assert signed_in(app, session, role).get("/assisted?q=Example").status_code == status
    assert app.test_client().get("/assisted").status_code == 302  # to sign in


def test_a_phone_call_completes_the_questionnaire_for_a_patient_without_a_mobile(
    app: Flask, session: Session
) -> None:
    episode, _ = make_invited_episode(session, mobile=None, clinic="DOB-CHECK",
                                      date_of_birth=date(1950, 1, 1))  # fmt: skip
    assert episode.status == c.EPISODE_INVITED
    client = signed_in(app, session)
    search = page(client.get("/assisted?q=9990000018"))
    # One action per row: it opens a page asking how the prescriber is talking to them.
    [row] = search.select("tbody tr")
    [link] = row.select("a")
    assert link["href"] == f"/assisted/start/{episode.public_id}"
    choose = page(client.get(link["href"]))
    assert "How are you talking to Alex Example?" in text_of(choose.select_one("legend"))
    form = choose.find("form", attrs={"action": f"/assisted/start/{episode.public_id}"})
    assert form is not None
    response = client.post(
        f"/assisted/start/{episode.public_id}",
        data={"csrf_token": csrf_token(choose), "mode": "assisted_phone"},
        follow_redirects=True,
    )
    first = page(response)
    # The staff member has checked who they are talking to: no date-of-birth page.
    assert kind(first) == "question" and "You are entering answers for Alex Example" in text_of(
        first
    )
    staff = PatientBrowser(client)
    staff.answer("basic_needs", "yes")
    staff.answer("wants_help", "yes")
    assert kind(staff.send()) == "complete"

    session.expire_all()
    stored = session.get(Episode, episode.id)
    assert stored.mode == c.MODE_ASSISTED_PHONE
    assert stored.opened_at and stored.delivered_at and stored.completed_at
    user_id = stored.entered_by_user_id
    assert user_id is not None
    entered = session.scalars(select(Answer.entered_by_user_id)).all()
    assert entered == [user_id, user_id]
    response_row = session.scalars(select(Response)).one()
    assert (response_row.mode, response_row.submitted_by_user_id) == ("assisted_phone", user_id)


def test_a_patient_on_their_own_phone_is_never_recorded_as_staff(
    app: Flask, session: Session
) -> None:
    # A staff member signed in on the same browser answers nothing for the patient unless
    # they opened the episode in assisted mode.
    _, token = make_invited_episode(session)
    client = signed_in(app, session)
    browser = PatientBrowser(client)
    browser.start(token)
    browser.answer_all(BARTS_NO_NEEDS)
    assert set(session.scalars(select(Answer.entered_by_user_id))) == {None}


def test_the_mode_must_be_chosen_and_a_cancelled_episode_cannot_be_started(
    app: Flask, session: Session
) -> None:
    episode, _ = make_invited_episode(session)
    client = signed_in(app, session)
    here = f"/assisted/start/{episode.public_id}"
    choose = page(client.get(here))
    assert not choose.select("input[name=mode][checked]")  # no guess at how they talk
    refused = page(client.post(here, data={"csrf_token": csrf_token(choose)}), 400, "Error: ")
    summary = refused.select_one(".nhsuk-error-summary")
    assert "Select how you are talking to the patient" in text_of(summary)
    assert refused.select_one(summary.find("a")["href"]) is not None
    stored = session.get(Episode, episode.id)
    assert stored.opened_at is None and stored.mode == c.MODE_SMS  # nothing started
    stored.status = c.EPISODE_CANCELLED
    session.commit()
    data = {"csrf_token": csrf_token(choose), "mode": "assisted_phone"}
    assert client.post(here, data=data).status_code == 404
    assert client.get(here).status_code == 404
