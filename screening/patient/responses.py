"""Saving answers page by page, and submitting them once (SPEC §3, §7).

Every answer is stored as it is given, so the same link resumes where the patient left
off, on any device. Answers to items the engine now hides are deleted at once: a hidden
item's answer is never kept. Submission is idempotent: one response per episode (a unique
constraint), created with its flags and its triage task (made by `triage.creation`) in one
transaction, so double clicks, back-button resubmits and two tabs give one response, one
set of flags, one task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core import constants as c
from ..models import Answer, Episode, Flag, Response, TriageTask
from ..questionnaire import Questionnaire, evaluate
from ..questionnaire.answers import stored_answers
from ..questionnaire.engine import Evaluation, stands_at, wants_contact
from ..questionnaire.frozen import answered_version, freeze
from ..questionnaire.model import AnswerValue
from ..triage.creation import raise_task

OPEN_STATUSES = frozenset(
    {
        c.EPISODE_SCHEDULED,
        c.EPISODE_INVITED,
        c.EPISODE_OPENED,
        c.EPISODE_STARTED,
        c.EPISODE_NEEDS_CALL,
        c.EPISODE_SEND_FAILED,
        c.EPISODE_OPTED_OUT,
    }
)


def save_answer(
    session: Session,
    questionnaire: Questionnaire,
    episode: Episode,
    item_id: str,
    value: AnswerValue | None,
    *,
    now: datetime,
    entered_by: int | None = None,
) -> Evaluation:
    """Store (or clear) one answer and drop answers the change has hidden; commit."""
    answers = stored_answers(session, episode)
    if value is None:
        answers.pop(item_id, None)
    else:
        answers[item_id] = value
    evaluation = evaluate(questionnaire, answers)
    session.execute(
        delete(Answer).where(
            Answer.episode_id == episode.id, Answer.item_id.not_in(list(evaluation.answers))
        )
    )
    if item_id in evaluation.answers:
        _upsert(session, episode, item_id, evaluation.answers[item_id], now, entered_by)
    episode.started_at = episode.started_at or now
    episode.stands_at = stands_at(questionnaire, evaluation)
    if episode.status in OPEN_STATUSES:
        episode.status = c.EPISODE_STARTED
    session.commit()
    return evaluation


def place_unfinished(session: Session, questionnaires: Mapping[str, Questionnaire]) -> int:
    """Give each unfinished episode with answers but no page its page (SPEC §7 `dropoff`):
    those answered before the page was kept. Run after every upgrade; finds none once done."""
    unplaced = session.scalars(
        select(Episode).where(
            Episode.stands_at.is_(None),
            Episode.completed_at.is_(None),
            select(Answer.id).where(Answer.episode_id == Episode.id).exists(),
        )
    ).all()
    for episode in unplaced:
        questionnaire = answered_version(
            session, questionnaires, episode.questionnaire_id, episode.questionnaire_version
        )
        if questionnaire is not None:
            evaluation = evaluate(questionnaire, stored_answers(session, episode))
            episode.stands_at = stands_at(questionnaire, evaluation)
    session.commit()
    return len(unplaced)


def _upsert(
    session: Session,
    episode: Episode,
    item_id: str,
    value: AnswerValue,
    now: datetime,
    entered_by: int | None,
) -> None:
    row = session.scalar(
        select(Answer).where(Answer.episode_id == episode.id, Answer.item_id == item_id)
    )
    if row is None:
        session.add(
            Answer(
                episode_id=episode.id,
                item_id=item_id,
                value=value,
                answered_at=now,
                entered_by_user_id=entered_by,
            )
        )
    else:
        row.value, row.answered_at, row.entered_by_user_id = value, now, entered_by


@dataclass(frozen=True)
class Submitted:
    response: Response
    task: TriageTask | None
    created: bool  # False when this episode had already been submitted


def submit(
    session: Session,
    questionnaire: Questionnaire,
    episode: Episode,
    *,
    language: str,
    now: datetime,
    submitted_by: int | None = None,
) -> Submitted:
    """Create the response, its flags and its task, once. Safe to call twice."""
    existing = _submitted(session, episode)
    if existing is not None:
        return existing
    evaluation = evaluate(questionnaire, stored_answers(session, episode))
    try:
        response = _record(session, questionnaire, episode, evaluation, language, now, submitted_by)
        session.commit()
    except IntegrityError:
        # Another request (a second tab, a double click) submitted first: theirs stands.
        session.rollback()
        existing = _submitted(session, episode)
        assert existing is not None
        return existing
    task = session.scalar(select(TriageTask).where(TriageTask.episode_id == episode.id))
    return Submitted(response, task, created=True)


def _submitted(session: Session, episode: Episode) -> Submitted | None:
    response = session.scalar(select(Response).where(Response.episode_id == episode.id))
    if response is None:
        return None
    task = session.scalar(select(TriageTask).where(TriageTask.episode_id == episode.id))
    return Submitted(response, task, created=False)


def _record(
    session: Session,
    questionnaire: Questionnaire,
    episode: Episode,
    evaluation: Evaluation,
    language: str,
    now: datetime,
    submitted_by: int | None,
) -> Response:
    freeze(session, questionnaire)
    response = Response(
        episode_id=episode.id,
        questionnaire_id=questionnaire.id,
        questionnaire_version=questionnaire.version,
        mode=episode.mode,
        language=language,
        submitted_at=now,
        submitted_by_user_id=submitted_by,
    )
    session.add(response)
    session.flush()  # the unique episode_id fails here when another request won
    for flag in evaluation.flags:
        session.add(
            Flag(
                response_id=response.id,
                item_id=flag.item_id,
                domain=flag.domain,
                priority=flag.priority,
                always_triage=flag.always_triage,
            )
        )
    raise_task(session, questionnaire, episode, response, evaluation, now)
    _mark_completed(episode, questionnaire, evaluation, now)
    return response


def _mark_completed(
    episode: Episode, questionnaire: Questionnaire, evaluation: Evaluation, now: datetime
) -> None:
    episode.status = c.EPISODE_COMPLETED
    episode.questionnaire_version = questionnaire.version
    episode.completed_at = now
    episode.started_at = episode.started_at or now
    if evaluation.flags:
        episode.flagged_at = now
    if wants_contact(questionnaire, evaluation):
        episode.wants_help_at = now
