"""The call lists (SPEC §10): patients to phone, and the patients of one clinic day.

These are the "human interface" the pilot asked for: whoever the SMS did not reach is
phoned or seen in clinic. Both lists cost a fixed number of statements: the entries, and
the calls already logged for them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..core import clock
from ..core import constants as c
from ..core.dates import iso_date_in
from ..core.numbers import page_number
from ..core.refusals import Problems
from ..models import Appointment, ContactAttempt, Episode, Patient, StaffUser, TriageTask

REASON_NO_RESPONSE = "no_response"
REASON_DNA = "dna"
REASON_NAMES = {
    REASON_NO_RESPONSE: "No reply to the text",
    c.NEEDS_CALL_NO_MOBILE: "No usable mobile",
    c.NEEDS_CALL_UNDER_AGE: "Under the age for texts",
    c.NEEDS_CALL_DOB_LOCKED: "Locked out: date of birth did not match",
    c.NEEDS_CALL_CHOSEN: "Chosen for a phone call",
    c.NEEDS_CALL_SEND_FAILED: "Text not delivered",
    REASON_DNA: "Did not attend the appointment",
}
# Entries for a standing reason (no way to text, a DNA) stay this long after the appointment.
STANDING_DAYS_AFTER = 7
PAGE_SIZE = 25
CALLABLE = (c.EPISODE_SCHEDULED, c.EPISODE_INVITED, c.EPISODE_OPENED, c.EPISODE_STARTED)


@dataclass(frozen=True)
class Call:
    at: datetime
    outcome: str
    by: str | None  # by name, or email where no name is known
    note: str | None


@dataclass(frozen=True)
class CallEntry:
    episode_id: int
    public_id: str
    reason: str
    patient_id: int
    given_name: str | None
    family_name: str | None
    nhs_number: str | None
    number_to_call: str | None
    language: str | None
    appointment_at: datetime | None
    clinic_code: str | None
    questionnaire_id: str
    calls: list[Call] = field(default_factory=list)


@dataclass(frozen=True)
class CallList:
    entries: list[CallEntry]
    total: int
    page: int
    pages: int
    reasons: dict[str, int] = field(default_factory=dict)  # reason → entries, other filters kept


@dataclass(frozen=True)
class CallFilters:
    """The list's query parameters (SPEC §10), already checked."""

    reason: str | None = None
    clinic: str | None = None
    day: date | None = None  # of the appointment, in London
    page: int = 1

    def as_params(self, **changes: object) -> dict[str, str]:
        values = {
            "reason": self.reason,
            "clinic": self.clinic,
            "date": self.day.isoformat() if self.day else None,
            "page": str(self.page) if self.page > 1 else None,
            **changes,
        }
        return {name: str(value) for name, value in values.items() if value}


def parse_call_filters(values: Mapping[str, str], *, clinics: set[str]) -> CallFilters:
    """Refuse what the list does not know: a mistyped bookmark must not look like an
    empty list."""
    problems = Problems()
    reason = values.get("reason", "").strip() or None
    if reason is not None and reason not in REASON_NAMES:
        problems.add("reason", "Select a reason from the list")
    clinic = values.get("clinic", "").strip() or None
    if clinic is not None and clinic not in clinics:
        problems.add("clinic", "Select a clinic from the list")
    day = iso_date_in(values, "date", problems)
    page = page_number(values, problems)
    problems.refuse()
    return CallFilters(reason=reason, clinic=clinic, day=day, page=page)


def _unanswered_calls() -> Any:
    return (
        select(func.count())
        .where(
            ContactAttempt.episode_id == Episode.id,
            ContactAttempt.outcome.not_in(sorted(c.REACHED_OUTCOMES)),
        )
        .correlate(Episode)
        .scalar_subquery()
    )


def _declined_on_the_phone() -> Any:
    return (
        select(ContactAttempt.id)
        .where(
            ContactAttempt.episode_id == Episode.id,
            ContactAttempt.outcome == c.CONTACT_DECLINED,
        )
        .correlate(Episode)
        .exists()
    )


def to_call(
    session: Session,
    *,
    now: datetime,
    days_before: int,
    unanswered_limit: int,
    filters: CallFilters | None = None,
) -> CallList:
    """Episodes to phone, by appointment time, each with its reason and calls so far."""
    filters = filters or CallFilters()
    listed = _to_call_conditions(now, days_before, unanswered_limit)
    chosen = [*listed, *_filter_conditions(filters, reason=True)]
    # One grouped count gives each reason's link and, summed, the list's total.
    reasons = _reason_counts(session, [*listed, *_filter_conditions(filters, reason=False)])
    total = reasons.get(filters.reason, 0) if filters.reason else sum(reasons.values())
    rows = session.execute(
        _entry_columns(_reason())
        .join(Appointment, _OWNED)
        .where(*chosen)
        .order_by(Appointment.appointment_at, Episode.id)
        .limit(PAGE_SIZE)
        .offset((filters.page - 1) * PAGE_SIZE)
    ).all()
    entries = _with_calls(session, [_entry(row) for row in rows])
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return CallList(entries, total, filters.page, pages, reasons)


def _filter_conditions(filters: CallFilters, *, reason: bool) -> list[Any]:
    conditions: list[Any] = []
    if reason and filters.reason:
        conditions.append(_reason() == filters.reason)
    if filters.clinic:
        conditions.append(Episode.clinic_code == filters.clinic)
    if filters.day:
        start = datetime.combine(filters.day, time(), tzinfo=clock.LONDON)
        end = start + timedelta(days=1)
        conditions.append(Appointment.appointment_at >= start.astimezone(UTC))
        conditions.append(Appointment.appointment_at < end.astimezone(UTC))
    return conditions


def _reason_counts(session: Session, conditions: list[Any]) -> dict[str, int]:
    reason = _reason().label("reason")
    rows = session.execute(
        select(reason, func.count())
        .select_from(Appointment)
        .join(Episode, _OWNED)
        .where(*conditions)
        .group_by(reason)
    )
    return {name: n for name, n in rows}


def count_to_call(
    session: Session, *, now: datetime, days_before: int, unanswered_limit: int
) -> int:
    """How many entries the to-call list has (the home page's count is the list's)."""
    conditions = _to_call_conditions(now, days_before, unanswered_limit)
    return sum(_reason_counts(session, conditions).values())


def _to_call_conditions(now: datetime, days_before: int, unanswered_limit: int) -> list[Any]:
    """Who is on the list. Leaves out the completed and the cancelled, those with
    `unanswered_limit` unanswered calls, and those who told a caller they did not want help."""
    standing_since = now - timedelta(days=STANDING_DAYS_AFTER)
    no_response = and_(
        Episode.invited_at.is_not(None),
        Episode.status.in_(CALLABLE),
        Episode.opted_out_at.is_(None),
        Appointment.appointment_at > now,
        Appointment.appointment_at <= now + timedelta(days=days_before),
    )
    # No way to text them, or they did not attend: whatever the date, for a week after.
    standing = or_(
        Episode.status.in_([c.EPISODE_NEEDS_CALL, c.EPISODE_SEND_FAILED]),
        Appointment.status == c.APPOINTMENT_DNA,
    )
    return [
        # Every entry's appointment is at most a week old: this bound lets the query start
        # from the appointments index instead of reading every episode ever made.
        Appointment.appointment_at >= standing_since,
        Episode.completed_at.is_(None),
        Episode.status != c.EPISODE_CANCELLED,
        or_(no_response, standing),
        _unanswered_calls() < unanswered_limit,
        ~_declined_on_the_phone(),
    ]


# An episode and the appointment that owns it, joined from the appointment's side: the lists
# read appointments by time (ix_appointments_at) and reach each episode by its key.
_OWNED = (Appointment.episode_id == Episode.id) & (Episode.appointment_id == Appointment.id)


def call_entry(session: Session, episode_id: int) -> CallEntry | None:
    """One episode as the to-call list shows it, with its calls: for the call page."""
    row = session.execute(
        _entry_columns(_reason())
        .outerjoin(Appointment, Episode.appointment_id == Appointment.id)
        .where(Episode.id == episode_id)
    ).first()
    return _with_calls(session, [_entry(row)])[0] if row is not None else None


def _reason() -> Any:
    return case(
        (Appointment.status == c.APPOINTMENT_DNA, REASON_DNA),
        (Episode.needs_call_reason.is_not(None), Episode.needs_call_reason),
        (Episode.status == c.EPISODE_SEND_FAILED, c.NEEDS_CALL_SEND_FAILED),
        else_=REASON_NO_RESPONSE,
    )


def _entry_columns(reason: Any) -> Any:
    return select(
        Episode.id,
        Episode.public_id,
        reason.label("reason"),
        Patient.id.label("patient_id"),
        Patient.given_name,
        Patient.family_name,
        Patient.nhs_number,
        func.coalesce(Patient.phone, Patient.mobile).label("number"),
        func.coalesce(Episode.language, Patient.language).label("language"),
        Appointment.appointment_at,
        Episode.clinic_code,
        Episode.questionnaire_id,
    ).join(Patient, Episode.patient_id == Patient.id)


def _entry(row: Any) -> CallEntry:
    return CallEntry(
        episode_id=row.id,
        public_id=row.public_id,
        reason=row.reason,
        patient_id=row.patient_id,
        given_name=row.given_name,
        family_name=row.family_name,
        nhs_number=row.nhs_number,
        number_to_call=row.number,
        language=row.language,
        appointment_at=row.appointment_at,
        clinic_code=row.clinic_code,
        questionnaire_id=row.questionnaire_id,
    )


def _with_calls(session: Session, entries: list[CallEntry]) -> list[CallEntry]:
    if not entries:
        return entries
    rows = session.execute(
        select(
            ContactAttempt.episode_id,
            ContactAttempt.attempted_at,
            ContactAttempt.outcome,
            StaffUser.shown_name,
            ContactAttempt.note,
        )
        .outerjoin(StaffUser, ContactAttempt.by_user_id == StaffUser.id)
        .where(ContactAttempt.episode_id.in_([entry.episode_id for entry in entries]))
        .order_by(ContactAttempt.episode_id, ContactAttempt.id)
    )
    calls: dict[int, list[Call]] = {}
    for episode_id, at, outcome, by, note in rows:
        calls.setdefault(episode_id, []).append(Call(at, outcome, by, note))
    for entry in entries:
        entry.calls.extend(calls.get(entry.episode_id, []))
    return entries


# --- the clinic day --------------------------------------------------------------------------


# An appointment is "over", for offering to answer the questions in clinic, this long after
# its start: outpatient clinics run late, and a patient seen at 10:00 is often still in the
# building at 11:30. After it, or on a past day, the patient is phoned instead.
STILL_IN_CLINIC = timedelta(hours=2)


@dataclass(frozen=True)
class ClinicDayEntry(CallEntry):
    task_id: int | None = None
    task_status: str | None = None
    priority: str | None = None
    wants_help: bool = False
    completed: bool = False
    domains: tuple[str, ...] = ()  # the needs flagged, first raised first
    in_clinic: bool = False  # there today, to answer the questions with a prescriber
    over: bool = False  # gone home: to be phoned instead


@dataclass(frozen=True)
class ClinicDay:
    day: date
    to_see: list[ClinicDayEntry]  # an active task, or asked for help
    not_screened: list[ClinicDayEntry]  # invited (or to phone) and not answered


def clinic_day(session: Session, day: date, *, now: datetime) -> ClinicDay:
    """The patients with an appointment on `day` worth the prescriber's time in clinic, by
    clinic, then appointment time. Cancelled appointments and episodes are left out."""
    rows = session.execute(
        _entry_columns(_reason())
        .add_columns(
            TriageTask.id.label("task_id"),
            TriageTask.status.label("task_status"),
            TriageTask.priority,
            TriageTask.domains,
            Episode.wants_help_at,
            Episode.completed_at,
        )
        .join(Appointment, Appointment.episode_id == Episode.id)
        .outerjoin(TriageTask, TriageTask.episode_id == Episode.id)
        .where(*_clinic_day_conditions(day))
        .order_by(Episode.clinic_code, Appointment.appointment_at, Episode.id)
    ).all()
    entries = [
        ClinicDayEntry(
            **_entry(row).__dict__,
            task_id=row.task_id,
            task_status=row.task_status,
            priority=row.priority,
            wants_help=row.wants_help_at is not None,
            completed=row.completed_at is not None,
            domains=tuple((row.domains or "").split()),
            in_clinic=_in_clinic(row.appointment_at, now),
            over=now >= row.appointment_at + STILL_IN_CLINIC,
        )
        for row in rows
    ]
    return ClinicDay(
        day=day,
        to_see=[entry for entry in entries if entry.completed],
        not_screened=[entry for entry in entries if not entry.completed],
    )


def _in_clinic(appointment_at: datetime, now: datetime) -> bool:
    """The appointment is today and the patient may still be in the building."""
    same_day = appointment_at.astimezone(clock.LONDON).date() == now.astimezone(clock.LONDON).date()
    return same_day and now < appointment_at + STILL_IN_CLINIC


def count_to_see(session: Session, day: date) -> int:
    """How many patients the clinic day lists "to see" (the home page's count is the list's)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Episode)
            .join(Appointment, Appointment.episode_id == Episode.id)
            .outerjoin(TriageTask, TriageTask.episode_id == Episode.id)
            .where(*_clinic_day_conditions(day), Episode.completed_at.is_not(None))
        )
        or 0
    )


def _clinic_day_conditions(day: date) -> list[Any]:
    start = datetime.combine(day, time(), tzinfo=clock.LONDON).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=clock.LONDON).astimezone(UTC)
    return [
        Appointment.appointment_at >= start,
        Appointment.appointment_at < end,
        Appointment.status != c.APPOINTMENT_CANCELLED,
        Episode.status != c.EPISODE_CANCELLED,
        or_(
            TriageTask.status.in_(sorted(c.ACTIVE_TASK_STATUSES)),
            Episode.wants_help_at.is_not(None),
            Episode.completed_at.is_(None),
        ),
    ]
