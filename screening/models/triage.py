"""The social prescriber's work: tasks, contact attempts, sessions, referrals, notes,
and the urgent alert's mail."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core import clock
from ..core import constants as c
from ..core.db import Base, UTCDateTime
from .base import Timestamped, one_of

if TYPE_CHECKING:
    from .answers import Response
    from .episodes import Episode
    from .staff import StaffUser


class TriageTask(Timestamped, Base):
    __tablename__ = "triage_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id"))
    status: Mapped[str] = mapped_column(String(12), default=c.TASK_OPEN)
    priority: Mapped[str] = mapped_column(String(10), default=c.PRIORITY_ROUTINE)
    # The episode's clinic, copied when the task is made: the queue filters and counts by
    # clinic from the task's own index, without reading an episode per task.
    clinic_code: Mapped[str | None] = mapped_column(String(40))
    # Its flags' domains between spaces, in the order raised (" financial food "), copied
    # likewise: the domain filter and its counts read them from the same index.
    domains: Mapped[str | None] = mapped_column(String(400))
    assigned_to_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    outcome: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Bumped by every change of status or holder. A form carries the version it was drawn
    # from, so an action on a task a colleague has changed since is refused, not applied
    # over their change; a claim is one conditional UPDATE on it.
    version: Mapped[int] = mapped_column(Integer, default=1)

    episode: Mapped[Episode] = relationship(foreign_keys=[episode_id])
    response: Mapped[Response | None] = relationship()
    assigned_to: Mapped[StaffUser | None] = relationship(foreign_keys=[assigned_to_user_id])
    contact_attempts: Mapped[list[ContactAttempt]] = relationship(
        back_populates="task", order_by="ContactAttempt.id"
    )
    referrals: Mapped[list[Referral]] = relationship(back_populates="task", order_by="Referral.id")

    __table_args__ = (
        CheckConstraint(one_of("status", c.TASK_STATUSES), name="status_known"),
        CheckConstraint(one_of("priority", c.PRIORITIES), name="priority_known"),
        CheckConstraint(
            f"outcome IS NULL OR {one_of('outcome', c.TASK_OUTCOMES)}", name="outcome_known"
        ),
        # Covers the queue: its order, and every filter and count but the appointment date.
        Index(
            "ix_triage_tasks_queue",
            "status",
            "priority",
            "created_at",
            "id",
            "clinic_code",
            "assigned_to_user_id",
            "domains",
        ),
        Index("ix_triage_tasks_holder", "assigned_to_user_id", "status"),
        # The funnel's tasks by outcome, in GROUP BY order.
        Index("ix_triage_tasks_outcome", "status", "outcome", "episode_id"),
    )


class ContactAttempt(Base):
    """A call, visit, text or letter to a patient: about a task, or from the to-call list
    (an episode with no task yet), so both lists share one history per episode."""

    __tablename__ = "contact_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    method: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)

    task: Mapped[TriageTask | None] = relationship(back_populates="contact_attempts")

    __table_args__ = (
        CheckConstraint(one_of("outcome", c.CONTACT_OUTCOMES), name="outcome_known"),
        CheckConstraint(one_of("method", c.CONTACT_METHODS), name="method_known"),
    )


class SupportSession(Base):
    """A session with the social prescriber (an outcome the Barts plan counts)."""

    __tablename__ = "support_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    minutes: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class Referral(Base):
    """An onward referral to a service in `config/services.yaml` (or `other`, named)."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    service_id: Mapped[str] = mapped_column(String(100))
    # For `other`; for a directory service, its name when referred (directories change).
    service_name: Mapped[str | None] = mapped_column(String(200))
    # A referral back to the patient's GP practice (PCN) social prescriber (SPEC §6).
    to_pcn: Mapped[bool] = mapped_column(Boolean, default=False)
    domain: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default=c.REFERRAL_MADE)
    referred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    task: Mapped[TriageTask] = relationship(back_populates="referrals")

    __table_args__ = (CheckConstraint(one_of("status", c.REFERRAL_STATUSES), name="status_known"),)


class TaskNote(Base):
    __tablename__ = "task_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    text: Mapped[str] = mapped_column(Text)


class AlertMail(Timestamped, Base):
    """A mail to the shared mailbox that an urgent task is waiting (SPEC §10).

    Queued in the patient's submission, sent by the worker: a mail server that is down
    never fails or slows a submission, and the alert is retried until it goes. It carries
    no patient detail, only the task's link.
    """

    __tablename__ = "alert_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=c.MAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The kind of failure (an exception's class, an SMTP code): never the message text.
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(one_of("status", c.MAIL_STATUSES), name="status_known"),
        Index("ix_alert_mails_status", "status", "next_attempt_at"),
    )
