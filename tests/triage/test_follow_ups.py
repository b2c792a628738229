"""Follow-up questionnaires from a task (SPEC §11): scheduled, answered, shown over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from screening.config.loaded import state
from screening.core import clock
from screening.core.refusals import Refused
from screening.models import Episode, OutboundMessage, TriageTask
from screening.patient.responses import save_answer, submit
from screening.triage import follow_ups, tasks
from tests.factories import make_task, make_user
from tests.pages import page, text_of
from tests.views.test_triage import post, sign_in

NOW = datetime(2026, 12, 2, 15, tzinfo=clock.LONDON)


def schedule(
    session: Session, task: TriageTask, user, day: str, questionnaire: str = "ons4-wellbeing"
):
    return follow_ups.schedule(
        session,
        task.id,
        tasks.Context(by=user, now=NOW),
        questionnaire_id=questionnaire,
        day=day,
        questionnaires=state().questionnaires.questionnaires,
        config=state().config,
    )


def test_a_follow_up_is_an_episode_without_an_appointment_invited_at_nine(
    app: Flask, session: Session
) -> None:
    user = make_user(session)
    task = make_task(session)
    episode = schedule(session, task, user, "2027-03-01")
    assert (episode.appointment_id, episode.follow_up_task_id) == (None, task.id)
    assert (episode.clinic_code, episode.questionnaire_id) == ("CARD-NUH", "ons4-wellbeing")
    message = session.scalars(
        select(OutboundMessage).where(OutboundMessage.episode_id == episode.id)
    ).one()
    nine = datetime(2027, 3, 1, 9, tzinfo=clock.LONDON).astimezone(UTC)
    assert (message.kind, message.due_at, message.valid_until) == (
        "invite",
        nine,
        nine + timedelta(days=1),
    )
    assert episode.token_expires_at == nine + timedelta(days=14)


@pytest.mark.parametrize(
    ("questionnaire", "day", "field"),
    [
        ("horoscope", "2027-03-01", "questionnaire"),
        ("ons4-wellbeing", "2026-12-01", "date"),
        ("ons4-wellbeing", "next week", "date"),
        ("ons4-wellbeing", "2029-01-01", "date"),
    ],
)
def test_a_bad_follow_up_is_refused_and_nothing_is_scheduled(
    app: Flask, session: Session, questionnaire: str, day: str, field: str
) -> None:
    user = make_user(session)
    task = make_task(session)
    with pytest.raises(Refused) as refused:
        schedule(session, task, user, day, questionnaire)
    session.rollback()
    assert refused.value.field == field
    assert session.scalar(select(func.count()).select_from(Episode)) == 1
    assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 0


def test_wellbeing_scores_appear_on_the_task_over_time(app: Flask, session: Session) -> None:
    task = make_task(session)
    client = sign_in(app, session, "sp@example.nhs.uk")
    here = f"/triage/{task.id}"
    assert (
        post(
            client,
            f"{here}/follow-up",
            here,
            questionnaire="ons4-wellbeing",
            date=(clock.now() + timedelta(days=1)).astimezone(clock.LONDON).date().isoformat(),
        ).status_code
        == 303
    )
    questionnaire = state().questionnaires.questionnaires["ons4-wellbeing"]
    (episode,) = session.scalars(select(Episode).where(Episode.follow_up_task_id == task.id)).all()
    first_item = questionnaire.items[0]
    answers = {item.id: "7" for item in questionnaire.items if item.type == "scale"}
    answers[first_item.id] = "3"
    for item_id, value in answers.items():
        save_answer(session, questionnaire, episode, item_id, value, now=clock.now())
    result = submit(session, questionnaire, episode, language="en", now=clock.now())
    assert result.task is None  # the ONS4 measures; it does not refer
    text = text_of(page(client.get(here)))
    assert "Scores over time" in text
    assert f"{first_item.text['en']}" in text and ": 3" in text
    title = questionnaire.title[questionnaire.default_language]
    assert f"{title}: answered" in text  # the questionnaire by its title


def test_a_follow_up_with_a_bad_date_shows_the_error_on_the_task_page(
    app: Flask, session: Session
) -> None:
    task = make_task(session)
    client = sign_in(app, session, "sp@example.nhs.uk")
    here = f"/triage/{task.id}"
    html = page(
        post(client, f"{here}/follow-up", here, questionnaire="ons4-wellbeing", date="soon"), 400
    )
    summary = html.select_one(".nhsuk-error-summary")
    assert "Enter a real date" in text_of(summary)
    assert html.select_one(summary.find("a")["href"]) is not None
