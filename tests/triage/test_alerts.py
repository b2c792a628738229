"""The urgent alert (SPEC §10) through a real SMTP server on 127.0.0.1 (aiosmtpd): queued
with the patient's submission, mailed by the worker with no patient detail, retried when
the mail server is down, and never in the patient's way."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.models import Mail
from tests.factories import make_task
from tests.mailbox import Inbox, free_port, mailing_config, send_mail
from tests.pages import page, text_of
from tests.views.test_triage import sign_in

MAILBOX = "triage-team@example.nhs.uk"


@pytest.fixture
def settings(tmp_path: Path, inbox: tuple[Inbox, int]) -> dict[str, str]:
    return mailing_config(
        tmp_path, inbox[1], settings_yaml=lambda text: f"{text}urgent_alert_email: {MAILBOX}\n"
    )


def test_an_urgent_task_mails_the_team_with_its_link_and_nothing_about_the_patient(
    app: Flask, session: Session, inbox: tuple[Inbox, int]
) -> None:
    task = make_task(session, feel_unsafe="yes")
    patient = task.episode.patient
    run = send_mail(session, state().config, clock.now())
    assert (run.sent, run.failed) == (1, 0)
    (recipients, mail) = inbox[0].messages[0]
    assert recipients == [MAILBOX]
    body = mail.get_payload()
    assert f"http://127.0.0.1:5000/triage/{task.id}" in body
    for detail in (
        patient.given_name,
        patient.family_name,
        patient.nhs_number,
        "999 000",
        "unsafe",
        patient.mobile,
        "1960",
    ):
        assert detail not in body and detail not in mail["Subject"], detail
    # Sent once: the next run finds nothing to send.
    assert send_mail(session, state().config, clock.now()).sent == 0
    assert len(inbox[0].messages) == 1


def test_routine_and_declined_tasks_raise_no_alert(
    app: Flask, session: Session, inbox: tuple[Inbox, int]
) -> None:
    make_task(session, nhs_number="9990000018")
    make_task(session, nhs_number="9990000026", missed_meals="yes", wants_help="no")
    assert session.scalars(select(Mail)).all() == []
    assert send_mail(session, state().config, clock.now()).sent == 0


def test_a_mail_server_that_is_down_delays_the_alert_not_the_patient(
    app: Flask, session: Session, inbox: tuple[Inbox, int]
) -> None:
    down = dataclasses.replace(state().config, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    task = make_task(session, feel_unsafe="yes")  # the submission itself went through
    assert task.status == "open" and task.priority == "urgent"
    now = clock.now()
    run = send_mail(session, down, now)
    assert (run.sent, run.failed) == (0, 1)
    mail = session.scalars(select(Mail)).one()
    assert mail.status == "pending" and mail.attempts == 1
    assert mail.last_error == "ConnectionRefusedError" and mail.next_attempt_at > now
    # Not before its retry time, even with the server back...
    assert send_mail(session, state().config, now).sent == 0
    # ...and then it goes.
    later = mail.next_attempt_at + timedelta(seconds=1)
    assert send_mail(session, state().config, later).sent == 1
    assert len(inbox[0].messages) == 1


def test_the_staff_home_says_when_alerts_wait(
    app: Flask, session: Session, inbox: tuple[Inbox, int]
) -> None:
    make_task(session, feel_unsafe="yes")
    client = sign_in(app, session, "sp@example.nhs.uk")
    assert "1 urgent alert is waiting to be mailed" in text_of(page(client.get("/")))
    send_mail(session, state().config, clock.now())
    assert "waiting to be mailed" not in text_of(page(client.get("/")))


def test_without_a_mail_server_alerts_wait_unsent(
    app: Flask, session: Session, inbox: tuple[Inbox, int]
) -> None:
    unset = dataclasses.replace(state().config, smtp_url=None)
    make_task(session, feel_unsafe="yes")
    assert send_mail(session, unset, clock.now()).sent == 0
    assert inbox[0].messages == []
    assert session.scalars(select(Mail)).one().status == "pending"
