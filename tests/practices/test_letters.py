"""The GP practice hears back (SPEC §13): a letter made as a task closes, mailed as a PDF
through a real local SMTP server to a listed practice, or offered to download."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.models import GpLetter, Mail, Patient, TriageTask
from screening.referrals import answers
from screening.triage import tasks
from tests.factories import make_task, make_user
from tests.mailbox import Inbox, free_port, mailing_config, send_mail
from tests.pages import page, text_of
from tests.views.test_triage import post, sign_in, staff_page

PRACTICE_MAILBOX = "surgery.f84003@nhs.example"
PRACTICES = f"""practices:
  - code: F84003
    name: Lower Clapton Group Practice
    email: {PRACTICE_MAILBOX}
  - code: F84017
    name: The Wick Health Centre
"""


@pytest.fixture
def settings(tmp_path: Path, inbox: tuple[Inbox, int]) -> dict[str, str]:
    return mailing_config(tmp_path, inbox[1], practices_yaml=lambda _text: PRACTICES)


@pytest.fixture
def prescriber(session: Session):
    return make_user(session, email="sp@example.nhs.uk")


def task_at(session: Session, practice: str | None, nhs_number: str = "9990000018") -> TriageTask:
    task = make_task(session, nhs_number=nhs_number, missed_meals="yes")
    task.episode.patient.gp_practice = practice
    session.commit()
    return task


def close(session: Session, task: TriageTask, user, outcome: str, config=None) -> None:
    session.refresh(task)
    tasks.close(
        session,
        task.id,
        tasks.Context(by=user, now=clock.now()),
        outcome=outcome,
        version=task.version,
        config=config or state().config,
        need_names={"food": "Food", "financial": "Money"},
    )


def refer(session: Session, task: TriageTask, user):
    return tasks.refer(
        session,
        task.id,
        tasks.Context(by=user, now=clock.now()),
        service="food-bank",
        services=state().config.services,
        domains=["food"],
        domain="food",
    )


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(data)).pages)


def letters(session: Session) -> list[GpLetter]:
    session.expire_all()
    return list(session.scalars(select(GpLetter).order_by(GpLetter.id)))


def test_closing_mails_the_listed_practice_a_pdf_naming_nobody_outside_it(
    app: Flask, session: Session, prescriber, inbox: tuple[Inbox, int]
) -> None:
    task = task_at(session, "F84003")
    patient = session.get(Patient, task.episode.patient_id)
    name = f"{patient.given_name} {patient.family_name}"
    referral = refer(session, task, prescriber)
    answers.respond(
        session, referral, tasks.Context(by=prescriber, now=clock.now()), answers.Answer("accepted")
    )
    close(session, task, prescriber, "referred")
    assert (send_mail(session, state().config, clock.now()).sent) >= 1
    (mail,) = inbox[0].to(PRACTICE_MAILBOX)
    for detail in (patient.given_name, patient.family_name, patient.nhs_number, "999 000"):
        assert detail not in mail["Subject"] and detail not in mail.get_body().get_content()
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    filename = attachment.get_filename()
    assert patient.family_name not in filename and patient.nhs_number not in filename
    words = pdf_text(attachment.get_content())
    for expected in (
        name,
        "999 000 0018",
        "Lower Clapton Group Practice",
        "Local food bank (by referral)",
        "Accepted",
        "Referred on",
        "871731000000106",
    ):
        assert expected in words, expected


def test_a_declined_task_files_social_prescribing_declined(
    app: Flask, session: Session, prescriber, inbox: tuple[Inbox, int]
) -> None:
    task = task_at(session, "F84003")
    close(session, task, prescriber, "declined")
    (letter,) = letters(session)
    words = pdf_text(letter.pdf)
    assert "871711000000103" in words and "871731000000106" not in words


def test_not_needed_sends_no_letter(app: Flask, session: Session, prescriber) -> None:
    close(session, task_at(session, "F84003"), prescriber, "not_needed")
    assert letters(session) == []


def test_closing_again_mails_again_only_when_something_changed(
    app: Flask, session: Session, prescriber, inbox: tuple[Inbox, int]
) -> None:
    task = task_at(session, "F84003")
    close(session, task, prescriber, "support_arranged")
    ctx = tasks.Context(by=prescriber, now=clock.now())
    session.refresh(task)
    tasks.reopen(session, task.id, ctx, version=task.version)
    close(session, task, prescriber, "support_arranged")  # nothing new for the practice
    assert len(letters(session)) == 1
    session.refresh(task)
    tasks.reopen(session, task.id, ctx, version=task.version)
    refer(session, task, prescriber)
    close(session, task, prescriber, "referred")  # a referral and a new outcome
    assert len(letters(session)) == 2
    send_mail(session, state().config, clock.now())
    assert len(inbox[0].to(PRACTICE_MAILBOX)) == 2


@pytest.mark.parametrize(
    "practice",
    [
        None,  # not known: the list's gp_practice was blank
        "F84017",  # listed, without a mailbox
        "F84999",  # not listed: never mailed, nor matched to a practice that looks close
    ],
)
def test_a_letter_that_cannot_be_mailed_is_offered_to_download(
    app: Flask, session: Session, prescriber, inbox: tuple[Inbox, int], practice
) -> None:
    task = task_at(session, practice)
    task_id = task.id
    close(session, task, prescriber, "support_arranged")
    (letter,) = letters(session)
    letter_id = letter.id
    assert session.scalars(select(Mail).where(Mail.kind == "gp_letter")).all() == []
    send_mail(session, state().config, clock.now())
    assert inbox[0].messages == []
    client = sign_in(app, session, "lead@example.nhs.uk")
    html = staff_page(client, f"/triage/{task_id}", "task")
    assert "not mailed" in text_of(html)
    link = html.select_one(f'a[href="/triage/{task_id}/letters/{letter_id}"]')
    assert link is not None
    download = client.get(link["href"])
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "no-store"
    assert "871731000000106" in pdf_text(download.data)
    # Another task's letter number on this task is not found.
    assert client.get(f"/triage/{task_id + 1}/letters/{letter_id}").status_code == 404


def test_in_production_a_letter_goes_only_over_an_encrypted_relay(
    app: Flask, session: Session, prescriber, inbox: tuple[Inbox, int]
) -> None:
    plain = dataclasses.replace(state().config, env="production")
    task = task_at(session, "F84003")
    close(session, task, prescriber, "support_arranged", config=plain)
    assert len(letters(session)) == 1  # made, to download
    assert session.scalars(select(Mail).where(Mail.kind == "gp_letter")).all() == []
    encrypted = dataclasses.replace(plain, smtp_url="smtp+starttls://127.0.0.1:587")
    other = task_at(session, "F84003", nhs_number="9990000026")
    close(session, other, prescriber, "support_arranged", config=encrypted)
    assert session.scalars(select(Mail.to_address).where(Mail.kind == "gp_letter")).all() == [
        PRACTICE_MAILBOX
    ]


def test_the_prescriber_closes_on_the_page_and_the_history_says_a_letter_was_made(
    app: Flask, session: Session, inbox: tuple[Inbox, int]
) -> None:
    task = task_at(session, "F84003")
    client = sign_in(app, session, "lead@example.nhs.uk")
    here = f"/triage/{task.id}"
    assert post(client, f"{here}/claim", here).status_code == 303
    version = str(session.scalar(select(TriageTask.version).where(TriageTask.id == task.id)))
    assert (
        post(client, f"{here}/close", here, outcome="support_arranged", version=version).status_code
        == 303
    )
    words = text_of(page(client.get(here)))
    assert "Closed: Support arranged; a letter to the GP practice is made" in words
    assert "waiting to be mailed" in words


def test_admins_see_a_letter_waiting_while_the_mail_server_is_down(
    app: Flask, session: Session, prescriber, inbox: tuple[Inbox, int]
) -> None:
    task = task_at(session, "F84003")
    close(session, task, prescriber, "support_arranged")
    down = dataclasses.replace(state().config, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    assert send_mail(session, down, clock.now()).failed == 1
    admin = sign_in(app, session, "admin@example.nhs.uk", role="admin")
    words = text_of(staff_page(admin, "/", "home"))
    assert "Letters to GP practices 1 waiting, last failure: ConnectionRefusedError" in words


def test_a_letter_only_downloaded_is_mailed_at_a_later_closing_once_the_practice_is_known(
    app: Flask, session: Session, prescriber, inbox: tuple[Inbox, int]
) -> None:
    task = task_at(session, None)
    close(session, task, prescriber, "support_arranged")
    session.refresh(task)
    tasks.reopen(
        session, task.id, tasks.Context(by=prescriber, now=clock.now()), version=task.version
    )
    task.episode.patient.gp_practice = "F84003"  # today's list names the practice
    session.commit()
    close(session, task, prescriber, "support_arranged")
    assert len(letters(session)) == 2
    send_mail(session, state().config, clock.now())
    assert len(inbox[0].to(PRACTICE_MAILBOX)) == 1
