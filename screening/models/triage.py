"""The social prescriber's work: tasks, contact attempts, sessions, referrals, notes,
letters to GP practices, and the mail outbox."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
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
    # The service's answer (SPEC §13): why it declined, what came of it once completed, and
    # when each status was first reached (the report counts those ever reached, and the
    # working days to the first answer).
    reason: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the chaser reminded the service (once) that this referral waits for an answer.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    task: Mapped[TriageTask] = relationship(back_populates="referrals")
    updates: Mapped[list[ReferralUpdate]] = relationship(order_by="ReferralUpdate.id")

    __table_args__ = (
        CheckConstraint(one_of("status", c.REFERRAL_STATUSES), name="status_known"),
        CheckConstraint(
            f"reason IS NULL OR {one_of('reason', c.DECLINE_REASONS)}", name="reason_known"
        ),
        CheckConstraint(
            f"outcome IS NULL OR {one_of('outcome', c.REFERRAL_OUTCOMES)}", name="outcome_known"
        ),
        # Referrals still waiting for an answer, oldest first, and their tasks: the chaser,
        # the home page's count and its list read this index alone.
        Index("ix_referrals_status", "status", "referred_at", "task_id"),
        Index("ix_referrals_service", "service_id", "status"),
    )


class ReferralUpdate(Base):
    """A change of a referral's status (SPEC §13), by its service's partner or by a
    prescriber the service told by phone: the referral's history, with the note given."""

    __tablename__ = "referral_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    # Free text: blanked by the retention purge.
    note: Mapped[str | None] = mapped_column(Text)

    by: Mapped[StaffUser | None] = relationship()

    __table_args__ = (CheckConstraint(one_of("status", c.REFERRAL_STATUSES), name="status_known"),)


class TaskNote(Base):
    __tablename__ = "task_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    text: Mapped[str] = mapped_column(Text)


class Mail(Timestamped, Base):
    """The mail outbox (SPEC §10, §13): the urgent alert, a service's referral notice and
    its reminder, and the letter to a GP practice.

    Queued in the transaction of what caused it, sent by the worker: a mail server that is
    down never fails or slows a patient's submission or a prescriber's action, and a mail
    is retried until it goes. Only the letter carries patient detail, as an attachment to
    the practice's secure mailbox; the others carry a link that needs a sign-in.
    """

    __tablename__ = "mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("gp_letters.id"), index=True)
    # Where it goes; none for the urgent alert, which goes to the mailbox set at send time.
    to_address: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(12), default=c.MAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The kind of failure (an exception's class, an SMTP code): never the message text.
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(one_of("status", c.MAIL_STATUSES), name="status_known"),
        CheckConstraint(one_of("kind", c.MAIL_KINDS), name="kind_known"),
        Index("ix_mails_status", "status", "next_attempt_at"),
    )


class GpLetter(Base):
    """The message back to the patient's GP practice when a task closes (SPEC §13): the
    PDF as made then, so what was mailed or downloaded can be shown again as it was."""

    __tablename__ = "gp_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("triage_tasks.id"), index=True)
    practice_code: Mapped[str | None] = mapped_column(String(10))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The task's outcome and its referrals' statuses when made: a later closing mails a
    # new letter only when this changes.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Blanked by the retention purge with the patient's other details.
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
