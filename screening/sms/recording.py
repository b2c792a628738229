"""Recording a message the provider accepted: the outbox's common path, in plain statements.

At thousands of messages a minute the unit of work's own costs would be most of the run,
and on PostgreSQL so would the round trips: the run holds one connection (no pool ping
per message), in autocommit, and records each message in one statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, Connection, Engine, bindparam, case, func, select, update

from ..core import constants as c
from ..core.db import UTCDateTime
from ..models import Episode, OutboundMessage


@dataclass(frozen=True)
class Sent:
    """A message the provider accepted, to be recorded."""

    message_id: int
    episode_id: int
    invite: bool
    provider_sid: str
    provider_status: str
    at: datetime


@contextmanager
def sending_connection(bind: Engine) -> Iterator[Connection]:
    """A connection held for a whole run of the outbox's common path.

    The session hands its connection back to the pool at every commit, and taking one out
    again costs a round trip (the pool's liveness ping) on PostgreSQL. There, each
    statement is also a transaction of its own (autocommit): a read is one round trip, not
    three with BEGIN and COMMIT, and recording a sent message is one statement
    (`_RECORD_SENT`), atomic without them. SQLite keeps explicit transactions: its two
    recording statements must commit together, and it has no round trips to save.
    """
    with bind.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


# --- the statements ---------------------------------------------------------------------------

MESSAGES, EPISODES = OutboundMessage.__table__, Episode.__table__
_INVITE = bindparam("invite", type_=Boolean)
_DELIVERED = bindparam("delivered", type_=Boolean)
# Typed: inside coalesce() it would be untyped, and reach SQLite unconverted, in another
# text format than every other stored moment (which comparisons depend on).
_NOW = bindparam("now", type_=UTCDateTime())
_SENT = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("message_id"))
    .values(
        attempts=MESSAGES.c.attempts + 1,
        provider_sid=bindparam("sid"),
        sent_at=_NOW,
        claimed_by=None,
        status=bindparam("sent_status"),
        final_at=bindparam("sent_final_at"),
    )
)
# The episode's side: an invitation makes it `invited`; a message the provider reports
# delivered at once stamps `delivered_at`. First moments are kept.
_EPISODE_SENT = {
    "invited_at": case(
        (_INVITE, func.coalesce(EPISODES.c.invited_at, _NOW)), else_=EPISODES.c.invited_at
    ),
    "status": case(
        (_INVITE & (EPISODES.c.status == c.EPISODE_SCHEDULED), c.EPISODE_INVITED),
        else_=EPISODES.c.status,
    ),
    "delivered_at": case(
        (_DELIVERED, func.coalesce(EPISODES.c.delivered_at, _NOW)),
        else_=EPISODES.c.delivered_at,
    ),
}
# PostgreSQL: both in one statement, the message's update as a CTE.
_SENT_FIRST = _SENT.returning(MESSAGES.c.episode_id).cte("sent")
_RECORD_SENT = (
    update(EPISODES)
    .where(EPISODES.c.id.in_(select(_SENT_FIRST.c.episode_id)))
    .values(_EPISODE_SENT)
)
# SQLite, which has no UPDATE in a CTE: two statements, committed together.
_EPISODE_SENT_BY_ID = (
    update(EPISODES).where(EPISODES.c.id == bindparam("sent_episode")).values(_EPISODE_SENT)
)


def record_sent(connection: Connection, sent: Sent) -> None:
    """Record a message the provider accepted, and commit."""
    final = sent.provider_status in c.FINAL_MESSAGE_STATUSES
    # No name here is a column's: SQLAlchemy would take it as a value to set.
    values = {
        "message_id": sent.message_id,
        "sent_episode": sent.episode_id,
        "sid": sent.provider_sid,
        "now": sent.at,
        "sent_status": sent.provider_status if final else c.MESSAGE_SENT,
        "sent_final_at": sent.at if final else None,
        "invite": sent.invite,
        "delivered": sent.provider_status == c.MESSAGE_DELIVERED,
    }
    if connection.dialect.name == "postgresql":
        connection.execute(_RECORD_SENT, values)
    else:
        connection.execute(_SENT, values)
        connection.execute(_EPISODE_SENT_BY_ID, values)
    connection.commit()
