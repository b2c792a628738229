"""The counts on a prescriber's home page (SPEC §8), each by the query of the list it
links to, so a count and the list it opens can never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ..config import Settings
from ..core import constants as c
from . import calls
from .queue import (
    ASSIGNED_ME,
    ASSIGNED_NOBODY,
    STATUS_ANY,
    QueueFilters,
    Viewer,
    count_tasks,
)

URGENT_UNCLAIMED = QueueFilters(priority=c.PRIORITY_URGENT, assigned=ASSIGNED_NOBODY)
OVERDUE = QueueFilters(overdue=True)
MINE = QueueFilters(assigned=ASSIGNED_ME)
REFERRALS_OVERDUE = QueueFilters(referrals_overdue=True, status=STATUS_ANY)


@dataclass(frozen=True)
class HomeCounts:
    urgent_unclaimed: int
    overdue: int
    mine: int
    to_call: int
    clinic_today: int
    referrals_overdue: int


def home_counts(
    session: Session, viewer: Viewer, *, now: datetime, settings: Settings
) -> HomeCounts:
    return HomeCounts(
        urgent_unclaimed=count_tasks(session, URGENT_UNCLAIMED, viewer),
        overdue=count_tasks(session, OVERDUE, viewer),
        mine=count_tasks(session, MINE, viewer),
        to_call=calls.count_to_call(
            session,
            now=now,
            days_before=settings.to_call_days_before,
            unanswered_limit=settings.unable_to_contact_after,
        ),
        clinic_today=calls.count_to_see(session, viewer.today),
        referrals_overdue=count_tasks(session, REFERRALS_OVERDUE, viewer),
    )
