"""Sending at the provider's allowance: one pace for every worker of one database.

A sender has an allowance (a UK short code about 100 messages a second, a long code far
fewer); above it Twilio queues the excess or refuses it with 429 (error 20429). The cap,
`sms_rate_per_second`, must hold however many workers run on however many machines, so the
pace lives in the database they all share: one row holding the moment the next message may
leave. It is a token bucket that holds a single token (the "virtual scheduling" form): a
sender takes the next slot with one `UPDATE … RETURNING`, which moves the row on by one
spacing and returns the slot's moment. The row lock puts takers in order, and slots are
moments by the database's clock, which each sender sets its own against at the start of
a run, so workers on machines whose clocks disagree still keep the spacing. No burst is
allowed: an idle pace starts again from now.

The provider counts arrivals, not slots. A message that leaves a few milliseconds late (a
busy interpreter, the network) lands in the next second beside that second's full share,
so slots are spaced for a little under the cap (`HEADROOM`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Float, Table, bindparam, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from ..models import SmsPace

# Slots go at this share of the cap; bench/dispatch.py measures what reaches the provider.
HEADROOM = 0.95
# After the provider says "too many requests", every worker waits this long before the
# next message: its window is a second long, and it has processed none of the refused.
RATE_LIMITED_PAUSE_SECONDS = 1.0
PACE_NAME = "sms"
# Spaced at HEADROOM of the cap, a second can take arrivals spread over 1/HEADROOM - 1 of a
# second (53 ms) before it holds one too many, whatever the cap: a sender woken later than
# this takes a new slot, leaving room for the call's own jitter after it.
LATE_TOLERANCE_SECONDS = 0.015

PACE: Table = SmsPace.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Pace:
    """The shared pace for `rate_per_second` messages; safe to share between threads (it
    holds no state of its own: each call works on the caller's connection)."""

    rate_per_second: float
    name: str = PACE_NAME

    @property
    def spacing(self) -> float:
        return 1.0 / (self.rate_per_second * HEADROOM)

    def clock_offset(self, connection: Connection) -> float:
        """The database's clock minus this machine's, in seconds, from the quickest of a few
        round trips (its error is at most half of that one's)."""
        readings = []
        for _ in range(3):
            before = time.time()
            database_now = connection.execute(select(_database_clock(connection))).scalar_one()
            connection.commit()
            after = time.time()
            readings.append((after - before, float(database_now) - (before + after) / 2))
        return min(readings)[1]

    def wait_for_slot(self, connection: Connection, clock_offset: float) -> None:
        """Take the next slot and sleep until it comes (`clock_offset` from `clock_offset`).

        A sender that wakes too late (a busy processor, a reply read late) gives its slot up
        and takes the next free one: sent late, it would arrive among the messages of the
        slots after its own. Lateness is measured against the slot itself, by the two
        clocks set against each other, so time spent reading the slot's reply counts too.
        """
        while True:
            due = self._take_slot(connection) - clock_offset  # on this machine's clock
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() - due <= LATE_TOLERANCE_SECONDS:
                return

    def hold_back(
        self, connection: Connection, seconds: float = RATE_LIMITED_PAUSE_SECONDS
    ) -> None:
        """The provider refused for rate: no worker sends again for `seconds`."""
        clock = _database_clock(connection)
        greatest = _greatest(connection)
        connection.execute(
            update(PACE)
            .where(PACE.c.name == self.name)
            .values(next_slot=greatest(PACE.c.next_slot, clock + literal(seconds, Float)))
        )
        connection.commit()

    def _take_slot(self, connection: Connection) -> float:
        """The moment of the slot taken, by the database's clock."""
        for _ in range(2):
            taken = connection.execute(self._slot_statement(connection), {"spacing": self.spacing})
            row = taken.one_or_none()
            connection.commit()
            if row is not None:
                return float(row[0])
            self._create(connection)
        raise RuntimeError("the SMS pace row could not be created")

    def _slot_statement(self, connection: Connection):  # type: ignore[no-untyped-def]
        clock = _database_clock(connection)
        spacing = bindparam("spacing", type_=Float)
        following = _greatest(connection)(PACE.c.next_slot, clock) + spacing
        # RETURNING sees the new value: the slot taken is one spacing before it.
        return (
            update(PACE)
            .where(PACE.c.name == self.name)
            .values(next_slot=following)
            .returning(PACE.c.next_slot - spacing)
        )

    def _create(self, connection: Connection) -> None:
        """The row, the first time any worker of this database paces (an upsert: two
        workers may start together)."""
        dialect = connection.dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        connection.execute(
            insert(PACE).values(name=self.name, next_slot=0.0).on_conflict_do_nothing()
        )
        connection.commit()


class LocalHold:
    """A worker with no cap set has no shared pace to push back after a 429: its own
    senders hold back together instead (threads of one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0  # time.monotonic()

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> None:
        delay = self._until - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def pace_for(rate_per_second: float | None) -> Pace | None:
    """The pace for a configured cap; None (send as fast as the provider answers) without."""
    return Pace(rate_per_second) if rate_per_second else None


def _database_clock(connection: Connection) -> ColumnElement[float]:
    """Seconds since the epoch by the database server's clock, to the microsecond (the
    statement's own moment, not its transaction's)."""
    if connection.dialect.name == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    # SQLite: julianday('now') is milliseconds-exact, enough for slots 10 ms apart.
    return (func.julianday("now") - 2440587.5) * 86400.0


def _greatest(connection: Connection):  # type: ignore[no-untyped-def]
    # SQLite's two-argument max() is its GREATEST.
    return func.greatest if connection.dialect.name == "postgresql" else func.max
