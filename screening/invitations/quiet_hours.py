"""Quiet hours (SPEC §6): nothing is due inside them, and nothing is sent inside them; the
schedule and the outbox both ask here."""

from __future__ import annotations

from datetime import datetime, time

from ..core import clock


def quiet_window(quiet_hours: str) -> tuple[time, time]:
    start, end = quiet_hours.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def in_quiet_hours(moment: datetime, quiet_hours: str) -> bool:
    start, end = quiet_window(quiet_hours)
    local = moment.astimezone(clock.LONDON).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight
