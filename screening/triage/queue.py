"""The triage queue as queries: `screening tasks` (SPEC §5) and the queue page (SPEC §8).

The page costs a fixed number of statements whatever its size: the page of tasks, its
flag domains, the total, and one grouped count per filter (so each filter link shows how
many tasks it leads to, given the other filters chosen).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from ..core import clock
from ..core import constants as c
from ..core.dates import iso_date_in
from ..core.numbers import page_number
from ..core.refusals import Problems
from ..models import (
    Appointment,
    ContactAttempt,
    Episode,
    Patient,
    Referral,
    StaffUser,
    TriageTask,
)
from .service_levels import add_working_days, due_on, made_before_is_overdue

PAGE_SIZE = 25
STATUS_ACTIVE = "active"  # the queue's default: open and assigned
# Every status: the default of `referrals=overdue`, as a task is often closed as referred
# while its referral still waits for the service's answer (SPEC §8, §13).
STATUS_ANY = "any"
ASSIGNED_ME = "me"
ASSIGNED_NOBODY = "unassigned"
OVERDUE_YES = "yes"
REFERRALS_OVERDUE = "overdue"

_PRIORITY_ORDER = case(
    {c.PRIORITY_URGENT: 0, c.PRIORITY_HIGH: 1, c.PRIORITY_ROUTINE: 2}, value=TriageTask.priority
)
_ORDER = (_PRIORITY_ORDER, TriageTask.created_at, TriageTask.id)


# --- `screening tasks` -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    id: int
    status: str
    priority: str
    domains: list[str]
    questionnaire_id: str
    appointment_id: str | None
    clinic_code: str | None
    created_at: datetime
    assigned_to: str | None
    due_at: date
    contact_attempts: int
    reached: bool
    referrals: list[dict[str, str]]
    outcome: str | None
    closed_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            **self.__dict__,
            "created_at": self.created_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


def list_tasks(
    session: Session, *, status: str | None = None, sla_working_days: Mapping[str, int]
) -> list[TaskRow]:
    """Tasks, most pressing first, then oldest first; all statuses unless one is given."""
    attempts = (
        select(func.count())
        .where(ContactAttempt.task_id == TriageTask.id)
        .correlate(TriageTask)
        .scalar_subquery()
    )
    reached = exists().where(
        ContactAttempt.task_id == TriageTask.id,
        ContactAttempt.outcome.in_(sorted(c.REACHED_OUTCOMES)),
    )
    query = (
        select(
            TriageTask,
            Episode.questionnaire_id,
            Episode.clinic_code,
            Appointment.external_id,
            StaffUser.email,
            attempts,
            reached,
        )
        .join(Episode, TriageTask.episode_id == Episode.id)
        .outerjoin(Appointment, Episode.appointment_id == Appointment.id)
        .outerjoin(StaffUser, TriageTask.assigned_to_user_id == StaffUser.id)
        .order_by(*_ORDER)
    )
    if status is not None:
        query = query.where(TriageTask.status == status)
    rows = session.execute(query).all()
    task_ids = [row[0].id for row in rows]
    referrals = _referrals_of(session, task_ids)
    return [_task_row(row, referrals, sla_working_days) for row in rows]


def _task_row(
    row: Any,
    referrals: dict[int, list[dict[str, str]]],
    sla_working_days: Mapping[str, int],
) -> TaskRow:
    task, questionnaire_id, clinic_code, appointment_id, email, attempts_made, reached = row
    return TaskRow(
        id=task.id,
        status=task.status,
        priority=task.priority,
        domains=(task.domains or "").split(),
        questionnaire_id=questionnaire_id,
        appointment_id=appointment_id,
        clinic_code=clinic_code,
        created_at=task.created_at,
        assigned_to=email,
        due_at=due_on(task.created_at, task.priority, sla_working_days),
        contact_attempts=attempts_made,
        reached=bool(reached),
        referrals=referrals.get(task.id, []),
        outcome=task.outcome,
        closed_at=task.closed_at,
    )


def _referrals_of(session: Session, task_ids: list[int]) -> dict[int, list[dict[str, str]]]:
    found: dict[int, list[dict[str, str]]] = {}
    if not task_ids:
        return found
    rows = session.execute(
        select(Referral.task_id, Referral.service_id, Referral.status)
        .where(Referral.task_id.in_(task_ids))
        .order_by(Referral.task_id, Referral.id)
    )
    for task_id, service, status in rows:
        found.setdefault(task_id, []).append({"service": service, "status": status})
    return found


# --- the queue page ------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    """The queue's query parameters (SPEC §8), already checked."""

    status: str = STATUS_ACTIVE
    priority: str | None = None
    clinic: str | None = None
    domain: str | None = None
    assigned: str | None = None  # ASSIGNED_ME or ASSIGNED_NOBODY
    appointment_on: date | None = None
    overdue: bool = False  # active tasks past their due date only
    # Tasks, whatever their status, with a referral overdue for its service's answer.
    referrals_overdue: bool = False
    page: int = 1

    @property
    def default_status(self) -> str:
        return STATUS_ANY if self.referrals_overdue else STATUS_ACTIVE

    def without(self, name: str) -> QueueFilters:
        if name == "referrals_overdue":
            status = STATUS_ACTIVE if self.status == STATUS_ANY else self.status
            return replace(self, referrals_overdue=False, status=status, page=1)
        defaults: dict[str, object] = {"status": self.default_status, "overdue": False}
        return replace(self, **{name: defaults.get(name), "page": 1})

    def with_value(self, name: str, value: object) -> QueueFilters:
        """These filters with one changed; a new filter starts again at page 1."""
        if name == "page":
            return replace(self, page=value)
        if name == "referrals_overdue" and value and self.status == STATUS_ACTIVE:
            return replace(self, referrals_overdue=True, status=STATUS_ANY, page=1)
        return replace(self, **{name: value, "page": 1})

    def as_params(self) -> dict[str, str]:
        """Query parameters for a link to this list (defaults left out)."""
        params = {
            "status": self.status if self.status != self.default_status else None,
            "priority": self.priority,
            "clinic": self.clinic,
            "domain": self.domain,
            "assigned": self.assigned,
            "appointment": self.appointment_on.isoformat() if self.appointment_on else None,
            "overdue": OVERDUE_YES if self.overdue else None,
            "referrals": REFERRALS_OVERDUE if self.referrals_overdue else None,
            "page": str(self.page) if self.page > 1 else None,
        }
        return {key: value for key, value in params.items() if value}


def parse_filters(args: Mapping[str, str], *, clinics: set[str]) -> QueueFilters:
    """Query parameters to filters. Unknown values are refused, not silently ignored: a
    mistyped bookmark must not show a list that looks complete and is not."""
    problems = Problems()

    def choice(name: str, allowed: set[str]) -> str | None:
        value = args.get(name, "").strip()
        if value and value not in allowed:
            problems.add(name, f"'{value}' is not a {name} the queue knows")
            return None
        return value or None

    referrals_overdue = choice("referrals", {REFERRALS_OVERDUE}) == REFERRALS_OVERDUE
    filters = QueueFilters(
        status=choice("status", {STATUS_ACTIVE, STATUS_ANY, *c.TASK_STATUSES})
        or (STATUS_ANY if referrals_overdue else STATUS_ACTIVE),
        priority=choice("priority", set(c.PRIORITIES)),
        clinic=choice("clinic", clinics),
        domain=_domain(args, problems),
        assigned=choice("assigned", {ASSIGNED_ME, ASSIGNED_NOBODY}),
        appointment_on=iso_date_in(args, "appointment", problems),
        overdue=_overdue(args, problems),
        referrals_overdue=referrals_overdue,
        page=page_number(args, problems),
    )
    problems.refuse()
    return filters


def _domain(args: Mapping[str, str], problems: Problems) -> str | None:
    # Domains come from the questionnaires, so any code-shaped one is a fair question.
    domain = args.get("domain", "").strip() or None
    if domain is not None and not domain.replace("_", "").replace("-", "").isalnum():
        problems.add("domain", f"'{domain}' is not a domain the queue knows")
        return None
    return domain


def _overdue(args: Mapping[str, str], problems: Problems) -> bool:
    text = args.get("overdue", "").strip()
    if text and text != OVERDUE_YES:
        problems.add("overdue", f"'{text}' is not a choice of the overdue filter: use overdue=yes")
    return text == OVERDUE_YES


@dataclass(frozen=True)
class Viewer:
    """Who looks at the queue, and when: what `assigned=me` and `overdue=yes` mean."""

    user_id: int
    today: date  # London
    sla_working_days: Mapping[str, int]
    # When a referral waiting for its service's answer is overdue (SPEC §13).
    answer_working_days: int


@dataclass(frozen=True)
class QueueEntry:
    id: int
    status: str
    priority: str
    created_at: datetime
    due_on: date
    overdue: bool
    domains: list[str]
    clinic_code: str | None
    questionnaire_id: str
    appointment_at: datetime | None
    held_by_me: bool
    holder: str | None  # by name, or email where no name is known
    patient_id: int
    given_name: str | None
    family_name: str | None
    nhs_number: str | None


@dataclass(frozen=True)
class QueuePage:
    filters: QueueFilters
    entries: list[QueueEntry]
    total: int
    pages: int
    # filter name → value → how many tasks that value leads to, with the other filters kept
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def queue_page(
    session: Session,
    filters: QueueFilters,
    *,
    user_id: int,
    sla_working_days: Mapping[str, int],
    today: date,
    answer_working_days: int,
    page_size: int | None = None,
) -> QueuePage:
    page_size = page_size or PAGE_SIZE
    viewer = Viewer(user_id, today, sla_working_days, answer_working_days)
    query = (
        select(
            TriageTask.id,
            TriageTask.status,
            TriageTask.priority,
            TriageTask.created_at,
            TriageTask.domains,
            Episode.clinic_code,
            Episode.questionnaire_id,
            Appointment.appointment_at,
            TriageTask.assigned_to_user_id,
            StaffUser.shown_name.label("holder"),
            Patient.id.label("patient_id"),
            Patient.given_name,
            Patient.family_name,
            Patient.nhs_number,
        )
        .join(Episode, TriageTask.episode_id == Episode.id)
        .join(Patient, Episode.patient_id == Patient.id)
        .outerjoin(Appointment, Episode.appointment_id == Appointment.id)
        .outerjoin(StaffUser, TriageTask.assigned_to_user_id == StaffUser.id)
        # The page's tasks are chosen from the tasks' own index first; only those 25 are
        # joined to their episode, patient, appointment and holder.
        .where(TriageTask.id.in_(_page_of_ids(filters, viewer, page_size)))
        .order_by(*_ORDER)
    )
    rows = session.execute(query).all()
    entries = []
    for row in rows:
        due = due_on(row.created_at, row.priority, sla_working_days)
        entries.append(
            QueueEntry(
                id=row.id,
                status=row.status,
                priority=row.priority,
                created_at=row.created_at,
                due_on=due,
                overdue=row.status in c.ACTIVE_TASK_STATUSES and due < today,
                domains=(row.domains or "").split(),
                clinic_code=row.clinic_code,
                questionnaire_id=row.questionnaire_id,
                appointment_at=row.appointment_at,
                held_by_me=row.assigned_to_user_id == user_id,
                holder=row.holder,
                patient_id=row.patient_id,
                given_name=row.given_name,
                family_name=row.family_name,
                nhs_number=row.nhs_number,
            )
        )
    counts = _facet_counts(session, filters, viewer)
    total = counts["status"].get(filters.status, 0)
    return QueuePage(
        filters=filters,
        entries=entries,
        total=total,
        pages=max(1, math.ceil(total / page_size)),
        counts=counts,
    )


def count_tasks(session: Session, filters: QueueFilters, viewer: Viewer) -> int:
    """How many tasks the queue lists for `filters`: by the list's own conditions."""
    query = select(func.count()).select_from(TriageTask).where(*_conditions(filters, viewer))
    return session.scalar(query) or 0


def _page_of_ids(filters: QueueFilters, viewer: Viewer, page_size: int) -> Any:
    return (
        select(TriageTask.id)
        .where(*_conditions(filters, viewer))
        .order_by(*_ORDER)
        .limit(page_size)
        .offset((filters.page - 1) * page_size)
        .scalar_subquery()
    )


def _conditions(filters: QueueFilters, viewer: Viewer, *, any_status: bool = False) -> list[Any]:
    conditions: list[Any] = []
    if any_status or filters.status == STATUS_ANY:
        pass  # the status counts group by status; or every status is listed
    elif filters.status == STATUS_ACTIVE:
        conditions.append(TriageTask.status.in_(sorted(c.ACTIVE_TASK_STATUSES)))
    else:
        conditions.append(TriageTask.status == filters.status)
    if filters.priority:
        conditions.append(TriageTask.priority == filters.priority)
    if filters.clinic:
        conditions.append(TriageTask.clinic_code == filters.clinic)
    if filters.domain:
        # `domains` holds the task's flagged domains between spaces: " food housing ".
        conditions.append(TriageTask.domains.contains(f" {filters.domain} ", autoescape=True))
    if filters.assigned == ASSIGNED_ME:
        conditions.append(TriageTask.assigned_to_user_id == viewer.user_id)
    elif filters.assigned == ASSIGNED_NOBODY:
        conditions.append(TriageTask.assigned_to_user_id.is_(None))
    return conditions + _unfaceted_conditions(filters, viewer)


def _unfaceted_conditions(filters: QueueFilters, viewer: Viewer) -> list[Any]:
    """The filters without a count of their own: the facet counts apply them in SQL."""
    conditions = []
    if filters.appointment_on:
        conditions.append(_appointment_on(filters.appointment_on))
    if filters.overdue:
        conditions.append(_past_due(viewer))
    if filters.referrals_overdue:
        # The overdue referrals first (a range on their status index), then their tasks:
        # a subquery correlated with each task lets SQLite scan the referrals per task.
        overdue = select(Referral.task_id).where(
            referral_overdue(viewer.today, viewer.answer_working_days)
        )
        conditions.append(TriageTask.id.in_(overdue))
    return conditions


def referral_overdue(today: date, working_days: int) -> Any:
    """A referral still `made` `working_days` working days after it was made (SPEC §13)."""
    return and_(
        Referral.status == c.REFERRAL_MADE,
        Referral.referred_at < made_before_is_overdue(today, working_days),
    )


def _past_due(viewer: Viewer) -> Any:
    """Active tasks past their due date (SPEC §10). A task's due date only grows with its
    creation day, so "overdue" is "created before a cut-off", one per priority: a range on
    the tasks' index rather than a due date worked out for every task."""
    return and_(
        TriageTask.status.in_(sorted(c.ACTIVE_TASK_STATUSES)),
        or_(
            *(
                and_(
                    TriageTask.priority == priority,
                    TriageTask.created_at < _created_before(viewer.today, days),
                )
                for priority, days in sorted(viewer.sla_working_days.items())
            )
        ),
    )


def _created_before(today: date, working_days: int) -> datetime:
    """The first moment (UTC) at which a task created is not overdue `today`."""
    day = today - timedelta(days=1)
    while add_working_days(day, working_days) >= today:
        day -= timedelta(days=1)
    # `day` is the last London day whose tasks are due before today.
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=clock.LONDON).astimezone(UTC)


def _appointment_on(day: date) -> Any:
    start = datetime.combine(day, time(), tzinfo=clock.LONDON)
    end = start + timedelta(days=1)
    return exists().where(
        Episode.id == TriageTask.episode_id,
        Appointment.id == Episode.appointment_id,
        Appointment.appointment_at >= start.astimezone(UTC),
        Appointment.appointment_at < end.astimezone(UTC),
    )


# --- the filter counts, folded from grouped rows -------------------------------------------------

FACETS = ("status", "priority", "clinic", "domain", "assigned")


@dataclass(frozen=True)
class _Group:
    """Tasks alike in every filter, and how many: the counts are folded from these."""

    status: str
    priority: str
    clinic: str | None
    holder: str  # ASSIGNED_ME, ASSIGNED_NOBODY or "other"
    domains: frozenset[str]
    count: int
    counted_alone: bool = False  # grouped by status only, the other filters applied in SQL

    def passes(self, filters: QueueFilters, facet: str) -> bool:
        """Whether these tasks pass every filter but `facet` (a link's count ignores its own)."""
        if self.counted_alone:
            return facet == "status"
        checks = {
            "status": filters.status in (self.status, STATUS_ANY)
            or (filters.status == STATUS_ACTIVE and self.status in c.ACTIVE_TASK_STATUSES),
            "priority": filters.priority in (None, self.priority),
            "clinic": filters.clinic in (None, self.clinic),
            "domain": filters.domain is None or filters.domain in self.domains,
            "assigned": filters.assigned in (None, self.holder),
        }
        return all(ok for name, ok in checks.items() if name != facet)


def _facet_counts(session: Session, filters: QueueFilters, viewer: Viewer) -> dict[str, Any]:
    """Every filter link's count, and the total, from two grouped scans of the tasks' own
    index: one over the statuses on screen, one over the others (for the status links).
    One grouped query per filter would read the tasks seven times."""
    shown = (
        {filters.status}
        if filters.status in c.TASK_STATUSES
        else set(c.TASK_STATUSES)
        if filters.status == STATUS_ANY
        else set(c.ACTIVE_TASK_STATUSES)
    )
    groups = _groups(session, filters, viewer, TriageTask.status.in_(sorted(shown)))
    others = set(c.TASK_STATUSES) - shown
    others_groups = (
        _groups(session, filters, viewer, TriageTask.status.in_(sorted(others)), status_only=True)
        if others
        else []
    )
    counts: dict[str, dict[str, int]] = {facet: {} for facet in FACETS}

    def add(facet: str, value: str | None, n: int) -> None:
        if value is not None:
            counts[facet][value] = counts[facet].get(value, 0) + n

    for group in groups + others_groups:
        if group.passes(filters, "status"):
            add("status", group.status, group.count)
    for group in groups:
        for facet, value in (
            ("priority", group.priority),
            ("clinic", group.clinic),
            ("assigned", group.holder),
        ):
            if group.passes(filters, facet):
                add(facet, value, group.count)
        if group.passes(filters, "domain"):
            for domain in group.domains:
                add("domain", domain, group.count)
    counts["status"][STATUS_ACTIVE] = sum(
        counts["status"].get(status, 0) for status in c.ACTIVE_TASK_STATUSES
    )
    counts["status"][STATUS_ANY] = sum(counts["status"].get(s, 0) for s in c.TASK_STATUSES)
    return counts


def _groups(
    session: Session,
    filters: QueueFilters,
    viewer: Viewer,
    statuses: Any,
    *,
    status_only: bool = False,
) -> list[_Group]:
    if status_only:
        # The other statuses only feed the status links: the other filters apply to them
        # in SQL, and only the status is grouped (a year's closed tasks are many).
        counted = session.execute(
            select(TriageTask.status, func.count())
            .where(statuses, *_conditions(filters, viewer, any_status=True))
            .group_by(TriageTask.status)
        )
        return [
            _Group(status, "", None, "", frozenset(), n, counted_alone=True)
            for status, n in counted
        ]
    holder = case(
        (TriageTask.assigned_to_user_id == viewer.user_id, ASSIGNED_ME),
        (TriageTask.assigned_to_user_id.is_(None), ASSIGNED_NOBODY),
        else_="other",
    )
    columns = [
        TriageTask.status,
        TriageTask.priority,
        TriageTask.clinic_code,
        holder,
        TriageTask.domains,
    ]
    rows = session.execute(
        select(*columns, func.count())
        .where(statuses, *_unfaceted_conditions(filters, viewer))
        .group_by(*columns)
    )
    return [
        _Group(status, priority, clinic, who, frozenset((domains or "").split()), n)
        for status, priority, clinic, who, domains, n in rows
    ]
