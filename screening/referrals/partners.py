"""What a partner at an onward service sees (SPEC §13): the referrals to their own
services, and of each only what the service needs to contact the patient.

Never the task's other needs, its notes or the patient's answers; the NHS number and date
of birth only for a service that is part of the NHS. A referral stays in view until 90
days after it was completed or declined; any other answers "not found", so a partner
cannot learn that a referral to another service exists (hazard log: a partner seeing
another service's patients).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..config.schema import RawService
from ..core import constants as c
from ..core.numbers import page_number
from ..core.refusals import NotFound, Problems
from ..models import Episode, Patient, Referral, ReferralUpdate, StaffUser, TriageTask
from ..staff.audit import Actor
from .chaser import is_overdue

PAGE_SIZE = 25
STILL_WAITING = (c.REFERRAL_MADE, c.REFERRAL_ACCEPTED)


class Partner(Actor, Protocol):
    """A signed-in partner: their id, and the services whose referrals they answer."""

    service_ids: tuple[str, ...]


@dataclass(frozen=True)
class ListFilters:
    status: str | None = None
    page: int = 1


@dataclass(frozen=True)
class ListEntry:
    id: int
    referred_at: datetime
    service_name: str
    domain: str | None
    status: str
    reason: str | None
    outcome: str | None
    patient_id: int
    given_name: str | None
    family_name: str | None
    overdue: bool


@dataclass(frozen=True)
class ReferralList:
    entries: list[ListEntry]
    total: int
    pages: int
    counts: dict[str, int]  # by status, of every referral the partner may see


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    who: str | None
    status: str
    reason: str | None
    outcome: str | None
    note: str | None


@dataclass(frozen=True)
class Contact:
    """What a service needs to reach the patient (SPEC §13), and nothing more: built here
    so no page can show what it does not hold. The NHS number and date of birth are kept
    only for a service that is part of the NHS."""

    patient_id: int
    given_name: str | None
    family_name: str | None
    mobile: str | None
    phone: str | None
    language: str | None
    nhs_number: str | None = None
    date_of_birth: date | None = None

    @classmethod
    def of(cls, patient: Patient, nhs_service: bool) -> Contact:
        contact = cls(
            patient.id,
            patient.given_name,
            patient.family_name,
            patient.mobile,
            patient.phone,
            patient.language,
        )
        if nhs_service:
            return replace(
                contact, nhs_number=patient.nhs_number, date_of_birth=patient.date_of_birth
            )
        return contact


@dataclass(frozen=True)
class PartnerReferral:
    """One referral as its service sees it."""

    referral: Referral
    service: RawService | None
    patient: Contact
    history: list[HistoryEntry]
    overdue: bool


def parse_list_filters(args: Mapping[str, str]) -> ListFilters:
    problems = Problems()
    status = args.get("status", "").strip() or None
    if status is not None and status not in c.REFERRAL_STATUSES:
        problems.add("status", f"'{status}' is not a status a referral can have")
    filters = ListFilters(status=status, page=page_number(args, problems))
    problems.refuse()
    return filters


def visible_to(partner: Partner, now: datetime) -> list[Any]:
    """The conditions on `Referral` of being in this partner's view now."""
    ended = func.coalesce(Referral.completed_at, Referral.declined_at, Referral.status_changed_at)
    return [
        Referral.service_id.in_(sorted(partner.service_ids)),
        or_(
            Referral.status.in_(STILL_WAITING),
            ended >= now - timedelta(days=c.PARTNER_SEES_ENDED_DAYS),
        ),
    ]


def referral_list(
    session: Session,
    partner: Partner,
    filters: ListFilters,
    *,
    now: datetime,
    today: date,
    answer_working_days: int,
) -> ReferralList:
    """Newest first, a page at a time, with how many there are in each status."""
    seen = visible_to(partner, now)
    counts = dict(
        session.execute(
            select(Referral.status, func.count()).where(*seen).group_by(Referral.status)
        ).all()
    )
    chosen = [*seen, Referral.status == filters.status] if filters.status else seen
    total = sum(counts.values()) if not filters.status else counts.get(filters.status, 0)
    rows = session.execute(
        select(Referral, Patient.id, Patient.given_name, Patient.family_name)
        .join(TriageTask, TriageTask.id == Referral.task_id)
        .join(Episode, Episode.id == TriageTask.episode_id)
        .join(Patient, Patient.id == Episode.patient_id)
        .where(*chosen)
        .order_by(Referral.referred_at.desc(), Referral.id.desc())
        .limit(PAGE_SIZE)
        .offset((filters.page - 1) * PAGE_SIZE)
    ).all()
    entries = [
        ListEntry(
            id=referral.id,
            referred_at=referral.referred_at,
            service_name=referral.service_name or referral.service_id,
            domain=referral.domain,
            status=referral.status,
            reason=referral.reason,
            outcome=referral.outcome,
            patient_id=patient_id,
            given_name=given,
            family_name=family,
            overdue=is_overdue(referral, today, answer_working_days),
        )
        for referral, patient_id, given, family in rows
    ]
    return ReferralList(entries, total, max(1, math.ceil(total / PAGE_SIZE)), counts)


def partner_referral(
    session: Session,
    partner: Partner,
    referral_id: int,
    services: tuple[RawService, ...],
    *,
    now: datetime,
    today: date,
    answer_working_days: int,
) -> PartnerReferral:
    """The referral, if this partner may see it; otherwise "not found", whatever the
    reason, so nothing is learnt from the answer."""
    referral = session.scalar(
        select(Referral).where(Referral.id == referral_id, *visible_to(partner, now))
    )
    if referral is None:
        raise NotFound(f"There is no referral {referral_id} for your services")
    task = session.get(TriageTask, referral.task_id)
    assert task is not None
    service = next((s for s in services if s.id == referral.service_id), None)
    return PartnerReferral(
        referral=referral,
        service=service,
        patient=Contact.of(task.episode.patient, bool(service and service.nhs_service)),
        history=_history(session, referral),
        overdue=is_overdue(referral, today, answer_working_days),
    )


def _history(session: Session, referral: Referral) -> list[HistoryEntry]:
    """Made, then each answer, oldest first, each with who (by name) and the note given."""
    rows = session.execute(
        select(ReferralUpdate, StaffUser.shown_name)
        .outerjoin(StaffUser, StaffUser.id == ReferralUpdate.by_user_id)
        .where(ReferralUpdate.referral_id == referral.id)
        .order_by(ReferralUpdate.id)
    ).all()
    maker = session.get(StaffUser, referral.by_user_id) if referral.by_user_id else None
    made = HistoryEntry(
        referral.referred_at,
        maker.shown_name if maker else None,
        c.REFERRAL_MADE,
        None,
        None,
        referral.note,
    )
    return [
        made,
        *(HistoryEntry(u.at, who, u.status, u.reason, u.outcome, u.note) for u, who in rows),
    ]
