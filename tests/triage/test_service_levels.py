"""Due dates count working days: no weekends, no England and Wales bank holidays (SPEC §10)."""

from __future__ import annotations

from datetime import date, datetime

from screening.core.clock import LONDON
from screening.triage.service_levels import add_working_days, due_on, is_working_day

SLA = {"urgent": 1, "high": 3, "routine": 5}


def test_weekends_and_bank_holidays_are_not_working_days() -> None:
    assert is_working_day(date(2026, 12, 2))  # a Wednesday
    assert not is_working_day(date(2026, 12, 5))  # Saturday
    assert not is_working_day(date(2026, 12, 25))  # Christmas Day
    assert not is_working_day(date(2026, 12, 28))  # Boxing Day, observed on the Monday
    assert not is_working_day(date(2027, 3, 29))  # Easter Monday


def test_a_routine_task_created_on_a_monday_is_due_the_next_monday() -> None:
    assert add_working_days(date(2026, 11, 30), 5) == date(2026, 12, 7)


def test_an_urgent_task_from_christmas_eve_is_due_after_the_bank_holidays() -> None:
    created = datetime(2026, 12, 24, 16, 0, tzinfo=LONDON)
    # 25 Dec (Fri) and 28 Dec (Boxing Day observed) are holidays; the weekend between.
    assert due_on(created, "urgent", SLA) == date(2026, 12, 29)


def test_the_day_is_the_london_day_not_the_utc_one() -> None:
    # 00:30 on a summer Saturday in London is still Friday in UTC.
    created = datetime(2026, 7, 4, 0, 30, tzinfo=LONDON)
    assert due_on(created, "urgent", SLA) == date(2026, 7, 6)


def test_zero_days_means_due_the_same_day() -> None:
    assert add_working_days(date(2026, 12, 2), 0) == date(2026, 12, 2)
