"""The funnel's SQL (SPEC §7): one pass per breakdown, conditional aggregates, no rows.

Every pass answers a handful of grouped rows whatever the number of episodes: the
breakdowns by clinic and mode (folded in Python into the totals) and by each patient
group, the others by a day, a domain, an item or a service. Stage conditions are
`count(column)`, which counts the non-null stage timestamps of SPEC §7 (DESIGN: one
timestamp per stage).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    case,
    cast,
    distinct,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from .. import clock
from .. import constants as c
from ..models import Answer, Episode, Flag, Referral, Response, SupportSession, TriageTask
from .filters import Filters

# The stage timestamps of SPEC §7, in the funnel's order.
STAGE_COLUMNS = (
    Episode.invited_at,
    Episode.delivered_at,
    Episode.opened_at,
    Episode.completed_at,
    Episode.flagged_at,
    Episode.wants_help_at,
    Episode.contacted_at,
    Episode.referred_at,
)
assert len(STAGE_COLUMNS) == len(c.FUNNEL_STAGES)

# The breakdowns of the cohort: the clinic, questionnaire and completion mode together
# (the totals fold from them), then each patient-group column of the episode's snapshot.
BREAKDOWNS: dict[str, tuple[Any, ...]] = {
    "cohort": (Episode.clinic_code, Episode.questionnaire_id, Episode.mode),
    "age_band": (Episode.age_band,),
    "sex": (Episode.sex,),
    "ethnicity": (Episode.ethnicity,),
    "language": (Episode.language,),
    "imd_decile": (Episode.imd_decile,),
}

# The "I don't want to answer" answer of the shipped questionnaires (SPEC §2).
DECLINE_VALUE = "decline"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.LONDON).astimezone(UTC)


def cohort(filters: Filters, episode: Any = Episode) -> list[ColumnElement[bool]]:
    """The screening episodes the report counts: follow-ups are not screening (SPEC §7)."""
    where = [episode.follow_up_task_id.is_(None)]
    if filters.clinic is not None:
        where.append(episode.clinic_code == filters.clinic)
    if filters.questionnaire is not None:
        where.append(episode.questionnaire_id == filters.questionnaire)
    if filters.date_from is not None:
        where.append(episode.appointment_at >= _midnight(filters.date_from))
    if filters.date_to is not None:
        where.append(episode.appointment_at < _midnight(filters.date_to + timedelta(days=1)))
    return where


def _stage_counts() -> list[ColumnElement[int]]:
    return [func.count(column) for column in STAGE_COLUMNS]


# --- London days from stored UTC times ----------------------------------------------------


def _day_key(session: Session, column: Any) -> ColumnElement[str]:
    """A text key that names the London calendar day of a UTC time.

    PostgreSQL converts exactly. SQLite has no time zones: the key is the UTC date, marked
    `+` in the 23:00 UTC hour, the only hour whose London date can differ (in summer time)
    — so `london_day` recovers the London date exactly from a few hundred keys.
    """
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Europe/London", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10) + case(
        (func.substr(column, 12, 2) == "23", literal("+")), else_=literal("")
    )


def london_day(key: str) -> date:
    day = date.fromisoformat(key[:10])
    if not key.endswith("+"):
        return day  # PostgreSQL's London date, or a UTC hour that shares London's date
    return datetime.combine(day, time(23), tzinfo=UTC).astimezone(clock.LONDON).date()


# --- the passes --------------------------------------------------------------------------


def _of_cohort(query: Any, episode_id: Any, filters: Filters) -> Any:
    """Rows of a table that belong to the cohort's episodes, through `episode_id`."""
    if filters == Filters():
        # The whole service: no episode needs reading but the few follow-ups left out.
        follow_ups = select(Episode.id).where(Episode.follow_up_task_id.is_not(None))
        return query.where(episode_id.not_in(follow_ups))
    return query.join(Episode, Episode.id == episode_id).where(*cohort(filters))


def stage_totals(session: Session, filters: Filters) -> tuple[int, ...]:
    """The stage counts of the whole report: one pass, nothing grouped."""
    return tuple(session.execute(select(*_stage_counts()).where(*cohort(filters))).one())


def breakdown_rows(session: Session, filters: Filters) -> Iterator[tuple[str, tuple, tuple]]:
    """(breakdown, its key values, the stage counts) for every breakdown of `BREAKDOWNS`.

    PostgreSQL computes them in one pass with GROUPING SETS. SQLite has none: a grouping
    of every column at once would answer a row per combination (tens of thousands at a
    million episodes, growing with them), so it runs one grouped pass per breakdown.
    """
    if session.get_bind().dialect.name == "postgresql":
        yield from _grouping_sets(session, filters)
        return
    for name, keys in BREAKDOWNS.items():
        query = select(*keys, *_stage_counts()).where(*cohort(filters)).group_by(*keys)
        for row in session.execute(query):
            yield name, tuple(row[: len(keys)]), tuple(row[len(keys) :])


def _grouping_sets(session: Session, filters: Filters) -> Iterator[tuple[str, tuple, tuple]]:
    columns = [column for keys in BREAKDOWNS.values() for column in keys]
    # GROUPING(a, b, ...) has a bit set for each column not grouped in the row's set.
    masks = {}
    for name, keys in BREAKDOWNS.items():
        mask = 0
        for position, column in enumerate(columns):
            if column not in keys:
                mask |= 1 << (len(columns) - 1 - position)
        masks[mask] = (name, [columns.index(column) for column in keys])
    query = (
        select(func.grouping(*columns), *columns, *_stage_counts())
        .where(*cohort(filters))
        .group_by(func.grouping_sets(*(tuple_(*keys) for keys in BREAKDOWNS.values())))
    )
    for row in session.execute(query):
        name, positions = masks[row[0]]
        yield name, tuple(row[1 + p] for p in positions), tuple(row[1 + len(columns) :])


def invitation_hours(session: Session, filters: Filters) -> Iterator[Any]:
    """Stage counts by the UTC hour of invitation; `london_day_of_hour` names its day (the
    London offset is a whole number of hours), and the weekly trend is folded in Python."""
    if session.get_bind().dialect.name == "postgresql":
        hour = func.date_trunc("hour", Episode.invited_at)
    else:
        hour = func.substr(Episode.invited_at, 1, 13)  # "YYYY-MM-DD HH" of a UTC time
    query = (
        select(hour.label("hour"), *_stage_counts())
        .where(*cohort(filters), Episode.invited_at.is_not(None))
        .group_by(hour)
    )
    return iter(session.execute(query))


def london_day_of_hour(hour: datetime | str) -> date:
    if isinstance(hour, str):
        hour = datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
    return hour.astimezone(clock.LONDON).date()


def domain_counts(session: Session, filters: Filters) -> dict[str, int]:
    """Completers with at least one flag in each domain."""
    query = (
        select(Flag.domain, func.count(distinct(Flag.response_id)))
        .join(Response, Response.id == Flag.response_id)
        .group_by(Flag.domain)
    )
    query = _of_cohort(query, Response.episode_id, filters)
    return {domain: count for domain, count in session.execute(query)}


def item_answers(session: Session, filters: Filters) -> Iterator[Any]:
    """Per questionnaire item, among completers: how many answered it, how many declined."""
    declined = cast(Answer.value, String) == f'"{DECLINE_VALUE}"'
    query = (
        select(
            Response.questionnaire_id,
            Answer.item_id,
            func.count().label("answered"),
            func.count(case((declined, 1))).label("declined"),
        )
        # A response is a completed episode's: answers of unfinished forms are left out.
        .join(Response, Response.episode_id == Answer.episode_id)
        .group_by(Response.questionnaire_id, Answer.item_id)
    )
    query = _of_cohort(query, Answer.episode_id, filters)
    return iter(session.execute(query))


def support_sessions(session: Session, filters: Filters) -> tuple[int, int]:
    """Sessions with the social prescriber, and the patients who had at least one."""
    query = select(
        func.count(SupportSession.id), func.count(distinct(SupportSession.task_id))
    ).join(TriageTask, TriageTask.id == SupportSession.task_id)
    query = _of_cohort(query, TriageTask.episode_id, filters)
    sessions, patients = session.execute(query).one()
    return sessions, patients


def referral_rows(session: Session, filters: Filters) -> Iterator[Any]:
    """Onward referrals by service, domain, PCN and status."""
    keys = (Referral.service_id, Referral.service_name, Referral.domain, Referral.to_pcn)
    query = (
        select(*keys, func.count().label("count"))
        .join(TriageTask, TriageTask.id == Referral.task_id)
        .group_by(*keys)
    )
    query = _of_cohort(query, TriageTask.episode_id, filters)
    return iter(session.execute(query))


def completion_to_contact_days(session: Session, filters: Filters) -> Iterator[Any]:
    """(London day completed, London day first reached, how many): for the median wait."""
    completed = _day_key(session, Episode.completed_at)
    contacted = _day_key(session, Episode.contacted_at)
    query = (
        select(completed, contacted, func.count())
        .where(
            *cohort(filters),
            Episode.completed_at.is_not(None),
            Episode.contacted_at.is_not(None),
        )
        .group_by(completed, contacted)
    )
    return iter(session.execute(query))


def task_outcomes(session: Session, filters: Filters) -> Iterator[Any]:
    """Triage tasks by status and, once closed, outcome."""
    query = select(TriageTask.status, TriageTask.outcome, func.count()).group_by(
        TriageTask.status, TriageTask.outcome
    )
    query = _of_cohort(query, TriageTask.episode_id, filters)
    return iter(session.execute(query))


def follow_up_counts(session: Session, filters: Filters) -> tuple[int, int]:
    """Follow-up questionnaires (SPEC §11) scheduled from this cohort's tasks: sent, answered."""
    follow_up = aliased(Episode)
    query = (
        select(func.count(follow_up.invited_at), func.count(follow_up.completed_at))
        .select_from(follow_up)
        .join(TriageTask, TriageTask.id == follow_up.follow_up_task_id)
    )
    invited, completed = session.execute(_of_cohort(query, TriageTask.episode_id, filters)).one()
    return invited, completed
