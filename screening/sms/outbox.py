"""The outbox: a message is a row first, and is sent from a claimed row.

Claiming is one `UPDATE … RETURNING` statement. On PostgreSQL its candidate rows are
picked `FOR UPDATE SKIP LOCKED`, so any number of workers on any number of machines never
claim the same row; on SQLite a single write statement holds the database's write lock,
so one claimer at a time is safe. A message is sent only from `claimed`, and everything
that could make it wrong is checked again just before sending (`sending.Sender`).

A provider call takes a sizeable fraction of a second, so one sender manages only a few
messages a second (README, Benchmarks). With `concurrency` N a run keeps up to N calls in
flight: N threads, each a sender with its own session and connection claiming its own
small batches, the same persist-then-send guard in each. A configured
`sms_rate_per_second` holds across every thread of every worker of the database
(`pacing`).

The one window in which a message can go twice: Twilio accepted it, and the worker died
before committing `sent`. The row stays `claimed`; after `STALE_CLAIM` the sweeper puts it
back to `pending` and it is sent again. Twilio has no idempotency key, so this cannot be
closed, only kept small: each message is committed the moment Twilio answers (no batching
of the bookkeeping), so what a crash can double is what was in flight — at most N
messages. Claims are taken in small batches so a crash strands few rows (they wait for the
sweeper, and are not doubled: they never left). A timeout or 5xx after the request left is
the same window seen from the other side (`SmsError.maybe_sent`): the message is retried,
and may arrive twice.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import Engine, Select, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..core.db import make_engine
from ..models import OutboundMessage
from .client import SmsClient
from .pacing import Pace, Unpaced, pace_for
from .recording import sending_connection
from .sending import Dispatched, Sender

log = logging.getLogger(__name__)

CLAIM_BATCH = 50
STALE_CLAIM = timedelta(minutes=10)

__all__ = ["CLAIM_BATCH", "STALE_CLAIM", "Dispatched", "claim", "drain", "ready_to_claim"]


def drain(
    session: Session,
    config: Config,
    client: SmsClient,
    now: datetime,
    *,
    worker: str,
    concurrency: int = 1,
    stop: threading.Event | None = None,
) -> Dispatched:
    """Send every message that is ready at `now`, up to `concurrency` at a time.

    Setting `stop` (a worker told to shut down) ends the run after the messages in flight;
    the rest of each claimed batch is given back.
    """
    result = Dispatched(reclaimed=reclaim_stale(session, now))
    pace = pace_for(config.settings.sms_rate_per_second)
    stop = stop or threading.Event()
    try:
        if concurrency > 1 and _in_memory(session.get_bind()):
            # Each connection to an in-memory SQLite is a database of its own.
            concurrency = 1
        if concurrency <= 1:
            with sending_connection(session.get_bind()) as connection:
                sender = Sender(session, connection, config, client, now, pace)
                _send_claimed(sender, worker, CLAIM_BATCH, stop)
            result.add(sender.result)
        else:
            senders = _drain_in_threads(
                session, config, client, now, worker, concurrency, pace, stop
            )
            for outcome in senders:
                result.add(outcome)
    finally:
        # The common path writes with plain statements: objects the caller's session
        # holds (episodes it has just scheduled, say) must be read again before use.
        session.expire_all()
    return result


def _send_claimed(sender: Sender, worker: str, size: int, stop: threading.Event) -> None:
    """Claim batches of `size` and send them until none is left or the run stops."""
    while not stop.is_set():
        batch = claim(sender.session, worker=worker, now=sender.now, size=size)
        if not batch:
            return
        for position, message_id in enumerate(batch):
            try:
                going_on = not stop.is_set() and sender.send_one(message_id)
            except BaseException:
                # This message may have reached the provider: it stays claimed for the
                # sweeper. The rest of the batch never left, and goes back now.
                _give_back(sender.session, batch[position + 1 :])
                raise
            if not going_on:
                stop.set()  # a configuration refusal stops every thread of the run
                release(sender.session, batch[position:])
                return


def _give_back(session: Session, message_ids: list[int]) -> None:
    """Release after a failure, which is what the caller will see: if the database is
    what failed, the claims wait for the sweeper instead."""
    try:
        session.rollback()
        if message_ids:
            release(session, message_ids)
    except SQLAlchemyError as exc:
        log.warning("could not give back %d claims (%s)", len(message_ids), type(exc).__name__)


def _drain_in_threads(
    session: Session,
    config: Config,
    client: SmsClient,
    now: datetime,
    worker: str,
    concurrency: int,
    pace: Pace | Unpaced,
    stop: threading.Event,
) -> list[Dispatched]:
    """`concurrency` senders, each claiming its own share of a claim batch.

    They get an engine of their own: each holds a connection for its common path and may
    take a second for a rarer outcome, more than the web's pool should be asked for.
    """
    engine = _engine_for_senders(session.get_bind(), concurrency)
    size = max(1, CLAIM_BATCH // concurrency)
    # Senders start sending together, once every one is set up (its connection opened, its
    # client made, its clock set): set-up on one thread would delay another's paced call.
    set_up = threading.Barrier(concurrency)

    def one_sender() -> Dispatched:
        try:
            with (
                Session(engine, expire_on_commit=False) as own,
                sending_connection(engine) as connection,
            ):
                sender = Sender(own, connection, config, client, now, pace)
                set_up.wait()
                _send_claimed(sender, worker, size, stop)
                return sender.result
        except BaseException:
            stop.set()  # the others finish what is in flight and give the rest back
            set_up.abort()
            raise

    try:
        with ThreadPoolExecutor(concurrency, thread_name_prefix="outbox") as pool:
            # Each sender keeps the run's log context (its request id).
            futures = [
                pool.submit(contextvars.copy_context().run, one_sender) for _ in range(concurrency)
            ]
        return _outcomes(futures)
    finally:
        engine.dispose()


def _outcomes(futures: list[Future[Dispatched]]) -> list[Dispatched]:
    """Every sender's outcome; or, when any failed, the first failure that was not another
    sender's broken start is raised and the others are logged (by kind: no message, which
    could quote patient data)."""
    failures = [failure for f in futures if (failure := f.exception()) is not None]
    if not failures:
        return [future.result() for future in futures]
    causes = [f for f in failures if not isinstance(f, threading.BrokenBarrierError)]
    first = (causes or failures)[0]
    for other in causes:
        if other is not first:
            log.error("another sender of the run failed too: %s", type(other).__name__)
    raise first


def _in_memory(bind: Engine | object) -> bool:
    assert isinstance(bind, Engine)
    return bind.url.get_backend_name() == "sqlite" and bind.url.database in (None, "", ":memory:")


def _engine_for_senders(bind: Engine | object, concurrency: int) -> Engine:
    assert isinstance(bind, Engine)
    return make_engine(bind.url, pool_size=concurrency, max_overflow=concurrency)


def ready_to_claim(now: datetime, size: int) -> Select[tuple[int]]:
    """The next `size` messages that may go at `now`, oldest first."""
    return (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.status == c.MESSAGE_PENDING,
            OutboundMessage.due_at <= now,
            or_(OutboundMessage.next_attempt_at.is_(None), OutboundMessage.next_attempt_at <= now),
        )
        .order_by(OutboundMessage.id)
        .limit(size)
    )


def claim(session: Session, *, worker: str, now: datetime, size: int) -> list[int]:
    ready = ready_to_claim(now, size)
    if session.get_bind().dialect.name == "postgresql":
        # Computed once, as a materialised CTE. As `IN (subquery)` the planner may pick a
        # nested loop that runs the locking subquery again for every outer row, each run
        # skipping what the last one locked, so one claim took every pending row.
        picked = ready.with_for_update(skip_locked=True).cte("ready").prefix_with("MATERIALIZED")
        candidates = select(picked.c.id)
    else:
        candidates = ready
    claimed = session.scalars(
        update(OutboundMessage)
        .where(
            OutboundMessage.id.in_(candidates.scalar_subquery()),
            # Re-checked after any lock wait, so a row can only be claimed from pending.
            OutboundMessage.status == c.MESSAGE_PENDING,
        )
        .values(status=c.MESSAGE_CLAIMED, claimed_by=worker, claimed_at=now)
        .returning(OutboundMessage.id)
    ).all()
    session.commit()
    return sorted(claimed)


def release(session: Session, message_ids: list[int]) -> None:
    """Give claimed rows back untouched (the run is stopping)."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(message_ids), OutboundMessage.status == c.MESSAGE_CLAIMED)
        .values(status=c.MESSAGE_PENDING, claimed_by=None, claimed_at=None)
    )
    session.commit()


def reclaim_stale(session: Session, now: datetime) -> int:
    """Claims older than STALE_CLAIM belong to a dead worker: make them pending again."""
    stale = session.scalars(
        update(OutboundMessage)
        .where(
            OutboundMessage.status == c.MESSAGE_CLAIMED,
            OutboundMessage.claimed_at < now - STALE_CLAIM,
        )
        .values(status=c.MESSAGE_PENDING, claimed_by=None, claimed_at=None)
        .returning(OutboundMessage.id)
    ).all()
    session.commit()
    if stale:
        log.warning("reclaimed %d messages claimed by a worker that stopped", len(stale))
    return len(stale)
