"""Chasing (SPEC §13): a referral unanswered `referral_response_working_days` working days
is overdue, on a frozen clock across Christmas and the new year's bank holidays: marked on
the task, counted on the home page, and its service reminded once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from screening.cli.sending import send_due
from screening.config.loaded import state
from screening.core import clock
from screening.models import Referral
from screening.referrals import answers
from screening.triage import tasks
from tests.factories import make_task, make_user
from tests.mailbox import Inbox, mailing_config
from tests.pages import text_of
from tests.views.test_triage import sign_in, staff_page

MAILBOX = "referrals@food-bank.example.org"
# Made on Wednesday 16 December 2026. Ten working days leave out the weekends, Christmas
# Day (Friday 25th), Boxing Day's substitute (Monday 28th) and New Year's Day (Friday 1st):
# overdue from Monday 4 January 2027, not from Wednesday 30 December.
MADE = datetime(2026, 12, 16, 11, 0, tzinfo=clock.LONDON)
NOT_YET = datetime(2026, 12, 31, 17, 0, tzinfo=clock.LONDON)
OVERDUE = datetime(2027, 1, 4, 9, 30, tzinfo=clock.LONDON)
DEMO_MAILBOX = "referrals@food-bank.demo.screening.invalid"


@pytest.fixture
def settings(tmp_path: Path, inbox: tuple[Inbox, int]) -> dict[str, str]:
    return mailing_config(
        tmp_path, inbox[1], services_yaml=lambda text: text.replace(DEMO_MAILBOX, MAILBOX)
    )


def refer(session: Session, user, service: str, nhs_number: str) -> Referral:
    with clock.frozen_at(MADE):
        task = make_task(session, nhs_number=nhs_number, missed_meals="yes")
        return tasks.refer(
            session,
            task.id,
            tasks.Context(by=user, now=MADE),
            service=service,
            services=state().config.services,
            domains=["food"],
        )


def test_overdue_after_ten_working_days_not_counting_bank_holidays(
    app: Flask, session: Session, inbox: tuple[Inbox, int]
) -> None:
    user = make_user(session, email="colleague@example.nhs.uk")
    waiting = refer(session, user, "food-bank", "9990000018")
    family_name = waiting.task.episode.patient.family_name
    answered = refer(session, user, "food-bank", "9990000026")
    no_mailbox = refer(session, user, "housing-options", "9990000034")
    with clock.frozen_at(MADE):
        answers.respond(
            session, answered, tasks.Context(by=user, now=MADE), answers.Answer("accepted")
        )
    with clock.frozen_at(NOT_YET):
        prescriber = sign_in(app, session, "sp@example.nhs.uk")  # sessions time out
        assert _home_count(prescriber) == 0
        summary = send_due(app, session, NOT_YET)
        assert "reminded" not in summary
    notices = len(inbox[0].to(MAILBOX))
    assert notices == 2  # each food bank referral's notice, sent at the first run

    with clock.frozen_at(OVERDUE):
        prescriber = sign_in(app, session, "lead@example.nhs.uk")
        assert _home_count(prescriber) == 2  # the food bank's and the housing team's
        listed = staff_page(prescriber, "/triage?referrals=overdue", "queue")
        shown = {int(row["data-task-id"]) for row in listed.select("[data-task-id]")}
        assert shown == {waiting.task_id, no_mailbox.task_id}
        task_page = text_of(staff_page(prescriber, f"/triage/{waiting.task_id}", "task"))
        assert "Overdue for an answer" in task_page
        assert "overdue referrals reminded 1" in send_due(app, session, OVERDUE)
        assert "reminded" not in send_due(app, session, OVERDUE)  # once only
    reminders = inbox[0].to(MAILBOX)[notices:]
    assert len(reminders) == 1
    body = reminders[0].get_payload()
    assert f"/referrals/{waiting.id}" in body and "16 December 2026" in body
    assert family_name not in body and "999 000" not in body


def _home_count(client) -> int:
    home = staff_page(client, "/", "home")
    return int(home.select_one('[data-count="referrals_overdue"]').get_text())
