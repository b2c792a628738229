"""The one source of "now".

Everything that decides or records a time calls `now()`, so `screening send-due --now`
and tests can move the clock while taking the same code path as a real run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def as_aware(value: datetime) -> datetime:
    """Naive times in this service mean Europe/London (SPEC §4, §5)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(UTC)


@contextlib.contextmanager
def frozen_at(moment: datetime) -> Iterator[datetime]:
    """Replace the clock inside the block (for `--now` and for tests)."""
    global _frozen
    previous, _frozen = _frozen, as_aware(moment)
    try:
        yield _frozen
    finally:
        _frozen = previous
