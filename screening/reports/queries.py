"""The funnel's SQL (SPEC §7): one pass per breakdown, conditional aggregates, no rows.

Every pass answers a handful of grouped rows whatever the number of episodes: the
breakdowns by clinic and mode (folded in Python into the totals) and by each patient
group, the others by a day, a domain, an item or a service. The stages an episode has
reached are one small integer, `Episode.stages_reached` (a bit per stage timestamp of
SPEC §7), so a breakdown groups by its columns and that integer, reading one covering
index in its own order, and the few hundred (key, stages, episodes) rows it answers are
folded here into stage counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Date,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from ..core import clock
from ..core import constants as c
from ..models import (
    FUNNEL_BREAKDOWNS,
    Answer,
    Episode,
    Flag,
    Referral,
    Response,
    SupportSession,
    TriageTask,
    sqlite_day_key,
)
from .filters import Filters

# The breakdowns of the cohort (see FUNNEL_BREAKDOWNS), as columns.
BREAKDOWNS: dict[str, tuple[Any, ...]] = {
    name: tuple(Episode.__table__.c[key] for key in keys)
    for name, keys in FUNNEL_BREAKDOWNS.items()
}
STAGE_COUNT = len(c.FUNNEL_STAGES)

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


def stage_counts(reached: Iterable[tuple[int, int]]) -> tuple[int, ...]:
    """Stage counts from (stages_reached, episodes) pairs: how many reached each stage."""
    counts = [0] * STAGE_COUNT
    for stages, episodes in reached:
        for stage in range(STAGE_COUNT):
            if stages & (1 << stage):
                counts[stage] += episodes
    return tuple(counts)


def _through(index: str, query: Any, filters: Filters) -> Any:
    """The query, reading episodes through the funnel's index `index` on SQLite, or for a
    period, straight from the table.

    Named, because SQLite's planner prefers any index it can search by the filters' clinic
    or questionnaire, then reads each episode from the table and sorts them; scanning the
    covering index, with the filters at its end, is what a pass over the whole service or
    a clinic needs. A period is a range of appointment times, which the covering indexes
    leave out (see models.FUNNEL_FILTERS): one scan of the table in its own order, then
    sorting the period's episodes, is faster than reading each through an index, or
    through an index of the times (README, Benchmarks: design measurements). PostgreSQL
    plans from its statistics.
    """
    if filters.date_from is not None or filters.date_to is not None:
        return query.with_hint(Episode, "NOT INDEXED", "sqlite")
    return query.with_hint(Episode, f"INDEXED BY ix_episodes_funnel_{index}", "sqlite")


def _fold_by_key(rows: Iterable[Any], width: int) -> dict[tuple, tuple[int, ...]]:
    """{key: stage counts} from rows of (*key columns, stages_reached, episodes)."""
    reached: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        reached[tuple(row[:width])].append((row[width], row[width + 1]))
    return {key: stage_counts(pairs) for key, pairs in reached.items()}


# --- London days from stored UTC times ----------------------------------------------------


def _day_key(session: Session, column: Any) -> ColumnElement[Any]:
    """A key that names the London calendar day of a UTC time (`london_day` reads it).

    PostgreSQL converts exactly, to a date (a text form is slower to group). SQLite has no
    time zones: the key is the UTC date, marked `+` in the 23:00 UTC hour, the only hour
    whose London date can differ (in summer time), so `london_day` recovers the London
    date exactly from a few hundred keys.
    """
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Europe/London", column), Date)
    # As literal SQL, the very expression of the index on the invitation's day.
    return literal_column(sqlite_day_key(column.name), String)


def london_day(key: date | str) -> date:
    if isinstance(key, date):
        return key  # PostgreSQL's London date
    day = date.fromisoformat(key[:10])
    if not key.endswith("+"):
        return day  # a UTC hour that shares London's date
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
    """The stage counts of the whole report: one pass, grouped by the stages reached."""
    query = _through(
        "totals",
        select(Episode.stages_reached, func.count())
        .where(*cohort(filters))
        .group_by(Episode.stages_reached),
        filters,
    )
    return stage_counts(session.execute(query))


def breakdown_rows(session: Session, filters: Filters) -> Iterator[tuple[str, tuple, tuple]]:
    """(breakdown, its key values, the stage counts) for every breakdown of `BREAKDOWNS`.

    One grouped pass per breakdown, each read from its own covering index in GROUP BY
    order (`ix_episodes_funnel_*`). A grouping of every column at once would answer a row
    per combination (tens of thousands at a million episodes, growing with them).
    """
    for name, keys in BREAKDOWNS.items():
        grouped = (*keys, Episode.stages_reached)
        query = _through(
            name,
            select(*grouped, func.count()).where(*cohort(filters)).group_by(*grouped),
            filters,
        )
        for key, counts in _fold_by_key(session.execute(query), len(keys)).items():
            yield name, key, counts


def invitation_days(session: Session, filters: Filters) -> Iterator[tuple[date, tuple]]:
    """(London day of invitation, stage counts): the weekly trend folds from these."""
    day = _day_key(session, Episode.invited_at)
    query = _through(
        "invited_day",  # SQLite's; PostgreSQL hashes the days of ix_episodes_funnel_invited
        select(day, Episode.stages_reached, func.count())
        .where(*cohort(filters), Episode.invited_at.is_not(None))
        .group_by(day, Episode.stages_reached),
        filters,
    )
    for (key,), counts in _fold_by_key(session.execute(query), 1).items():
        yield london_day(key), counts


def domain_counts(session: Session, filters: Filters) -> dict[str, int]:
    """Completers with at least one flag in each domain."""
    query = (
        select(Flag.domain, func.count(distinct(Flag.response_id)))
        .join(Response, Response.id == Flag.response_id)
        .group_by(Flag.domain)
    )
    query = _of_cohort(query, Response.episode_id, filters)
    return {domain: count for domain, count in session.execute(query)}


def stopped_counts(session: Session, filters: Filters) -> dict[tuple[str, str], int]:
    """{(questionnaire, page): episodes} for those engaged and not completed: where each
    stands now (SPEC §7 `dropoff`), `start` where no answer was saved."""
    page = func.coalesce(Episode.stands_at, c.PAGE_START)
    query = (
        select(Episode.questionnaire_id, page, func.count())
        .where(
            *cohort(filters),
            Episode.opened_at.is_not(None),
            Episode.completed_at.is_(None),
        )
        .group_by(Episode.questionnaire_id, page)
    )
    return {(questionnaire, at): count for questionnaire, at, count in session.execute(query)}


class ItemAnswers(NamedTuple):
    questionnaire_id: str
    item_id: str
    answered: int
    declined: int


def item_answers(
    session: Session, filters: Filters, items: Iterable[tuple[str, str]]
) -> list[ItemAnswers]:
    """For each (questionnaire, item) given, among completers: how many answered it, and
    how many of them declined.

    PostgreSQL hashes the join and groups by item. SQLite would sort the million answers
    to group them: it counts them in one row instead, a pair of conditional counts per
    item, reading answers from a covering index (README, Benchmarks: design measurements).
    """
    items = list(items)
    if not items:
        return []
    declined = cast(Answer.value, String) == f'"{DECLINE_VALUE}"'
    if session.get_bind().dialect.name == "postgresql":
        return _item_answers_grouped(session, filters, items, declined)
    counts = []
    for questionnaire_id, item_id in items:
        this = and_(Response.questionnaire_id == questionnaire_id, Answer.item_id == item_id)
        counts += [func.count(case((this, 1))), func.count(case((and_(this, declined), 1)))]
    query = (
        select(*counts)
        .select_from(Response)
        # A response is a completed episode's: answers of unfinished forms are left out.
        .join(Answer, Answer.episode_id == Response.episode_id)
    )
    row = session.execute(_of_cohort(query, Response.episode_id, filters)).one()
    return [
        ItemAnswers(questionnaire_id, item_id, row[2 * n], row[2 * n + 1])
        for n, (questionnaire_id, item_id) in enumerate(items)
    ]


def _item_answers_grouped(
    session: Session, filters: Filters, items: list[tuple[str, str]], declined: Any
) -> list[ItemAnswers]:
    keys = (Response.questionnaire_id, Answer.item_id)
    query = (
        select(*keys, func.count(), func.count(case((declined, 1))))
        .select_from(Response)
        .join(Answer, Answer.episode_id == Response.episode_id)
        .where(tuple_(*keys).in_(items))
        .group_by(*keys)
    )
    found = {
        (q, i): (n, d)
        for q, i, n, d in session.execute(_of_cohort(query, Response.episode_id, filters))
    }
    return [ItemAnswers(q, i, *found.get((q, i), (0, 0))) for q, i in items]


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
    query = _through(
        "contacted",
        select(completed, contacted, func.count())
        .where(
            *cohort(filters),
            Episode.completed_at.is_not(None),
            Episode.contacted_at.is_not(None),
        )
        .group_by(completed, contacted),
        filters,
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
        # Implied by the join, but said so SQLite reads the follow-ups from their index.
        .where(follow_up.follow_up_task_id.is_not(None))
    )
    invited, completed = session.execute(_of_cohort(query, TriageTask.episode_id, filters)).one()
    return invited, completed


# --- what the services said (SPEC §7 `outcomes`, §13) ---------------------------------------


def referral_outcomes(session: Session, filters: Filters, *, made_before: datetime) -> list[Any]:
    """One row per service: its referrals made, ever accepted, declined and completed, the
    completions that helped, those still waiting that were made before `made_before` (the
    overdue), and the declines by reason (a column named by each reason).

    A status counts as reached by its time, or by the status itself: referrals answered
    before the times were kept (migration 0015) have a status and no time.
    """
    status = Referral.status

    def ever(at: Any, *statuses: str) -> Any:
        return func.count(case((or_(at.is_not(None), status.in_(statuses)), 1)))

    def where(*conditions: Any) -> Any:
        return func.count(case((and_(*conditions), 1)))

    query = (
        select(
            Referral.service_id,
            func.count().label("made"),
            ever(Referral.accepted_at, c.REFERRAL_ACCEPTED, c.REFERRAL_COMPLETED).label("accepted"),
            ever(Referral.declined_at, c.REFERRAL_DECLINED).label("declined"),
            ever(Referral.completed_at, c.REFERRAL_COMPLETED).label("completed"),
            where(
                status == c.REFERRAL_COMPLETED, Referral.outcome.in_(sorted(c.HELPED_OUTCOMES))
            ).label("helped"),
            where(status == c.REFERRAL_MADE, Referral.referred_at < made_before).label("overdue"),
            *(
                where(status == c.REFERRAL_DECLINED, Referral.reason == reason).label(reason)
                for reason in c.DECLINE_REASONS
            ),
        )
        .join(TriageTask, TriageTask.id == Referral.task_id)
        .group_by(Referral.service_id)
    )
    return list(session.execute(_of_cohort(query, TriageTask.episode_id, filters)))


def referral_response_days(session: Session, filters: Filters) -> Iterator[Any]:
    """(service, London day made, London day of the first answer, how many) for referrals
    a service accepted or declined: the first answer is whichever came first."""
    accepted, declined = Referral.accepted_at, Referral.declined_at
    first_answer = case(
        (or_(declined.is_(None), and_(accepted.is_not(None), accepted <= declined)), accepted),
        else_=declined,
    )
    made, answered = (
        _london_day_of(session, Referral.referred_at),
        _london_day_of(session, first_answer),
    )
    query = (
        select(Referral.service_id, made, answered, func.count())
        .join(TriageTask, TriageTask.id == Referral.task_id)
        .where(or_(accepted.is_not(None), declined.is_not(None)))
        .group_by(Referral.service_id, made, answered)
    )
    return iter(session.execute(_of_cohort(query, TriageTask.episode_id, filters)))


def _london_day_of(session: Session, at: Any) -> ColumnElement[Any]:
    """`_day_key` for any time, not only an episode's column: the key `london_day` reads."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Europe/London", at), Date)
    hour = func.substr(at, 12, 2)
    return func.substr(at, 1, 10).concat(case((hour == "23", "+"), else_=""))


def follow_up_answers(session: Session, filters: Filters, item_ids: Iterable[str]) -> list[Any]:
    """The completed follow-up questionnaires (SPEC §11) of the cohort's tasks, each with its
    answers to the items named: (task, questionnaire, episode, completed_at, item, value),
    a follow-up with none of them once, its item null. Follow-ups are a few per task."""
    follow_up = aliased(Episode)
    query = (
        select(
            follow_up.follow_up_task_id.label("task_id"),
            follow_up.questionnaire_id,
            follow_up.id.label("episode_id"),
            follow_up.completed_at,
            Answer.item_id,
            Answer.value,
        )
        .select_from(follow_up)
        .join(TriageTask, TriageTask.id == follow_up.follow_up_task_id)
        .outerjoin(
            Answer, and_(Answer.episode_id == follow_up.id, Answer.item_id.in_(sorted(item_ids)))
        )
        .where(follow_up.follow_up_task_id.is_not(None), follow_up.completed_at.is_not(None))
    )
    return list(session.execute(_of_cohort(query, TriageTask.episode_id, filters)))
