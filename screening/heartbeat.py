"""The worker's heartbeat: when each host's worker last finished a run (SPEC §8's
`worker_last_run_at`). Wall-clock time, even under `send-due --now`: a monitor compares it
with its own clock."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import WorkerHeartbeat


def record_run(session: Session, host: str | None = None) -> None:
    """Note a finished run and commit it (the run's own work is already committed)."""
    host = host or socket.gethostname()
    at = datetime.now(UTC)
    beat = session.get(WorkerHeartbeat, host)
    if beat is None:
        session.add(WorkerHeartbeat(host=host, last_run_at=at))
    else:
        beat.last_run_at = at
    session.commit()


def last_run_at(session: Session) -> datetime | None:
    return session.scalar(select(func.max(WorkerHeartbeat.last_run_at)))
