"""The worker's heartbeat: when each host's worker last finished a run (SPEC §8's
`worker_last_run_at`). Wall-clock time, even under `send-due --now`: a monitor compares it
with its own clock."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..models import WorkerHeartbeat


def record_run(session: Session, host: str | None = None) -> None:
    """Note a finished run and commit it (the run's own work is already committed).

    One statement, an upsert: two workers on one host finish runs at the same moment, and
    a read-then-insert would have both insert.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    beat = insert(WorkerHeartbeat).values(
        host=host or socket.gethostname(), last_run_at=datetime.now(UTC)
    )
    session.execute(
        beat.on_conflict_do_update(
            index_elements=[WorkerHeartbeat.host],
            set_={"last_run_at": beat.excluded.last_run_at},
        )
    )
    session.commit()


def last_run_at(session: Session) -> datetime | None:
    return session.scalar(select(func.max(WorkerHeartbeat.last_run_at)))
