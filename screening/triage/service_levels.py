"""Service levels (SPEC §10): a task is due a number of working days after its creation.

Working days leave out weekends and England and Wales bank holidays, from the maintained
`holidays` package (gov.uk's list, including substitute days), not a hand-kept list.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

import holidays

from ..core import clock


@functools.cache
def _bank_holidays(year: int) -> frozenset[date]:
    # England and Wales share one list; the package calls the subdivision "ENG".
    return frozenset(holidays.UK(subdiv="ENG", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The day `days` working days after `start` (`start` itself when days is 0)."""
    day = start
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def due_on(created_at: datetime, priority: str, sla_working_days: Mapping[str, int]) -> date:
    """The service-level date of a task created at `created_at` (London calendar days)."""
    created = created_at.astimezone(clock.LONDON).date()
    return add_working_days(created, sla_working_days[priority])


def today() -> date:
    return clock.now().astimezone(clock.LONDON).date()


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end`: 0 on the same day, 1 on the
    next working day (a Friday to the Monday after is 1)."""
    if end <= start:
        return 0
    return sum(is_working_day(start + timedelta(days=n)) for n in range(1, (end - start).days + 1))


def made_before_is_overdue(today: date, working_days: int) -> datetime:
    """The moment (UTC) before which something made is `working_days` working days old
    `today`, so overdue: a referral still waiting for its service's answer (SPEC §13).
    One cut-off for every row, so the check is a range on an index, not a date per row."""
    day = today
    while add_working_days(day, working_days) > today:
        day -= timedelta(days=1)
    # `day` is the last London day whose referrals are overdue today.
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=clock.LONDON).astimezone(UTC)
