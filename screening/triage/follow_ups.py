"""Follow-up questionnaires (SPEC §11): from a task, a prescriber schedules a questionnaire
(the ONS4, say, at the first session and again at 12 weeks) for a date.

That makes an episode without an appointment, in the task's clinic and outside the
re-screen window, whose invitation waits in the outbox until 09:00 on that date (quiet
hours and opt-outs apply as to every text), is valid at the provider for 24 hours, and
whose link expires `follow_up_link_days` after it. Its answers come back to the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..core.clock import LONDON
from ..core.dates import iso_date_in
from ..core.refusals import Problems, Refused
from ..invitations.opt_outs import is_opted_out
from ..invitations.schedule import SEND_FROM
from ..invitations.tokens import link_token, token_hash
from ..models import Answer, Episode, OutboundMessage, Response, TriageTask
from ..questionnaire import Questionnaire
from .tasks import Context, open_task, task_audit

LATEST_DAYS_AHEAD = 400  # a year and a bit: a 12-month review fits, a typo in the year does not


def schedule(
    session: Session,
    task_id: int,
    ctx: Context,
    *,
    questionnaire_id: str,
    day: str,
    questionnaires: dict[str, Questionnaire],
    config: Config,
) -> Episode:
    task = open_task(session, task_id)
    patient = task.episode.patient
    # Nothing else on the form matters if the patient cannot be texted at all.
    if patient.mobile is None:
        raise Refused(
            "This patient has no mobile we can text: answer the questions with them instead",
            field="questionnaire",
        )
    if is_opted_out(session, patient.mobile):
        raise Refused("This patient's number has opted out of texts", field="questionnaire")
    questionnaire = questionnaires.get(questionnaire_id.strip())
    problems = Problems()
    if questionnaire is None:
        problems.add("questionnaire", "Select a questionnaire to send")
    when = _day(day, ctx.now, problems)
    problems.refuse()
    assert questionnaire is not None and when is not None  # refused above otherwise
    due = datetime.combine(when, SEND_FROM, tzinfo=LONDON).astimezone(UTC)
    episode = Episode(
        patient_id=patient.id,
        appointment_id=None,
        clinic_code=task.episode.clinic_code,
        questionnaire_id=questionnaire.id,
        status=c.EPISODE_SCHEDULED,
        mode=c.MODE_SMS,
        language=task.episode.language,
        follow_up_task_id=task.id,
        age_band=task.episode.age_band,
        sex=task.episode.sex,
        ethnicity=task.episode.ethnicity,
        imd_decile=task.episode.imd_decile,
        created_at=ctx.now,
    )
    session.add(episode)
    session.flush()  # the public id, from which the link is derived
    episode.token_hash = token_hash(link_token(config.secret_key, episode.public_id))
    episode.token_expires_at = due + timedelta(days=config.settings.follow_up_link_days)
    session.add(OutboundMessage.for_the_day(episode.id, c.MESSAGE_INVITE, due))
    task_audit(
        session,
        ctx,
        c.AUDIT_TASK_FOLLOW_UP,
        task,
        episode_id=episode.id,
        questionnaire=questionnaire.id,
        due=when.isoformat(),
    )
    session.commit()
    return episode


def _day(text: str, now: datetime, problems: Problems) -> date | None:
    # The page gives a date already checked (views.forms.DayField), or none.
    if not text.strip():
        problems.add("date", "Enter the date to send it")
        return None
    when = iso_date_in({"date": text}, "date", problems)
    if when is None:
        return None
    today = now.astimezone(LONDON).date()
    if when < today:
        problems.add("date", "The date must be today or later")
    elif when > today + timedelta(days=LATEST_DAYS_AHEAD):
        problems.add("date", "The date must be within the next year")
    return when


# --- results on the task page ----------------------------------------------------------------


@dataclass(frozen=True)
class FollowUp:
    questionnaire_id: str
    due: datetime | None
    sent: bool
    answered_at: datetime | None


@dataclass(frozen=True)
class ScaleSeries:
    """One scale question's answers over time, oldest first."""

    question: str
    points: list[tuple[datetime, str]]


def follow_ups_of(session: Session, task: TriageTask) -> list[FollowUp]:
    rows = session.execute(
        select(
            Episode.questionnaire_id,
            OutboundMessage.due_at,
            OutboundMessage.sent_at,
            Episode.completed_at,
        )
        .outerjoin(
            OutboundMessage,
            (OutboundMessage.episode_id == Episode.id) & (OutboundMessage.kind == c.MESSAGE_INVITE),
        )
        .where(Episode.follow_up_task_id == task.id)
        .order_by(OutboundMessage.due_at, Episode.id)
    )
    return [FollowUp(q, due, sent is not None, answered) for q, due, sent, answered in rows]


def scale_series(
    session: Session, task: TriageTask, questionnaires: dict[str, Questionnaire]
) -> list[ScaleSeries]:
    """Every scale answer of the task's follow-ups, by question, over time (SPEC §11)."""
    rows = session.execute(
        select(Response.questionnaire_id, Response.submitted_at, Answer.item_id, Answer.value)
        .join(Episode, Response.episode_id == Episode.id)
        .join(Answer, Answer.episode_id == Episode.id)
        .where(Episode.follow_up_task_id == task.id)
        .order_by(Response.submitted_at, Answer.id)
    )
    series: dict[tuple[str, str], ScaleSeries] = {}
    for questionnaire_id, submitted_at, item_id, value in rows:
        questionnaire = questionnaires.get(questionnaire_id)
        if questionnaire is None:
            continue
        item = next((i for i in questionnaire.items if i.id == item_id), None)
        if item is None or item.type != "scale":
            continue
        key = (questionnaire_id, item_id)
        if key not in series:
            text = item.text[questionnaire.default_language]
            series[key] = ScaleSeries(question=text, points=[])
        series[key].points.append((submitted_at, str(value)))
    return list(series.values())
