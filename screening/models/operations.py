"""Running the service: workers' heartbeats and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..core import clock
from ..core.db import Base, UTCDateTime


class WorkerHeartbeat(Base):
    """When the worker on each host last finished a run: `/healthz` reports the newest, so
    a monitor sees texts stop going out although the web pages still answer."""

    __tablename__ = "worker_heartbeats"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who did what to which record. `detail` carries codes and ids, never patient data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    action: Mapped[str] = mapped_column(String(40))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(100))
    # The patient the event concerns, if any, so the audit trail filters by patient.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # A task's timeline reads its events by subject.
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)
