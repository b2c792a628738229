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

import functools
import threading
import time
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    Float,
    Select,
    Table,
    Update,
    bindparam,
    cast,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import ReturningUpdate
from sqlalchemy.sql.elements import ColumnElement

from ..models import SmsPace

# Slots go at this share of the cap; bench/dispatch.py measures what reaches the provider.
HEADROOM = 0.95
# After the provider says "too many requests", every worker waits this long before the
# next message: its window is a second long, and it has processed none of the refused.
RATE_LIMITED_PAUSE_SECONDS = 1.0
PACE_NAME = "sms"
# Spaced at HEADROOM of the cap, a second can take arrivals spread over 1/HEADROOM - 1 of a
# second before it holds one too many, whatever the cap: a sender woken later than this
# takes a new slot, leaving room for the call's own jitter after it.
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
            database_now = connection.execute(_statements(connection).clock).scalar_one()
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
        values = {"pace_name": self.name, "seconds": seconds}
        connection.execute(_statements(connection).hold, values)
        connection.commit()

    def _take_slot(self, connection: Connection) -> float:
        """The moment of the slot taken, by the database's clock."""
        values = {"pace_name": self.name, "spacing": self.spacing}
        for _ in range(2):
            row = connection.execute(_statements(connection).slot, values).one_or_none()
            connection.commit()
            if row is not None:
                return float(row[0])
            self._create(connection)
        raise RuntimeError("the SMS pace row could not be created")

    def _create(self, connection: Connection) -> None:
        """The row, the first time any worker of this database paces (an upsert: two
        workers may start together)."""
        dialect = connection.dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        connection.execute(
            insert(PACE).values(name=self.name, next_slot=0.0).on_conflict_do_nothing()
        )
        connection.commit()


class Unpaced:
    """No cap set: messages go as fast as the provider answers. After a 429 there is no
    shared pace to push back, so the senders of this run (threads of one process) hold
    back together instead. The same calls as `Pace`, so senders need not tell them apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0  # time.monotonic()

    def clock_offset(self, connection: Connection) -> float:
        return 0.0  # no slots, so no clock to set against the database's

    def wait_for_slot(self, connection: Connection, clock_offset: float) -> None:
        delay = self._until - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def hold_back(
        self, connection: Connection, seconds: float = RATE_LIMITED_PAUSE_SECONDS
    ) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)


def pace_for(rate_per_second: float | None) -> Pace | Unpaced:
    """The pace for a configured cap; without one, as fast as the provider answers. One
    per run: its senders share it."""
    return Pace(rate_per_second) if rate_per_second else Unpaced()


@dataclass(frozen=True)
class _Statements:
    clock: Select[tuple[float]]
    slot: ReturningUpdate[tuple[float]]
    hold: Update


@functools.cache
def _for_dialect(dialect: str) -> _Statements:
    """The pace's statements, built once: taking a slot is on every paced message's path."""
    if dialect == "postgresql":
        clock: ColumnElement[float] = cast(func.extract("epoch", func.clock_timestamp()), Float)
        greatest = func.greatest
    else:
        # SQLite: julianday('now') is milliseconds-exact, enough for slots 10 ms apart; its
        # two-argument max() is its GREATEST.
        clock = (func.julianday("now") - 2440587.5) * 86400.0
        greatest = func.max
    spacing = bindparam("spacing", type_=Float)
    # No parameter is named after a column: SQLAlchemy would take it as a value to set.
    this_pace = update(PACE).where(PACE.c.name == bindparam("pace_name"))
    return _Statements(
        # Seconds since the epoch by the database server's clock (the statement's own
        # moment, not its transaction's).
        clock=select(clock),
        # RETURNING sees the new value: the slot taken is one spacing before it.
        slot=this_pace.values(next_slot=greatest(PACE.c.next_slot, clock) + spacing).returning(
            PACE.c.next_slot - spacing
        ),
        hold=this_pace.values(
            next_slot=greatest(PACE.c.next_slot, clock + bindparam("seconds", type_=Float))
        ),
    )


def _statements(connection: Connection) -> _Statements:
    return _for_dialect(connection.dialect.name)
