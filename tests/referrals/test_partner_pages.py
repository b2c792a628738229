"""A partner at an onward service (SPEC §8, §13): their referrals, only what the service
needs, their answers, the notice that a referral waits, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.models import AuditEvent, Referral
from screening.referrals import answers
from screening.triage import tasks
from tests.factories import make_task, make_user
from tests.mailbox import Inbox, mailing_config, send_mail
from tests.pages import csrf_token, page, text_of
from tests.views.test_triage import PASSWORD, post, sign_in, staff_page

FOOD_BANK_MAILBOX = "referrals@food-bank.example.org"
DEMO_MAILBOX = "referrals@food-bank.demo.screening.invalid"


@pytest.fixture
def settings(tmp_path: Path, inbox: tuple[Inbox, int]) -> dict[str, str]:
    return mailing_config(
        tmp_path,
        inbox[1],
        services_yaml=lambda text: text.replace(DEMO_MAILBOX, FOOD_BANK_MAILBOX),
    )


@pytest.fixture
def prescriber_user(session: Session):
    return make_user(session, email="sp@example.nhs.uk")


@pytest.fixture
def food_bank(app: Flask, session: Session) -> FlaskClient:
    return sign_in(app, session, "bank@example.org", role="partner", services=("food-bank",))


def referred(
    session: Session, user, service: str, *, nhs_number: str, days_ago: int = 0, **answers
):
    """A task with a referral to `service`, made `days_ago`; the task has other needs,
    a note and answers the service must never see."""
    task = make_task(session, nhs_number=nhs_number, missed_meals="yes", **answers)
    when = clock.now() - timedelta(days=days_ago)
    tasks.add_note(session, task.id, tasks.Context(by=user, now=when), text="Brother is violent")
    return tasks.refer(
        session,
        task.id,
        tasks.Context(by=user, now=when),
        service=service,
        services=state().config.services,
        domains=["food", "financial"],
        domain="food",
        note="Prefers mornings",
    )


def test_a_partner_signing_in_lands_on_their_referrals(app: Flask, session: Session) -> None:
    make_user(session, email="bank@example.org", role="partner", services=("food-bank",))
    client = app.test_client()
    # From a notice's link: signed in, straight to that referral.
    asked = client.get("/referrals/7")
    assert asked.status_code == 302 and "next=%2Freferrals%2F7" in asked.headers["Location"]
    token = csrf_token(page(client.get("/login?next=/referrals/7")))
    signed_in = client.post(
        "/login?next=/referrals/7",
        data={"csrf_token": token, "email": "bank@example.org", "password": PASSWORD},
    )
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/referrals/7"
    home = client.get("/")
    assert home.status_code == 303 and home.headers["Location"] == "/referrals"
    html = staff_page(client, "/referrals", "referrals")
    nav = [(a.get_text(strip=True), a["href"]) for a in html.select("header nav a")]
    assert nav == [("Referrals", "/referrals")]


def test_the_list_shows_only_their_services_referrals_newest_first(
    app: Flask, session: Session, prescriber_user, food_bank: FlaskClient
) -> None:
    older = referred(session, prescriber_user, "food-bank", nhs_number="9990000018", days_ago=3)
    newer = referred(session, prescriber_user, "food-bank", nhs_number="9990000026")
    other = referred(session, prescriber_user, "citizens-advice", nhs_number="9990000034")
    html = staff_page(food_bank, "/referrals", "referrals")
    shown = [int(row["data-referral-id"]) for row in html.select("[data-referral-id]")]
    assert shown == [newer.id, older.id] and other.id not in shown
    # Each patient named on the list is an audited view of them.
    views = session.scalars(
        select(AuditEvent.patient_id).where(AuditEvent.action == "view_patient")
    ).all()
    assert sorted(views) == sorted(
        session.get(Referral, r.id).task.episode.patient_id for r in (newer, older)
    )
    by_phone = tasks.Context(by=prescriber_user, now=clock.now())
    answers.respond(session, session.get(Referral, older.id), by_phone, answers.Answer("accepted"))
    waiting = staff_page(food_bank, "/referrals?status=made", "referrals")
    assert [int(r["data-referral-id"]) for r in waiting.select("[data-referral-id]")] == [newer.id]
    assert "Waiting for your answer (1)" in text_of(waiting)
    refused = page(food_bank.get("/referrals?status=lost"), 400)
    assert "'lost' is not a status a referral can have" in text_of(refused)


def test_a_referral_shows_what_the_service_needs_to_make_contact_and_no_more(
    app: Flask, session: Session, prescriber_user, food_bank: FlaskClient
) -> None:
    referral = referred(session, prescriber_user, "food-bank", nhs_number="9990000018")
    patient = referral.task.episode.patient
    html = staff_page(food_bank, f"/referrals/{referral.id}", "referral")
    words = text_of(html)
    assert f"{patient.given_name} {patient.family_name}" in words
    assert html.select_one(f'a[href="tel:{patient.mobile}"]') is not None
    assert "Food" in words and "Prefers mornings" in words  # the referral's need and note
    for hidden in (
        "999 000 0018",  # no NHS number for a service outside the NHS
        patient.date_of_birth.strftime("%-d %B %Y"),
        "Brother is violent",  # the task's notes
        "Money",  # its other needs
        "Do you",  # the patient's answers
    ):
        assert hidden not in words, hidden
    viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "view_referral")).one()
    assert viewed.patient_id == patient.id and viewed.subject_id == str(referral.id)


def test_an_nhs_service_sees_the_nhs_number_and_date_of_birth(
    app: Flask, session: Session, prescriber_user
) -> None:
    referral = referred(session, prescriber_user, "pcn-social-prescriber", nhs_number="9990000018")
    patient = referral.task.episode.patient
    pcn = sign_in(
        app, session, "link@example.nhs.uk", role="partner", services=("pcn-social-prescriber",)
    )
    words = text_of(staff_page(pcn, f"/referrals/{referral.id}", "referral"))
    assert "999 000 0018" in words and patient.date_of_birth.strftime("%-d %B %Y") in words


def test_another_services_referral_and_an_old_ended_one_are_not_found(
    app: Flask, session: Session, prescriber_user, food_bank: FlaskClient
) -> None:
    elsewhere = referred(session, prescriber_user, "citizens-advice", nhs_number="9990000018")
    assert food_bank.get(f"/referrals/{elsewhere.id}").status_code == 404
    assert food_bank.get("/referrals/99999").status_code == 404
    ended = referred(session, prescriber_user, "food-bank", nhs_number="9990000026")
    long_ago = clock.now() - timedelta(days=91)
    answers.respond(
        session,
        ended,
        tasks.Context(by=prescriber_user, now=long_ago),
        answers.Answer("declined", reason="no_capacity"),
    )
    assert food_bank.get(f"/referrals/{ended.id}").status_code == 404
    recent = referred(session, prescriber_user, "food-bank", nhs_number="9990000034")
    answers.respond(
        session,
        recent,
        tasks.Context(by=prescriber_user, now=clock.now() - timedelta(days=89)),
        answers.Answer("declined", reason="no_capacity"),
    )
    assert food_bank.get(f"/referrals/{recent.id}").status_code == 200
    shown = staff_page(food_bank, "/referrals", "referrals").select("[data-referral-id]")
    assert [int(row["data-referral-id"]) for row in shown] == [recent.id]
    # Answering one it may not see is refused the same way, and changes nothing.
    token_page = f"/referrals/{recent.id}"
    assert post(food_bank, f"/referrals/{elsewhere.id}/accept", token_page).status_code == 404
    assert session.get(Referral, elsewhere.id).status == "made"


def test_every_other_staff_page_is_forbidden_to_a_partner(
    app: Flask, session: Session, prescriber_user, food_bank: FlaskClient
) -> None:
    referral = referred(session, prescriber_user, "food-bank", nhs_number="9990000018")
    for path in (
        "/triage",
        f"/triage/{referral.task_id}",
        "/triage/to-call",
        "/triage/clinic-day",
        "/reports/funnel",
        "/reports/funnel.csv",
        "/admin/users",
        "/admin/audit",
        "/assisted",
    ):
        assert food_bank.get(path).status_code == 403, path


def test_the_partner_accepts_then_completes_and_the_task_shows_who_did_it(
    app: Flask, session: Session, prescriber_user, food_bank: FlaskClient
) -> None:
    referral = referred(session, prescriber_user, "food-bank", nhs_number="9990000018")
    here = f"/referrals/{referral.id}"
    accepted = post(food_bank, f"{here}/accept", here, note="Parcel on Friday")
    assert accepted.status_code == 303 and accepted.headers["Location"] == here
    # Completing needs the outcome: an error summary, nothing changed.
    missing = page(post(food_bank, f"{here}/complete", here), 400)
    assert "Select whether the service helped the patient" in text_of(
        missing.select_one(".nhsuk-error-summary")
    )
    assert post(food_bank, f"{here}/complete", here, outcome="helped").status_code == 303
    # Completed is final: declining now is a conflict, and the page says why.
    late = page(post(food_bank, f"{here}/decline", here, reason="other"), 409)
    summary = late.select_one(".nhsuk-error-summary")
    assert "This referral is already completed" in text_of(summary)
    assert summary.select("a") == []  # the decline form is gone: nothing to link to
    session.expire_all()
    done = session.get(Referral, referral.id)
    assert (done.status, done.outcome) == ("completed", "helped")
    prescriber = sign_in(app, session, "lead@example.nhs.uk")
    history = text_of(staff_page(prescriber, f"/triage/{referral.task_id}", "task"))
    assert "bank@example.org: Referral to Local food bank (by referral): accepted" in history
    assert "Parcel on Friday" in history
    assert "Referral to Local food bank (by referral): completed: helped" in history


def test_an_answer_without_its_token_is_refused_and_changes_nothing(
    app: Flask, session: Session, prescriber_user, food_bank: FlaskClient
) -> None:
    referral = referred(session, prescriber_user, "food-bank", nhs_number="9990000018")
    reply = food_bank.post(f"/referrals/{referral.id}/accept", data={"note": "x"})
    assert reply.status_code == 400
    assert session.get(Referral, referral.id).status == "made"


def test_the_service_is_mailed_a_notice_without_patient_detail(
    app: Flask, session: Session, prescriber_user, inbox: tuple[Inbox, int]
) -> None:
    referral = referred(session, prescriber_user, "food-bank", nhs_number="9990000018")
    referred(session, prescriber_user, "housing-options", nhs_number="9990000026")  # no mailbox
    run = send_mail(session, state().config, clock.now())
    assert (run.sent, run.failed) == (1, 0)
    (notice,) = inbox[0].to(FOOD_BANK_MAILBOX)
    body = notice.get_payload()
    assert f"http://127.0.0.1:5000/referrals/{referral.id}" in body
    patient = referral.task.episode.patient
    for detail in (patient.given_name, patient.family_name, "999 000", "Prefers mornings"):
        assert detail not in body and detail not in notice["Subject"], detail
    assert send_mail(session, state().config, clock.now()).sent == 0  # sent once
    assert len(inbox[0].messages) == 1
