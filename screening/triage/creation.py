"""A task is born (SPEC §3's triage rule): when a submission raised a flag or asked for
help, in the submission's own transaction, with the urgent alert queued beside it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..core import constants as c
from ..models import Episode, Response, TriageTask
from ..questionnaire import Questionnaire, triage_decision
from ..questionnaire.engine import Evaluation
from .alerts import queue_alert


def raise_task(
    session: Session,
    questionnaire: Questionnaire,
    episode: Episode,
    response: Response,
    evaluation: Evaluation,
    now: datetime,
) -> TriageTask | None:
    """The task the rule asks for, if any; the caller's transaction commits."""
    decision = triage_decision(questionnaire, evaluation)
    if decision is None:
        return None
    task = TriageTask(
        episode_id=episode.id,
        response_id=response.id,
        status=decision.status,
        priority=decision.priority,
        clinic_code=episode.clinic_code,
        domains=task_domains(evaluation),
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    if task.priority == c.PRIORITY_URGENT and task.status in c.ACTIVE_TASK_STATUSES:
        session.flush()
        # Queued here, mailed by the worker: the patient's submission never waits on,
        # or fails with, a mail server (SPEC §10).
        queue_alert(session, task.id, now)
    return task


def task_domains(evaluation: Evaluation) -> str | None:
    """The flagged domains as the task keeps them: between spaces, first raised first."""
    domains = list(dict.fromkeys(flag.domain for flag in evaluation.flags))
    return f" {' '.join(domains)} " if domains else None
