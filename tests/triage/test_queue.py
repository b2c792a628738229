"""The triage task list (SPEC §5: `screening tasks`)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.patient.responses import save_answer, submit
from screening.questionnaire.model import AnswerValue
from screening.triage.queue import list_tasks
from tests.cli.test_cli import isolated, run
from tests.factories import make_invited_episode

SLA = {"urgent": 1, "high": 3, "routine": 5}
ANSWER = {"answer_working_days": 10}  # referrals overdue after 10 working days
NO_NEEDS: dict[str, AnswerValue] = {
    "ends_meet": "no",
    "missed_meals": "no",
    "stable_housing": "yes",
    "support_network": "yes",
    "feel_unsafe": "no",
    "carer_impact": "no",
}


def submitted(session: Session, nhs_number: str, **answers: AnswerValue) -> None:
    episode, _ = make_invited_episode(session, nhs_number=nhs_number)
    questionnaire = state().questionnaires.questionnaires["barts-social-welfare"]
    for item_id, value in {**NO_NEEDS, **answers}.items():
        save_answer(session, questionnaire, episode, item_id, value, now=clock.now())
    submit(session, questionnaire, episode, language="en", now=clock.now())


def test_tasks_come_most_pressing_first_with_their_domains(app: Flask, session: Session) -> None:
    submitted(session, "9990000018", missed_meals="yes", wants_help="no")
    submitted(session, "9990000026", ends_meet="yes", feel_unsafe="yes", wants_help="yes")
    submitted(session, "9990000034")  # no needs: no task
    rows = list_tasks(session, sla_working_days=SLA)
    assert [(r.priority, r.status, r.domains) for r in rows] == [
        ("urgent", "open", ["financial", "safety"]),
        ("routine", "declined", ["food"]),
    ]
    declined = list_tasks(session, status="declined", sla_working_days=SLA)
    assert [r.status for r in declined] == ["declined"]


def test_the_json_listing_keeps_the_contract(
    app: Flask, session: Session, database_url: str, tmp_path: Path
) -> None:
    submitted(session, "9990000018", ends_meet="yes", wants_help="yes")
    env = {**isolated(tmp_path), "SCREENING_DATABASE_URL": database_url}
    result = run("tasks", "--format", "json", **env)
    assert result.returncode == 0, result.stderr
    (task,) = json.loads(result.stdout)
    assert task["status"] == "open" and task["priority"] == "routine"
    assert task["domains"] == ["financial"]
    assert task["questionnaire_id"] == "barts-social-welfare"
    assert task["appointment_id"] == "APT-9990000018" and task["clinic_code"] == "CARD-NUH"
    assert datetime.fromisoformat(task["created_at"]).utcoffset() is not None
    assert isinstance(task["id"], int)
    # Nobody has worked on it yet (SPEC §5's fields for the prescriber's work).
    assert task["assigned_to"] is None and task["contact_attempts"] == 0
    assert task["reached"] is False and task["referrals"] == []
    assert task["outcome"] is None and task["closed_at"] is None
    assert date.fromisoformat(task["due_at"]) > datetime.fromisoformat(task["created_at"]).date()
    table = run("tasks", "--status", "closed", **env)
    assert table.returncode == 0 and table.stdout.strip().endswith("0 tasks")


def test_each_filter_count_is_the_number_of_tasks_its_link_leads_to(
    app: Flask, session: Session
) -> None:
    from itertools import product

    from screening.triage.queue import QueueFilters, queue_page
    from tests.factories import make_task, make_user

    user = make_user(session)
    make_task(session, nhs_number="9990000018", missed_meals="yes")
    make_task(session, nhs_number="9990000026", feel_unsafe="yes")
    make_task(session, nhs_number="9990000034", missed_meals="yes", wants_help="no")
    claimed = make_task(session, nhs_number="9990000042", stable_housing="no")
    from screening.triage import tasks

    tasks.claim(session, claimed.id, tasks.Context(by=user, now=clock.now()))
    today = clock.now().date()

    def listed(filters: QueueFilters) -> int:
        return queue_page(
            session, filters, user_id=user.id, sla_working_days=SLA, today=today, **ANSWER
        ).total

    choices = {
        "status": ["active", "declined"],
        "priority": [None, "routine"],
        "domain": [None, "food"],
        "assigned": [None, "me", "unassigned"],
    }
    for values in product(*choices.values()):
        filters = QueueFilters(**dict(zip(choices, values, strict=True)))
        page = queue_page(
            session, filters, user_id=user.id, sla_working_days=SLA, today=today, **ANSWER
        )
        for facet, options in (
            ("priority", ["urgent", "routine"]),
            ("domain", ["food", "housing", "safety", "financial"]),
            ("assigned", ["me", "unassigned"]),
            ("status", ["open", "assigned", "declined", "closed", "active"]),
        ):
            for option in options:
                expected = listed(filters.with_value(facet, option))
                assert page.counts[facet].get(option, 0) == expected, (filters, facet, option)
